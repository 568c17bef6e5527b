"""Is it any of them? An open-set verdict: a text whose best candidate's score lies outside what that candidate's
models give its own author's unseen text is "none of the candidates".

    python -m stylometry.attribute multirun/corpus/paper letter.txt --out attribution/a                  # open set
    python -m stylometry.attribute multirun/corpus/paper letter.txt --closed-set --out attribution/b     # closed
    python -m stylometry.attribute multirun/corpus/paper --held-out --excerpt-tokens 256,1024,4096 --out a/c  # rates

`attribute` names the lowest candidate, so a text by someone outside the set is attributed anyway. The statistic is
a candidate's **gap**: its models' score on a text minus the mean score of the other candidates' models of the
same seed. On its own author's text a candidate's models score well below the rest; on a text none of them wrote,
all find it about as unfamiliar, and the gap closes. A raw score would mostly measure how hard the text is (on the
study's corpus, leaving each author out in turn, the raw score's bound called 26% of the outsiders' 256-token
excerpts and 40% of 1,024-token ones none of the candidates; the gap 37% and 59%, at the same false rejection:
docs/attribution.md).

The study's held-out books calibrate each candidate: each seed's held-out book of a candidate, cut into excerpts
of each length, is scored by every model of that seed (none trained on it). A candidate's bound at a length is the
gap that a share false_rejection of the excerpts of a new book by its own author is expected to exceed (book_bound:
the books differ, so a new book's level is estimated from theirs). A length where a candidate has fewer than
MIN_EXCERPTS calibration excerpts (each seed's held-out book counted separately) is not calibrated. A questioned
text (or excerpt) of n tokens is judged at its best candidate's longest calibrated length at most n (its shortest
where n is shorter than all: a shorter text varies more, so it is rejected more often than the stated rate); where
the candidate's gap (the mean over seeds) is above its bound, the verdict is "none of the candidates", and the
candidate it would otherwise go to is kept in attributed_to. A longer text than its length, and a mean over seeds
where the bound is a single seed's, both vary less than the bound allows for (measured: docs/attribution.md).

A candidate with no calibrated length keeps the closed-set verdict, and the report and the terminal say why.

With --held-out, `open_set_rates` measures the rule with each author left out of the candidates in turn (the
bounds for each seed's books computed from the other seeds' books, the gaps among the remaining candidates): how
often the left-out author's excerpts are called none of the candidates, and how often the others' are still
attributed to their author.
"""

import logging

import numpy as np
import pandas as pd
from scipy import stats

from stylometry.attribution.texts import Text

log = logging.getLogger("stylometry.attribute")

FALSE_REJECTION = 0.05  # the default share of a candidate's own unseen text called none of the candidates
MIN_EXCERPTS = 20  # calibration excerpts a candidate needs at a length: a 95% bound from fewer is a guess
NONE_OF_THEM = "none of the candidates"
WITHIN, OUTSIDE, NOT_CALIBRATED, CLOSED = "within", "outside", "not calibrated", "closed set"
BY_LR = "likelihood ratio"  # the text's calibrated LR decides (attribution/verification.py); its gap is kept
CALIBRATION_COLUMNS = ["author", "excerpt_tokens", "seed", "excerpt", "gap"]
OPEN_SET_COLUMNS = ["open_set", "open_set_tokens", "open_set_gap", "open_set_bound", "open_set_excerpts"]
UNIT_OF_SEED = ["text", "excerpt_tokens", "excerpt", "seed"]
RATE_COLUMNS = [
    "excerpt_tokens",
    "left_out",
    "num_left_out_excerpts",
    "left_out_rejected",
    "num_other_excerpts",
    "closed_set_accuracy",
    "open_set_accuracy",
    "others_rejected",
]


def gaps(scores: pd.DataFrame, candidates: list[str] | None = None) -> pd.DataFrame:
    """The scores (of `candidates`' models only, if given) with each model's gap: its score on the text (or
    excerpt) minus the mean score of the other candidates' models of its seed on it."""
    rows = scores if candidates is None else scores[scores["model_author"].isin(candidates)]
    grouped = rows.groupby(UNIT_OF_SEED, dropna=False)["loss"]
    total, count = grouped.transform("sum"), grouped.transform("size")
    return rows.assign(gap=rows["loss"] - (total - rows["loss"]) / (count - 1))


def calibration(book_scores: pd.DataFrame, books: list[Text], candidates: list[str] | None = None) -> pd.DataFrame:
    """Each candidate's gaps on excerpts of its own author's held-out books (book_scores: the books' scores, each
    book scored by its seed's models only; whole books are left out: their lengths vary)."""
    authors = {book.name: book.author for book in books}
    rows = gaps(book_scores[book_scores["excerpt_tokens"].notna()], candidates)
    own = rows[rows["text"].map(authors) == rows["model_author"]]
    table = own.rename(columns={"model_author": "author"})[CALIBRATION_COLUMNS]
    return table.sort_values(["author", "excerpt_tokens", "seed", "excerpt"]).reset_index(drop=True)


def bounds(calibrated: pd.DataFrame, false_rejection: float) -> pd.DataFrame:
    """Per candidate and length: the gap that its own author's next unseen book stays below but for a share
    false_rejection of its excerpts (book_bound), and how many excerpts it was computed from."""
    rows = [
        [author, length, book_bound(group["gap"], group["seed"], false_rejection), len(group)]
        for (author, length), group in calibrated.groupby(["author", "excerpt_tokens"])
    ]
    return pd.DataFrame(rows, columns=["author", "excerpt_tokens", "bound", "num_excerpts"])


def book_bound(gaps: pd.Series, books: pd.Series, false_rejection: float) -> float:
    """The (1 - false_rejection) quantile of a new book's excerpt gaps, from the excerpts of a few books (`books`:
    each excerpt's book, a seed's held-out book): the books' mean, plus Student's t times the spread of an excerpt
    of a new book, which is the spread within a book and the spread of book means, the latter widened by (1 + 1/n)
    for the n books' mean being an estimate too (Satterthwaite's degrees of freedom).

    Books differ: the plain quantile of the pooled excerpts misses that a new book's level is not one of the n seen.
    On the 4-author study with 3 seeds (2 books per fold) it rejected 6-15% of the candidates' own excerpts at a
    stated 5%; simulated with as much spread between books as within one (30 excerpts a book, 400 draws: the
    setting of tests/test_open_set.py), 13.6% with 2 books and 8.6% with 4, against 7.8% and 4.8% with this
    bound. With one book, or one excerpt per book, the spread between books is unknown: the plain quantile then."""
    per_book = gaps.groupby(books.to_numpy())
    means, variances, sizes = per_book.mean(), per_book.var(ddof=1), per_book.size()
    n = len(means)
    if n < 2 or (sizes < 2).any():
        return float(gaps.quantile(1 - false_rejection))
    within = float(((sizes - 1) * variances).sum() / (sizes - 1).sum())  # pooled over the books
    between = float(means.var(ddof=1)) * (1 + 1 / n)
    total = within + between
    if total == 0:
        return float(means.mean())
    df = total**2 / (between**2 / (n - 1) + within**2 / float((sizes - 1).sum()))
    return float(means.mean() + stats.t.ppf(1 - false_rejection, df) * np.sqrt(total))


def open_set_columns(
    verdicts: pd.DataFrame,
    scores: pd.DataFrame,
    texts: list[Text],
    calibrated: pd.DataFrame | None,
    false_rejection: float,
    by_lr: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """Each verdict judged by its best candidate's gap (the mean over seeds; scores: the verdicts' scores) against
    that candidate's bound at its length (see the module's docstring); with no calibration (--closed-set) every row
    says closed set. by_lr: the whole texts whose likelihood ratio decides instead (their gap and bound are kept)."""
    table = verdicts.copy()
    if calibrated is None:
        table[OPEN_SET_COLUMNS] = [CLOSED, None, None, None, None]
        return table
    unit = ["text", "excerpt_tokens", "excerpt"]
    mean_gaps = gaps(scores).groupby(unit + ["model_author"], dropna=False)["gap"].mean().reset_index()
    best_gaps = table[unit + ["attributed_to"]].merge(  # merge matches the <NA> of whole texts; .loc would not
        mean_gaps.rename(columns={"model_author": "attributed_to"}), on=unit + ["attributed_to"], how="left"
    )["gap"]
    limits = bounds(calibrated, false_rejection)
    whole = {text.name: len(text.tokens) for text in texts}
    judged = []
    for row, gap in zip(table.itertuples(), best_gaps):
        tokens = whole[row.text] if pd.isna(row.excerpt_tokens) else int(row.excerpt_tokens)
        length, bound, count = _bound_at(limits[limits["author"] == row.attributed_to], tokens)
        if bound is None:
            judged.append([NOT_CALIBRATED, length, gap, None, count])
        else:
            judged.append([OUTSIDE if gap > bound else WITHIN, length, gap, bound, count])
    table[OPEN_SET_COLUMNS] = pd.DataFrame(judged, columns=OPEN_SET_COLUMNS, index=table.index)
    table.loc[table["excerpt_tokens"].isna() & table["text"].isin(by_lr), "open_set"] = BY_LR
    table.loc[table["open_set"] == OUTSIDE, "verdict"] = NONE_OF_THEM  # whatever the test between candidates said
    return table


def _bound_at(limits: pd.DataFrame, tokens: int) -> tuple:
    """(length, bound, excerpts) of one candidate for a text of `tokens`: its longest calibrated length at most that
    (its shortest if none); where none is calibrated, bound None and the count at the length it would have used."""
    limits = limits.sort_values("excerpt_tokens")
    for table in (limits[limits["num_excerpts"] >= MIN_EXCERPTS], limits):
        if len(table):
            fitting = table[table["excerpt_tokens"] <= tokens]
            row = fitting.iloc[-1] if len(fitting) else table.iloc[0]
            calibrated = row["num_excerpts"] >= MIN_EXCERPTS
            return int(row["excerpt_tokens"]), float(row["bound"]) if calibrated else None, int(row["num_excerpts"])
    return None, None, 0


def open_set_rates(scores: pd.DataFrame, books: list[Text], false_rejection: float) -> pd.DataFrame:
    """With each author left out of the candidates in turn, per excerpt length: the share of the left-out author's
    held-out excerpts called none of the candidates, and of the other authors' excerpts the share attributed to
    their author closed-set and open-set (attributed and not rejected). scores: the held-out books' scores (each
    by its seed's models only, on the verdicts' score). The gaps are among the remaining candidates; each seed's
    bounds come from the other seeds' books, so no excerpt calibrates the bound it is judged by (with one seed:
    from its own books)."""
    authors = {book.name: book.author for book in books}
    rows = scores[scores["excerpt_tokens"].notna()]
    everyone = sorted(rows["model_author"].unique())
    table = []
    for length, of_length in rows.groupby("excerpt_tokens"):
        for left_out in sorted(set(of_length["text"].map(authors))):
            candidates = [author for author in everyone if author != left_out]
            if not candidates:  # one candidate: leaving it out leaves nothing to call its excerpts any of
                continue
            limits = _bounds_by_seed(calibration(of_length, books, candidates), false_rejection)
            rows_of = gaps(of_length, candidates).sort_values("model_author", kind="stable")
            best = rows_of.loc[rows_of.groupby(["text", "excerpt", "seed"])["loss"].idxmin()]
            bound = np.array(
                [limits[seed].get(author, np.nan) for seed, author in zip(best["seed"], best["model_author"])]
            )
            rejected = best["gap"].to_numpy() > bound  # NaN (not calibrated): kept, as a verdict would be
            written_by = best["text"].map(authors)
            mine = (written_by == left_out).to_numpy()
            correct = (best["model_author"] == written_by).to_numpy()
            table.append(
                [
                    int(length),
                    left_out,
                    int(mine.sum()),
                    rejected[mine].mean(),
                    int((~mine).sum()),
                    correct[~mine].mean(),
                    (correct & ~rejected)[~mine].mean(),
                    rejected[~mine].mean(),
                ]
            )
    return pd.DataFrame(table, columns=RATE_COLUMNS)


def _bounds_by_seed(calibrated: pd.DataFrame, false_rejection: float) -> dict:
    """seed -> author -> bound from the other seeds' excerpts (every seed's, with one seed); NaN where fewer than
    MIN_EXCERPTS."""
    seeds = sorted(calibrated["seed"].unique())
    limits = {}
    for seed in seeds:
        others = calibrated[calibrated["seed"] != seed] if len(seeds) > 1 else calibrated
        table = bounds(others, false_rejection)
        table.loc[table["num_excerpts"] < MIN_EXCERPTS, "bound"] = np.nan
        limits[seed] = table.set_index("author")["bound"]
    return limits


def open_set_words(row) -> str:
    """`; within alice's bound at 1,024 tokens (gap -0.3100 <= -0.1200)`, or why there is no bound."""
    if row.open_set in (CLOSED, BY_LR):  # the likelihood ratio's words say it
        return ""
    length = "" if pd.isna(row.open_set_tokens) else f" at {int(row.open_set_tokens):,} tokens"
    if row.open_set == NOT_CALIBRATED:
        return (
            f"; closed set: {row.attributed_to} has {int(row.open_set_excerpts)} held-out excerpts{length} to "
            f"calibrate on ({MIN_EXCERPTS} needed), so the verdict names a candidate whoever wrote the text"
        )
    if row.open_set == OUTSIDE:
        return (
            f"; closest: {row.attributed_to}, whose gap to the other candidates {row.open_set_gap:.4f} is above its "
            f"bound{length} ({row.open_set_bound:.4f})"
        )
    return f"; within {row.attributed_to}'s bound{length} (gap {row.open_set_gap:.4f} <= {row.open_set_bound:.4f})"
