"""Which of a study's training books a text was taken from: the runs of tokens they share.

    python -m stylometry.attribute <study dir> <texts> --out <dir>    # no text is scored by a model trained on it

A model that trained on a book predicts a passage of that book better than its author's style alone
explains, so `stylometry.attribute` never lets it score a text taken from one of its training books.
A text is *from* a book when at least FROM_BOOK_SHARE of its consecutive SHINGLE-token runs occur
somewhere in the book. Tokens are compared as written (no variant transform): a part-of-speech
text would share tag sequences with any book by chance.

Measured on the study's corpus (GPT-2 tokens): the contested book shares none of its 1,819 32-token
runs with any of the 34 books of Austen, Baum and Thompson, and a 2,000-token passage cut from a
book shares all of them (its first run can differ, where the cut splits a word). So any share well
above zero means copied text; 10% leaves room for quotations, and a text is judged as a whole.
"""

import numpy as np

SHINGLE = 32  # tokens per run: long enough that two books never share one by chance (none in the test above)
FROM_BOOK_SHARE = 0.1  # a text with at least this share of its runs in a book is treated as that book
# Polynomial rolling hash mod 2^64 (numpy's uint64 arithmetic wraps): an odd base is invertible mod 2^64,
# which lets every window's hash come from one prefix sum (see shingle_hashes).
_BASE = np.uint64(0x9E3779B97F4A7C15)
_BASE_INVERSE = np.uint64(pow(int(_BASE), -1, 2**64))


def shingle_hashes(tokens: np.ndarray, length: int = SHINGLE) -> np.ndarray:
    """The hash of every run of `length` consecutive tokens (len(tokens) - length + 1 of them).

    hash(i) = sum_j (tokens[i + j] + 1) * BASE^j: the prefix sums P of (token + 1) * BASE^position
    give BASE^i * hash(i) = P[i + length] - P[i], and multiplying by BASE^-i leaves hash(i).
    """
    n = len(tokens)
    if n < length:
        return np.zeros(0, dtype=np.uint64)
    values = tokens.astype(np.uint64) + np.uint64(1)  # + 1: a run of token 0 does not hash to 0
    powers = np.cumprod(np.concatenate([[np.uint64(1)], np.full(n - 1, _BASE, dtype=np.uint64)]))
    inverse_powers = np.cumprod(np.concatenate([[np.uint64(1)], np.full(n - 1, _BASE_INVERSE, dtype=np.uint64)]))
    prefix = np.concatenate([[np.uint64(0)], np.cumsum(values * powers, dtype=np.uint64)])
    return (prefix[length:] - prefix[:-length]) * inverse_powers[: n - length + 1]


def shares_in_books(text_tokens: np.ndarray, book_runs: dict, length: int = SHINGLE) -> dict:
    """For each book (name -> np.unique of its shingle_hashes), the share of the text's consecutive
    non-overlapping runs that occur in it; a text shorter than one run shares nothing."""
    text_runs = shingle_hashes(text_tokens, length)[::length]
    if not len(text_runs):
        return {name: 0.0 for name in book_runs}
    return {name: float(_contains(runs, text_runs).mean()) for name, runs in book_runs.items()}


def _contains(sorted_runs: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """Which of `runs` occur in `sorted_runs`: a binary search each (np.isin would sort the book again per text)."""
    if not len(sorted_runs):
        return np.zeros(len(runs), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_runs, runs), len(sorted_runs) - 1)
    return sorted_runs[at] == runs


def book_runs(tokens: np.ndarray, length: int = SHINGLE) -> np.ndarray:
    """Every run's hash in a book, each once (sorted), to look texts up in."""
    return np.unique(shingle_hashes(tokens, length))
