"""The ``wordstat`` command line interface."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Iterator, TextIO

from .counting import Counts, count_text, longest_words, top_words


def _read(paths: list[str], stdin: TextIO) -> Iterator[tuple[str, str]]:
    """Yield ``(name, text)`` for each path; ``-`` or no path at all means standard input."""
    for path in paths or ["-"]:
        if path == "-":
            yield "-", stdin.read()
        else:
            with open(path, encoding="utf-8") as fh:
                yield path, fh.read()


def _cmd_count(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    columns = [c for c in ("lines", "words", "chars") if getattr(args, c)] or ["lines", "words", "chars"]
    total = Counts()
    rows = []
    for name, text in _read(args.files, stdin):
        counts = count_text(text)
        total += counts
        rows.append((counts, "" if name == "-" else name))
    if len(rows) > 1:
        rows.append((total, "total"))
    for counts, name in rows:
        cells = "".join(f"{getattr(counts, c):>8}" for c in columns)
        out.write(f"{cells} {name}".rstrip() + "\n")
    return 0


def _cmd_top(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    texts = [text for _, text in _read(args.files, stdin)]
    ranked = top_words(texts, n=args.n, min_length=args.min_length)
    if args.json:
        out.write(json.dumps([{"word": w, "count": c} for w, c in ranked]) + "\n")
    else:
        for word, count in ranked:
            out.write(f"{word}\t{count}\n")
    return 0


def _cmd_longest(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    texts = [text for _, text in _read(args.files, stdin)]
    for word in longest_words(texts, n=args.n):
        out.write(f"{len(word):>4} {word}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wordstat", description="Word, line and frequency statistics.")
    sub = parser.add_subparsers(dest="command", required=True)

    count = sub.add_parser("count", help="count lines, words and characters")
    count.add_argument("files", nargs="*", metavar="FILE")
    count.add_argument("-l", "--lines", action="store_true", help="print the line count")
    count.add_argument("-w", "--words", action="store_true", help="print the word count")
    count.add_argument("-c", "--chars", action="store_true", help="print the character count")
    count.set_defaults(func=_cmd_count)

    top = sub.add_parser("top", help="show the most frequent words")
    top.add_argument("files", nargs="*", metavar="FILE")
    top.add_argument("-n", type=int, default=10, help="how many words to show (default: 10)")
    top.add_argument("--min-length", type=int, default=1, metavar="L", help="ignore words shorter than L")
    top.add_argument("--json", action="store_true", help="print JSON instead of tab-separated lines")
    top.set_defaults(func=_cmd_top)

    longest = sub.add_parser("longest", help="show the longest words")
    longest.add_argument("files", nargs="*", metavar="FILE")
    longest.add_argument("-n", type=int, default=10, help="how many words to show (default: 10)")
    longest.set_defaults(func=_cmd_longest)
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None, stdin: TextIO | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    stdin = stdin or sys.stdin
    try:
        return args.func(args, out, stdin)
    except (OSError, ValueError) as exc:
        print(f"wordstat: {exc}", file=sys.stderr)
        return 1
