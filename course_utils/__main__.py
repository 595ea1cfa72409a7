"""Command line: ``python -m course_utils {doctor,notebooks,book}``."""

from __future__ import annotations

import argparse
import sys

from course_utils.config import REPO_ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check versions, device, data and model files")
    notebooks = commands.add_parser("notebooks", help="generate notebooks/ from solutions/")
    notebooks.add_argument("--check", action="store_true", help="only report stale notebooks (exit 1 if any)")
    book = commands.add_parser("book", help="execute the notebooks and build the HTML course book")
    book.add_argument("--fast", action="store_true", help="execute in fast mode (COURSE_FAST=1)")
    book.add_argument("--only", nargs="*", help="notebook numbers to build, e.g. 00 04")
    args = parser.parse_args(argv)

    if args.command == "doctor":
        from course_utils.tools.doctor import main as doctor

        return doctor()
    if args.command == "notebooks":
        from course_utils.tools.notebooks import generate, stale_files

        if args.check:
            problems = stale_files(REPO_ROOT)
            for problem in problems:
                print(f"stale: {problem}")
            if problems:
                print("Run `make notebooks` to regenerate notebooks/ from solutions/.")
            return 1 if problems else 0
        for path in generate(REPO_ROOT):
            print(f"wrote {path.relative_to(REPO_ROOT)}")
        return 0
    from course_utils.tools.book import build_book

    index, failed = build_book(REPO_ROOT, fast=args.fast, only=args.only)
    print(f"\n📘 Course book: {index}")
    if failed:
        print(f"❌ these notebooks failed: {', '.join(failed)} (their pages show the error)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
