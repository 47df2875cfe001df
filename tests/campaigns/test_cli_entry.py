"""`callcenter campaigns …` reaches the campaign CLI, its own options included."""

from __future__ import annotations

import pytest

from cli.__main__ import main


def test_callcenter_campaigns_hands_every_argument_to_the_campaign_cli(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["campaigns", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "{create,show,pause,resume,cancel}" in out and "--do-not-call" in out
