"""The study's own held-out books, attributed: each seed's held-out book of each author (and its excerpts) by
that seed's models only, and the accuracy against excerpt length with a 95% interval.

    python -m stylometry.attribute multirun/corpus/paper --held-out --excerpt-tokens 256,1024,4096 --out attribution/c
"""

import warnings

import numpy as np
import pandas as pd

from stylometry.attribution.texts import Text
from stylometry.attribution.verdicts import UNIT

CONFIDENCE = 0.95
# The percentile interval's ends move by at most 0.012 between 20 draws of 2,000 resamples (5 to 80 books, measured).
BOOTSTRAP_RESAMPLES = 2000
MIN_BOOKS_TO_RESAMPLE = 5  # fewer books: Wilson's interval over excerpts instead of a bootstrap over books


def held_out_attribution(scores: pd.DataFrame, texts: list[Text]) -> pd.DataFrame:
    """Each held-out book (and excerpt) of each seed: the author whose model of that seed has the lowest loss on it
    (ties: the first by name, as stats.lowest_loss_author), and whether that is the book's author."""
    authors = {text.name: text.author for text in texts}
    keys = UNIT + ["seed"]
    rows = scores.sort_values("model_author", kind="stable")
    best = rows.loc[rows.groupby(keys, dropna=False)["loss"].idxmin(), keys + ["model_author", "loss"]]
    counts = rows.groupby(keys, dropna=False).size().rename("num_models").reset_index()
    table = best.rename(columns={"model_author": "attributed_to"}).merge(counts, on=keys, how="left")
    table.insert(3, "author", table["text"].map(authors))
    table["correct"] = table["attributed_to"] == table["author"]
    return table.sort_values(
        ["seed", "text", "excerpt_tokens", "excerpt"], na_position="first", kind="stable"
    ).reset_index(drop=True)


def held_out_accuracy(attribution: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per excerpt length (<NA>: whole books), per author and over all authors ("all"), with a 95% interval
    (_interval says which)."""
    per_book = (
        attribution.groupby(["excerpt_tokens", "author", "seed", "text"], dropna=False)
        .agg(num_excerpts=("correct", "size"), num_correct=("correct", "sum"))
        .reset_index()
    )
    rows = []
    for length, of_length in per_book.groupby("excerpt_tokens", dropna=False, sort=True):
        for author, books in [*of_length.groupby("author", sort=True), ("all", of_length)]:
            low, high, method = _interval(books["num_correct"].to_numpy(), books["num_excerpts"].to_numpy())
            num_correct, num_excerpts = int(books["num_correct"].sum()), int(books["num_excerpts"].sum())
            rows.append(
                {
                    "excerpt_tokens": length,
                    "author": author,
                    "num_books": len(books),
                    "num_excerpts": num_excerpts,
                    "num_correct": num_correct,
                    "accuracy": num_correct / num_excerpts,
                    "ci_low": low,
                    "ci_high": high,
                    "ci_method": method,
                }
            )
    table = pd.DataFrame(rows, columns=ACCURACY_COLUMNS)
    table["excerpt_tokens"] = table["excerpt_tokens"].astype("Int64")
    return table


ACCURACY_COLUMNS = [
    "excerpt_tokens",
    "author",
    "num_books",
    "num_excerpts",
    "num_correct",
    "accuracy",
    "ci_low",
    "ci_high",
    "ci_method",
]
WILSON_BOOKS, BOOTSTRAP, WILSON_EXCERPTS = "Wilson over books", "bootstrap over books", "Wilson over excerpts"


def _interval(num_correct: np.ndarray, num_excerpts: np.ndarray) -> tuple[float, float, str]:
    """A 95% interval for sum(num_correct) / sum(num_excerpts), each entry one book.

    Whole books (one excerpt each) are independent trials: Wilson's interval. Excerpts of one book are
    not (a model that misreads a book misreads many of its excerpts), so from MIN_BOOKS_TO_RESAMPLE
    books the interval resamples books (a percentile bootstrap over books). Below that a bootstrap has
    too few distinct resamples (2 books give 3) and is far too narrow; Wilson's interval over the
    excerpts is given instead, marked as such: it is too narrow too where the books differ."""
    from scipy import stats as scipy_stats

    def wilson(successes, trials):
        ci = scipy_stats.binomtest(int(successes), int(trials)).proportion_ci(CONFIDENCE, "wilson")
        return float(ci.low), float(ci.high)

    if (num_excerpts == 1).all():
        return (*wilson(num_correct.sum(), len(num_correct)), WILSON_BOOKS)
    if len(num_correct) < MIN_BOOKS_TO_RESAMPLE:
        return (*wilson(num_correct.sum(), num_excerpts.sum()), WILSON_EXCERPTS)
    with warnings.catch_warnings():  # every book at the same accuracy: the interval is that point
        warnings.simplefilter("ignore")
        result = scipy_stats.bootstrap(
            (num_correct, num_excerpts),
            lambda c, n, axis=-1: c.sum(axis=axis) / n.sum(axis=axis),
            paired=True,
            vectorized=True,
            confidence_level=CONFIDENCE,
            n_resamples=BOOTSTRAP_RESAMPLES,
            method="percentile",
            random_state=np.random.default_rng(0),
        )  # fixed: the same scores give the same interval
    return float(result.confidence_interval.low), float(result.confidence_interval.high), BOOTSTRAP
