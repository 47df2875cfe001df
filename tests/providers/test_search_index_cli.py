"""`callcenter index-docs` entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.index_docs import main


def test_index_docs_main_indexes_then_reports_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "claims.md").write_text("# Claims\n\nDeclare within 5 days.\n", encoding="utf-8")
    (folder / "glass.txt").write_text("Windscreen repair without excess.\n", encoding="utf-8")
    db = tmp_path / "var" / "search.sqlite3"

    assert main([str(folder), "--db", str(db)]) == 0
    assert "added=2 updated=0 unchanged=0 removed=0" in capsys.readouterr().out
    assert db.is_file()

    assert main([str(folder), "--db", str(db)]) == 0
    assert "added=0 updated=0 unchanged=2 removed=0" in capsys.readouterr().out


def test_index_docs_main_rejects_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "nope"), "--db", str(tmp_path / "db.sqlite3")]) == 2
    assert "not a folder" in capsys.readouterr().err
