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
    notebooks.add_argument(
        "--check", action="store_true", help="only report stale notebooks (exit 1 if any); writes nothing"
    )
    notebooks.add_argument(
        "--force",
        action="store_true",
        help="also overwrite notebooks you edited (each is first copied to notebooks/.backup/)",
    )
    book = commands.add_parser("book", help="execute the notebooks and build the HTML course book")
    book.add_argument("--fast", action="store_true", help="execute in fast mode (COURSE_FAST=1)")
    book.add_argument(
        "--only", nargs="+", metavar="NN", help="notebooks to rebuild, e.g. 00 04 (the other pages are kept)"
    )
    args = parser.parse_args(argv)

    if args.command == "doctor":
        from course_utils.tools.doctor import main as doctor

        return doctor()
    if args.command == "notebooks":
        if args.check and args.force:
            parser.error("--check only reports; it cannot be combined with --force")
        return _notebooks(check=args.check, force=args.force)
    from course_utils.tools.book import main as book

    return book(fast=args.fast, only=args.only)


def _notebooks(check: bool, force: bool) -> int:
    """``notebooks [--check | --force]``: print what was (or would be) done; return the exit status."""
    from course_utils.tools.notebooks import MissingSolutionsError, check_notebooks, generate

    try:
        if not check:
            print("\n".join(generate(REPO_ROOT, force=force)))
            return 0
        report = check_notebooks(REPO_ROOT)
    except MissingSolutionsError as error:
        print(f"❌ {error}")
        return 1
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(f"stale: {problem}")
    if report.problems:
        print(
            "Authors: run `make notebooks` to regenerate notebooks/ from solutions/ and commit the result "
            "(it never overwrites or deletes a notebook you edited)."
        )
        return 1
    print("notebooks/ up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
