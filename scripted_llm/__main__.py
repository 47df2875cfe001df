"""``python -m scripted_llm --host 127.0.0.1 --port 8765 [--script file.json]``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aiohttp import web

from core import logs
from scripted_llm.script import Script, ScriptState
from scripted_llm.server import create_app


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="scripted_llm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--script", type=Path, help="JSON file shaped like POST /_script")
    args = parser.parse_args(argv)
    logs.setup(logging.INFO, "%(asctime)s %(name)s %(message)s")
    state = ScriptState()
    if args.script is not None:
        state.apply(Script.model_validate_json(args.script.read_text()))
    web.run_app(create_app(state), host=args.host, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
