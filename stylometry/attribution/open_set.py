"""Is it any of them? An open-set verdict: a text whose best candidate's score lies outside what that candidate's
models give its own author's unseen text is "none of the candidates".

    python -m stylometry.attribute multirun/corpus/paper letter.txt --out attribution/a                  # open set
    python -m stylometry.attribute multirun/corpus/paper letter.txt --closed-set --out attribution/b     # closed
    python -m stylometry.attribute multirun/corpus/paper --held-out --excerpt-tokens 256,1024,4096 --out a/c  # rates

`attribute` names the lowest candidate, so a text by someone outside the set is attributed anyway. The study's
held-out books calibrate each candidate: each seed's held-out book of a candidate, cut into excerpts of each
length, is scored by that seed's model of the candidate (which never trained on it). A candidate's bound at a
length is the (1 - false_rejection) quantile of those scores: by construction its own unseen text scores above it
that often. A length where a candidate has fewer than MIN_EXCERPTS calibration excerpts (each seed's held-out book
counted separately) is not calibrated. A questioned text (or excerpt) of n tokens is judged at its best candidate's
longest calibrated length at most n (its shortest where n is shorter than all: a shorter text varies more, so it is
rejected more often than the stated rate); where the candidate's mean score over seeds is above its bound, the
verdict is "none of the candidates", and the candidate it would otherwise go to is kept in attributed_to. A longer
text than its length, and a mean over seeds where the bound is a single model's, both vary less than the bound
allows for: a text of the candidate's own is rejected less often than the stated rate, not more.

A candidate with no calibrated length keeps the closed-set verdict, and the report and the terminal say why.

With --held-out, `open_set_rates` measures the rule with each author left out of the candidates in turn (the
bounds for each seed's books computed from the other seeds' books): how often the left-out author's excerpts are
called none of the candidates, and how often the others' are still attributed to their author.
"""

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from stylometry.attribution.texts import Text
from stylometry.files.atomic import atomic_file

log = logging.getLogger("stylometry.attribute")

FALSE_REJECTION = 0.05  # the default share of a candidate's own unseen text called none of the candidates
MIN_EXCERPTS = 20  # calibration excerpts a candidate needs at a length: a 95% quantile of fewer is a guess
NONE_OF_THEM = "none of the candidates"
WITHIN, OUTSIDE, NOT_CALIBRATED, CLOSED = "within", "outside", "not calibrated", "closed set"
CALIBRATION_COLUMNS = ["author", "excerpt_tokens", "seed", "excerpt", "loss"]
OPEN_SET_COLUMNS = ["open_set", "open_set_tokens", "open_set_bound", "open_set_excerpts"]
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


def calibration(book_scores: pd.DataFrame, books: list[Text]) -> pd.DataFrame:
    """The scores each candidate's models give excerpts of their own author's held-out books (book_scores: the
    books' scores, each book scored by its seed's models only; whole books are left out: their lengths vary)."""
    authors = {book.name: book.author for book in books}
    rows = book_scores[book_scores["excerpt_tokens"].notna()]
    own = rows[rows["text"].map(authors) == rows["model_author"]]
    table = own.rename(columns={"model_author": "author"})[CALIBRATION_COLUMNS]
    return table.sort_values(["author", "excerpt_tokens", "seed", "excerpt"]).reset_index(drop=True)


def bounds(calibrated: pd.DataFrame, false_rejection: float) -> pd.DataFrame:
    """Per candidate and length: the (1 - false_rejection) quantile of its own excerpts' scores, and how many."""
    grouped = calibrated.groupby(["author", "excerpt_tokens"])["loss"]
    table = pd.concat(
        [grouped.quantile(1 - false_rejection).rename("bound"), grouped.size().rename("num_excerpts")], axis=1
    )
    return table.reset_index()


def open_set_columns(
    verdicts: pd.DataFrame, texts: list[Text], calibrated: pd.DataFrame | None, false_rejection: float
) -> pd.DataFrame:
    """Each verdict judged against its best candidate's bound at its length (see the module's docstring); with no
    calibration (--closed-set) every row says closed set."""
    table = verdicts.copy()
    if calibrated is None:
        table[OPEN_SET_COLUMNS] = [CLOSED, None, None, None]
        return table
    limits = bounds(calibrated, false_rejection)
    whole = {text.name: len(text.tokens) for text in texts}
    judged = []
    for row in table.itertuples():
        tokens = whole[row.text] if pd.isna(row.excerpt_tokens) else int(row.excerpt_tokens)
        own = limits[limits["author"] == row.attributed_to].sort_values("excerpt_tokens")
        usable = own[own["num_excerpts"] >= MIN_EXCERPTS]
        fitting = usable[usable["excerpt_tokens"] <= tokens]
        chosen = fitting.iloc[-1] if len(fitting) else usable.iloc[0] if len(usable) else None
        if chosen is None:  # the candidate's longest length at most the text's, with its count
            fitting = own[own["excerpt_tokens"] <= tokens]
            longest = fitting.iloc[-1] if len(fitting) else own.iloc[0] if len(own) else None
            length, count = (None, 0) if longest is None else (int(longest["excerpt_tokens"]), longest["num_excerpts"])
            judged.append([NOT_CALIBRATED, length, None, int(count)])
            continue
        bound = float(chosen["bound"])
        verdict = OUTSIDE if row.mean_loss > bound else WITHIN
        judged.append([verdict, int(chosen["excerpt_tokens"]), bound, int(chosen["num_excerpts"])])
    table[OPEN_SET_COLUMNS] = pd.DataFrame(judged, columns=OPEN_SET_COLUMNS, index=table.index)
    table.loc[table["open_set"] == OUTSIDE, "verdict"] = NONE_OF_THEM  # whatever the test between candidates said
    return table


def open_set_rates(scores: pd.DataFrame, books: list[Text], false_rejection: float) -> pd.DataFrame:
    """With each author left out of the candidates in turn, per excerpt length: the share of the left-out author's
    held-out excerpts called none of the candidates, and of the other authors' excerpts the share attributed to
    their author closed-set and open-set (attributed and not rejected). scores: the held-out books' scores (each
    by its seed's models only, on the verdicts' score). Each seed's bounds come from the other seeds' books, so no
    excerpt calibrates the bound it is judged by (with one seed: from its own books)."""
    authors = {book.name: book.author for book in books}
    rows = scores[scores["excerpt_tokens"].notna()].assign(author=lambda t: t["text"].map(authors))
    calibrated = calibration(scores, books)
    table = []
    for length, of_length in rows.groupby("excerpt_tokens"):
        limits = _bounds_by_seed(calibrated[calibrated["excerpt_tokens"] == length], false_rejection)
        for left_out in sorted(of_length["author"].unique()):
            candidates = of_length[of_length["model_author"] != left_out].sort_values("model_author", kind="stable")
            best = candidates.loc[candidates.groupby(["text", "excerpt", "seed"])["loss"].idxmin()]
            bound = np.array(
                [limits[seed].get(author, np.nan) for seed, author in zip(best["seed"], best["model_author"])]
            )
            rejected = best["loss"].to_numpy() > bound  # NaN (not calibrated): kept, as a verdict would be
            mine = (best["author"] == left_out).to_numpy()
            correct = (best["model_author"] == best["author"]).to_numpy()
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


def calibration_path(curve_file: Path) -> Path:
    """Kept beside the study's held-out curve (attribution/trust.py), under the same key: the same models, score
    and cap."""
    return curve_file.with_name(curve_file.stem + "_calibration.csv")


def read_calibration(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError):
        return None  # unreadable: computed again
    return table if list(table.columns) == CALIBRATION_COLUMNS else None


def write_calibration(table: pd.DataFrame, path: Path) -> None:
    try:
        with atomic_file(path) as f:
            table.to_csv(f, index=False)
    except OSError as error:  # a read-only cache: computed again next time
        log.warning("the open-set calibration is not kept (%s): the next attribution computes it again", error)


def open_set_words(row) -> str:
    """`; within alice's bound at 1,024 tokens (5.91 <= 6.02)`, or why there is no bound."""
    if row.open_set == CLOSED:
        return ""
    length = "" if pd.isna(row.open_set_tokens) else f" at {int(row.open_set_tokens):,} tokens"
    if row.open_set == NOT_CALIBRATED:
        return (
            f"; closed set: {row.attributed_to} has {int(row.open_set_excerpts)} held-out excerpts{length} to "
            f"calibrate on ({MIN_EXCERPTS} needed), so the verdict names a candidate whoever wrote the text"
        )
    if row.open_set == OUTSIDE:
        return (
            f"; closest: {row.attributed_to}, whose score {row.mean_loss:.4f} is above its bound{length} "
            f"({row.open_set_bound:.4f})"
        )
    return f"; within {row.attributed_to}'s bound{length} ({row.mean_loss:.4f} <= {row.open_set_bound:.4f})"
