import pytest

from wordstat import Counts, count_text, longest_words, tokenize, top_words


def test_tokenize_keeps_apostrophes_and_hyphens():
    assert tokenize("Don't panic -- it's well-known.") == ["Don't", "panic", "it's", "well-known"]


def test_tokenize_unicode_and_digits():
    assert tokenize("Café au lait, 2 times; naïve_user") == ["Café", "au", "lait", "2", "times", "naïve", "user"]


def test_count_text():
    assert count_text("one two\nthree\n") == Counts(lines=2, words=3, chars=14)
    assert count_text("") == Counts()
    assert count_text("no newline") == Counts(lines=0, words=2, chars=10)


def test_counts_add():
    assert Counts(1, 2, 3) + Counts(10, 20, 30) == Counts(11, 22, 33)


def test_top_words_ranks_by_count_then_alphabetically():
    texts = ["b a c b", "c b a d"]
    assert top_words(texts, n=3) == [("b", 3), ("a", 2), ("c", 2)]


def test_top_words_min_length():
    assert top_words(["a an the theory a"], n=5, min_length=3) == [("the", 1), ("theory", 1)]


def test_top_words_n_zero_and_negative():
    assert top_words(["x y"], n=0) == []
    with pytest.raises(ValueError):
        top_words(["x"], n=-1)


def test_longest_words():
    assert longest_words(["aa bbb c dddd bbb"], n=2) == ["dddd", "bbb"]
