"""``tickreplay`` command line: thin over the API.

Every module in this package that defines ``register(subparsers)`` adds its
sub-commands; a handler returns an exit code (or None for 0).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from tickreplay.errors import TickreplayError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickreplay", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TickreplayError as err:
        print(f"tickreplay {args.command}: error: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"tickreplay {args.command}: error: {err.filename}: no such file", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
