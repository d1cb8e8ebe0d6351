"""`python -m dashboards [--check]`: write the dashboards' JSON, or check it is current."""

from __future__ import annotations

import argparse
import sys

from dashboards import JSON_DIR, render


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a committed file differs, write nothing"
    )
    args = parser.parse_args()
    stale = []
    for name, text in render().items():
        path = JSON_DIR / name
        if path.exists() and path.read_text("utf-8") == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, "utf-8")
    if args.check and stale:
        print("out of date (run python -m dashboards): " + ", ".join(stale), file=sys.stderr)
        return 1
    for name in stale:
        print(f"wrote {JSON_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
