# ruff: noqa: T201
"""Write (``--write``) or verify (``--check``) the committed OpenAPI document ``docs/openapi.json``."""

import argparse
import sys

from codeyard.api.openapi import COMMITTED, render


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="regenerate docs/openapi.json")
    parser.add_argument("--check", action="store_true", help="fail when docs/openapi.json is stale")
    args = parser.parse_args()
    fresh = render()
    if args.write:
        COMMITTED.write_text(fresh)
        print(f"wrote {COMMITTED}")
        return 0
    if not COMMITTED.exists() or COMMITTED.read_text() != fresh:
        print(f"{COMMITTED} is stale: run `make openapi` and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
