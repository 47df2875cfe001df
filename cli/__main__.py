"""`callcenter <command>`: run the processes and talk to them."""

from __future__ import annotations

import argparse
import asyncio
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["campaigns"]:
        from cli.campaigns import main as campaigns_main

        return campaigns_main(argv[1:])
    parser = argparse.ArgumentParser(prog="callcenter", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("worker", help="run a Temporal worker (workflows + activities)")
    sub.add_parser("api", help="serve the HTTP API")
    dev = sub.add_parser("dev", help="Temporal dev server + Redis + worker + API, Ctrl-C stops")
    dev.add_argument("--scripted-llm", action="store_true", help="also start the scripted LLM")
    dev.add_argument("--emulator", action="store_true", help="phone calls through the ACS emulator")
    demo = sub.add_parser("demo", help="start everything offline and place one spoken demo call")
    demo.add_argument(
        "--scripted-llm", action="store_true", help="a scripted LLM instead of llama.cpp (fast)"
    )
    demo.add_argument("--emulator-port", type=int, default=8100)
    demo.add_argument("--llm-port", type=int, default=8766)
    chat_cmd = sub.add_parser("chat", help="hold a text conversation with a new call")
    chat_cmd.add_argument("--api", default=None, help="API base URL (default: from settings)")
    chat_cmd.add_argument("--phone-number", default="+33612345678")
    chat_cmd.add_argument("--api-key", default=None)
    flags_cmd = sub.add_parser("flags", help="show or change feature flags at run time")
    flags_cmd.add_argument("action", choices=["show", "set", "unset"])
    flags_cmd.add_argument("name", nargs="?")
    flags_cmd.add_argument("value", nargs="?")
    calls_cmd = sub.add_parser("calls", help="a phone number's calls in Temporal (by its hash)")
    calls_cmd.add_argument("number")
    campaigns = sub.add_parser(
        "campaigns",
        help="create, show, pause, resume or cancel an outbound campaign",
        add_help=False,
    )
    campaigns.add_argument("rest", nargs=argparse.REMAINDER)
    index = sub.add_parser("index-docs", help="index a folder of documents for search")
    index.add_argument("folder", nargs="?", default=None)
    index.add_argument("--db", default=None)
    args = parser.parse_args(argv)

    if args.command == "worker":
        import worker

        worker.main()
    elif args.command == "api":
        from api.main import main as api_main

        api_main()
    elif args.command == "dev":
        from cli.dev import run_dev

        return run_dev(scripted_llm=args.scripted_llm, emulator=args.emulator)
    elif args.command == "demo":
        from cli.demo import DemoPorts, run_demo

        ports = DemoPorts(emulator=args.emulator_port, llm=args.llm_port)
        return run_demo(scripted_llm=args.scripted_llm, ports=ports)
    elif args.command == "chat":
        from cli.chat import chat

        return asyncio.run(chat(args.api, args.phone_number, args.api_key))
    elif args.command == "flags":
        from cli.flags import flags_command

        return asyncio.run(flags_command(args.action, args.name, args.value))
    elif args.command == "calls":
        from cli.calls import calls_command

        return asyncio.run(calls_command(args.number))
    elif args.command == "index-docs":
        from cli.index_docs import main as index_main
        from core.settings import get_settings

        search = get_settings().search
        return index_main(
            [
                args.folder or str(search.documents_folder),
                "--db",
                args.db or str(search.sqlite_path),
            ]
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
