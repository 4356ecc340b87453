"""Text statistics: tokenizing, counting and ranking words."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

# A word is a run of letters/digits, possibly joined by apostrophes or hyphens
# ("don't", "well-known"); leading and trailing punctuation is not part of it.
_WORD = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")


@dataclass(frozen=True)
class Counts:
    """Line, word and character counts of a text."""

    lines: int = 0
    words: int = 0
    chars: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.lines + other.lines, self.words + other.words, self.chars + other.chars)


def tokenize(text: str) -> list[str]:
    """Split ``text`` into words.

    >>> tokenize("Don't panic -- it's well-known.")
    ["Don't", 'panic', "it's", 'well-known']
    """
    return _WORD.findall(text)


def count_text(text: str) -> Counts:
    """Count lines (newline characters, like ``wc -l``), words and characters."""
    return Counts(lines=text.count("\n"), words=len(tokenize(text)), chars=len(text))


def top_words(texts: Iterable[str], n: int = 10, min_length: int = 1) -> list[tuple[str, int]]:
    """Return the ``n`` most frequent words of ``texts`` as ``(word, count)`` pairs.

    Words shorter than ``min_length`` are ignored. Ties are broken
    alphabetically so that the result is deterministic.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    counter: Counter[str] = Counter()
    for text in texts:
        counter.update(w for w in tokenize(text) if len(w) >= min_length)
    ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:n]


def longest_words(texts: Iterable[str], n: int = 10) -> list[str]:
    """Return the ``n`` longest distinct words, longest first (ties alphabetically)."""
    words = {w for text in texts for w in tokenize(text)}
    return sorted(words, key=lambda w: (-len(w), w))[:n]
