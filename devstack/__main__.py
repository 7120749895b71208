"""Command line: `python -m devstack up [--data-dir DIR] [--no-seed] [--ready-timeout S]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the requested command."""
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_cmd = commands.add_parser("up", help="start everything in the foreground; Ctrl-C stops it")
    up_cmd.add_argument("--data-dir", type=Path, default=None, help="default: .liveloop/ in the repo")
    up_cmd.add_argument("--no-seed", action="store_true", help="skip the demo merchant/product/room")
    up_cmd.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait for /ready")
    args = parser.parse_args(argv)

    from devstack.stack import DEFAULT_DATA_DIR, up

    return up(
        args.data_dir or DEFAULT_DATA_DIR,
        do_seed=not args.no_seed,
        ready_timeout=args.ready_timeout,
    )


if __name__ == "__main__":
    sys.exit(main())
