"""The prospectpro command: one entry point for every part of the system."""

from __future__ import annotations

import argparse
import logging
import os
import signal


def _database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="libpq URL of the ProspectPro database (env DATABASE_URL)",
    )


def _require(args: argparse.Namespace, parser: argparse.ArgumentParser, name: str) -> None:
    if not getattr(args, name):
        parser.error(f"--{name.replace('_', '-')} (or its environment variable) is required")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prospectpro", description="ProspectPro: database events as reliable webhooks."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    worker = commands.add_parser(
        "worker", help="run delivery rounds when events are committed or retries fall due"
    )
    _database_url(worker)
    worker.add_argument("--batch", type=int, default=100, help="events per round (default 100)")
    worker.add_argument(
        "--idle", type=float, default=1.0, help="longest sleep between rounds, in seconds"
    )
    worker.add_argument(
        "--gather",
        type=float,
        default=5.0,
        help="while events keep coming, least time between the starts of two rounds, in ms"
        " (default 5)",
    )
    serve = commands.add_parser(
        "serve", help="run the receiver (the webhook endpoints, /health and /metrics)"
    )
    _database_url(serve)
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", 3000)))
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument(
        "--metrics-database-url",
        default=os.environ.get("METRICS_DATABASE_URL"),
        help="libpq URL /metrics reads from, such as a hot standby's"
        " (env METRICS_DATABASE_URL; default: --database-url)",
    )
    selftest = commands.add_parser(
        "selftest", help="the end-to-end check of a live deployment (10 checks)"
    )
    _database_url(selftest)
    selftest.add_argument(
        "--base-url",
        default=os.environ.get("WEBHOOK_BASE_URL"),
        help="the receiver's base URL (env WEBHOOK_BASE_URL)",
    )
    selftest.add_argument(
        "--token",
        default=os.environ.get("WEBHOOK_AUTH_TOKEN") or os.environ.get("PERSONAL_ACCESS_TOKEN"),
        help="bearer token (env WEBHOOK_AUTH_TOKEN, else PERSONAL_ACCESS_TOKEN)",
    )
    selftest.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for each delivery"
    )

    status = commands.add_parser("status", help="show the campaign dashboard as a table")
    _database_url(status)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "worker":
        _require(args, parser, "database_url")
        from . import worker

        return worker.run(args.database_url, args.batch, args.idle, args.gather / 1000)
    if args.command == "selftest":
        for name in ("database_url", "base_url", "token"):
            _require(args, parser, name)
        from . import selftest

        return selftest.run(args.base_url, args.database_url, args.token, args.timeout)
    if args.command == "status":
        _require(args, parser, "database_url")
        from . import status

        return status.run(args.database_url)
    if args.command == "serve":
        _require(args, parser, "database_url")
        import psycopg
        import uvicorn
        from psycopg.conninfo import conninfo_to_dict

        # uvicorn shuts down gracefully on SIGTERM, then raises it again to die
        # of it; this handler takes that second one, so serve exits 0, as the
        # worker does.
        signal.signal(signal.SIGTERM, lambda *_: None)
        os.environ["DATABASE_URL"] = args.database_url
        if args.metrics_database_url:
            try:
                conninfo_to_dict(args.metrics_database_url)
            except psycopg.ProgrammingError as exc:
                parser.error(
                    f"--metrics-database-url: {str(exc).strip()}; give a libpq URL or"
                    " key=value string, e.g. postgresql://reader@replica/prospectpro"
                )
            os.environ["METRICS_DATABASE_URL"] = args.metrics_database_url
        uvicorn.run(
            "prospectpro.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=os.environ.get("LOG_LEVEL", "info").lower(),
            access_log=False,
        )
        return 0
    parser.error(f"unknown command {args.command}")
    return 2
