"""The command line: `python -m devstack.invariants`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from devstack.invariants.check import check_invariants
from devstack.invariants.settle import settle

# Written by `make up` (devstack.stack.STACK_FILE): where its database, NATS and localstripe answer.
STACK_FILE = Path(__file__).resolve().parents[2] / ".liveloop" / "stack.json"
FALLBACKS = {
    "database_url": ("DATABASE_URL", None),
    "nats_url": ("NATS_URL", "nats://127.0.0.1:4222"),
    "namespace": ("LIVELOOP_NS", ""),
    "stripe_api_base": ("STRIPE_API_BASE", "http://127.0.0.1:8420"),
}


def defaults(environ: Mapping[str, str], stack_file: Path) -> dict[str, str]:
    """Each address from the environment, else from a running `make up`'s stack file, else the usual local one."""
    stack = json.loads(stack_file.read_text()) if stack_file.exists() else {}
    found: dict[str, str] = {}
    for name, (variable, fallback) in FALLBACKS.items():
        value = environ.get(variable) or stack.get(name)
        if value is None or (value == "" and name != "namespace"):
            value = fallback if fallback is not None else _default_database()
        found[name] = value
    return found


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
    """`python -m devstack.invariants`: settle (unless --settle 0), check, print; exit 1 on any violation.

    With no option or variable naming them, the addresses are those of the running `make up` (.liveloop/stack.json).
    """
    parser = argparse.ArgumentParser(prog="python -m devstack.invariants", description=main.__doc__)
    parser.add_argument("--stack-file", type=Path, default=STACK_FILE, help="a `make up`'s addresses (stack.json)")
    known, _ = parser.parse_known_args(argv)
    found = defaults(os.environ, known.stack_file)
    parser.add_argument("--database-url", default=found["database_url"])
    parser.add_argument("--nats-url", default=found["nats_url"])
    parser.add_argument("--namespace", default=found["namespace"])
    parser.add_argument("--stripe-base", default=found["stripe_api_base"])
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to wait for quiet first; 0: do not")
    return asyncio.run(_main(parser.parse_args(argv)))


def _default_database() -> str:
    from libs.settings import Settings

    return Settings().database_url


if __name__ == "__main__":
    sys.exit(main())
