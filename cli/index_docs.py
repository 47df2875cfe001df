"""`callcenter index-docs`: (re)build the embedded document search index from a folder."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from providers.search.sqlite_fts import IndexReport, SqliteFtsSearch

DEFAULT_DB = Path("var/search.sqlite3")


async def index_docs(folder: Path, db_path: Path) -> IndexReport:
    """Syncs the SQLite index at `db_path` with the documents under `folder`."""
    search = SqliteFtsSearch(db_path)
    try:
        return await search.index_folder(folder)
    finally:
        await search.close()


def main(argv: list[str] | None = None) -> int:
    """Runs the command; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="callcenter index-docs",
        description="Index .md, .txt and .html files for the search_document tool.",
    )
    parser.add_argument("folder", type=Path, help="folder to index (recursive)")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"default: {DEFAULT_DB}")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: not a folder: {args.folder}", file=sys.stderr)
        return 2
    report = asyncio.run(index_docs(args.folder, args.db))
    print(f"Indexed {args.folder} into {args.db}: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
