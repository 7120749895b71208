"""`liveloop serve <service>`, `liveloop token ...` (dev tokens) and `liveloop trace <order_id>` (an order's spans)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from libs.auth import ROLES, mint_token
from libs.settings import Settings, load
from libs.telemetry.span_file import SPANS_DIR_ENV

SERVICES = ("live", "shop", "orders", "aftersales", "local_life")
# What `liveloop serve` runs: the services, and the web app (pages made from their APIs; no schema of its own).
SERVABLE = (*SERVICES, "web")
# Where `make up` has the services write their spans (`devstack`), from the repository's root.
DEFAULT_SPANS_DIR = Path(".liveloop") / "spans"


def log_format(service: str) -> str:
    """How `liveloop serve` writes a log record: time, service, level, request id and trace id (`-` outside requests
    and spans), logger."""
    return f"%(asctime)s {service} %(levelname)s [%(request_id)s trace=%(trace_id)s] %(name)s: %(message)s"


def print_trace(order_id: str, directory: Path) -> int:
    """`liveloop trace`: the order's waterfall on stdout; 1 if no span names it."""
    from libs.telemetry.span_file import span_files
    from libs.telemetry.waterfall import order_traces, read_spans, render

    files = span_files(directory)
    if not files:
        print(f"no span files in {directory} (`make up` writes them there)", file=sys.stderr)
        return 1
    found = order_traces(read_spans(files), order_id.strip().lower())
    sys.stdout.write(render(found))
    return 0 if found.spans else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `liveloop` command."""
    parser = argparse.ArgumentParser(prog="liveloop")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=SERVABLE)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    token = sub.add_parser("token", help="mint a dev JWT")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--sub", required=True)
    token.add_argument("--merchant-id")
    token.add_argument("--store-id")
    token.add_argument("--ttl", type=int, default=86400)
    trace = sub.add_parser("trace", help="print one order's spans as a waterfall (from the files `make up` writes)")
    trace.add_argument("order_id")
    trace.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"the span files' directory (default: ${SPANS_DIR_ENV}, else {DEFAULT_SPANS_DIR})",
    )
    args = parser.parse_args(argv)

    if args.command == "trace":
        return print_trace(args.order_id, args.dir or Path(os.environ.get(SPANS_DIR_ENV) or DEFAULT_SPANS_DIR))

    if args.command == "token":
        settings = load(Settings, "cli")
        print(
            mint_token(
                sub=args.sub,
                role=args.role,
                secret=settings.jwt_secret,
                merchant_id=args.merchant_id,
                store_id=args.store_id,
                ttl_s=args.ttl,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
        )
        return 0

    import uvicorn

    from libs.web.request_ids import install_request_id_logging

    install_request_id_logging()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format=log_format(args.service))
    if os.environ.get("LIVELOOP_ACCESS_LOG", "on").lower() in ("off", "0", "false", "no"):
        # A line per request costs a write per request: a load test or a proxy that logs already may not want it.
        logging.getLogger("liveloop.access").setLevel(logging.WARNING)
    uvicorn.run(
        f"services.{args.service}.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        access_log=False,
        lifespan="on",
        # Room feeds (SSE) never end by themselves: without a bound, a shutdown would wait on them forever.
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
