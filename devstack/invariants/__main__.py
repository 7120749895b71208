"""The command line: `python -m devstack.invariants`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from devstack.invariants.check import check_invariants
from devstack.invariants.settle import settle


async def _main(args: argparse.Namespace) -> int:
    if args.settle:
        await settle(
            database_url=args.database_url, nats_url=args.nats_url, namespace=args.namespace, timeout=args.settle
        )
    verdict = await check_invariants(
        database_url=args.database_url, nats_url=args.nats_url, namespace=args.namespace, stripe_base=args.stripe_base
    )
    for violation in verdict.violations:
        print(violation)
    print(f"{verdict.summary()} ({verdict.took_s:.2f}s)")
    return 0 if verdict.ok() else 1


def main(argv: list[str] | None = None) -> int:
    """`python -m devstack.invariants`: settle (unless --settle 0), check, print; exit 1 on any violation."""
    parser = argparse.ArgumentParser(prog="python -m devstack.invariants", description=main.__doc__)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", _default_database()))
    parser.add_argument("--nats-url", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--namespace", default=os.environ.get("LIVELOOP_NS", ""))
    parser.add_argument("--stripe-base", default=os.environ.get("STRIPE_API_BASE", "http://127.0.0.1:8420"))
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to wait for quiet first; 0: do not")
    return asyncio.run(_main(parser.parse_args(argv)))


def _default_database() -> str:
    from libs.settings import Settings

    return Settings().database_url


if __name__ == "__main__":
    sys.exit(main())
