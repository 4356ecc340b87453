"""wordstat: word, line and frequency statistics."""

from .counting import Counts, count_text, longest_words, tokenize, top_words

__all__ = ["Counts", "count_text", "longest_words", "tokenize", "top_words"]
__version__ = "0.3.1"
