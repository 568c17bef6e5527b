"""Is it any of these? "None of the candidates" decided by the likelihood ratio, at a stated false rejection.

    python -m stylometry.attribute multirun/corpus/paper letter.txt --authors baum,thompson --out attribution/v

A text is none of the candidates where every candidate's log10 LR against anyone else (attribution/verification.py)
is below its length's **threshold**: 0 (LR < 1: the text likelier someone else's than each candidate's), or lower
where the candidates' own unseen text falls below 0 more often than `--false-rejection` states: then the
false_rejection quantile of the candidates' own held-out excerpts' best LR (the highest of every candidate's LRs on
the excerpt), each excerpt's LRs from a calibration that never saw its seed (verification.cross_validated). The
threshold never rises above 0: a text no candidate's LR argues against stays theirs. With LR < 1 alone, 8.1-12.5%
of Baum's and Thompson's own excerpts were called none of them on the study's eight authors at small-corpus scale,
where the open set states 5% (docs/attribution.md).

Measured by `--held-out` (`rates`): for each seed, the threshold from the other seeds' trials only (their LRs
cross-validated among themselves), then the share of that seed's own-author excerpts called none of the candidates,
and of its outsiders' (each author left out in turn: its excerpts against every other candidate).
"""

import numpy as np
import pandas as pd

from stylometry.attribution.open_set import NONE_OF_THEM
from stylometry.attribution.verification import ANYONE, CalibrationError, cross_validated, says_none

EXCERPT = ["seed", "book", "excerpt"]
RATE_COLUMNS = ["against", "excerpt_tokens", "own_called_none", "outsiders_called_none", "none_below"]


def best_lrs(judged: pd.DataFrame) -> pd.DataFrame:
    """One length's cross-validated trials (against anyone else) as one row per excerpt and question: `own` (the
    excerpt's author among the candidates: every candidate's LR) or not (its author left out: every other
    candidate's), with `best`, the highest of those LRs."""
    own_books = judged.loc[judged["same"], EXCERPT].drop_duplicates()
    own = judged.merge(own_books, on=EXCERPT).groupby(EXCERPT)["log10_lr"].max().reset_index()
    outsiders = judged[~judged["same"]].groupby(EXCERPT)["log10_lr"].max().reset_index()
    return pd.concat([own.assign(own=True), outsiders.assign(own=False)], ignore_index=True).rename(
        columns={"log10_lr": "best"}
    )


def threshold(judged: pd.DataFrame, false_rejection: float) -> float:
    """The log10 LR below which every candidate's calls a text none of them (0 or lower): the false_rejection
    quantile of the candidates' own excerpts' best LRs, where that is below 0."""
    best = best_lrs(judged.dropna(subset=["log10_lr"]))
    own = best.loc[best["own"], "best"]
    return min(0.0, float(own.quantile(false_rejection))) if len(own) else 0.0


def thresholds(trial_rows: pd.DataFrame, false_rejection: float) -> dict[int, float]:
    """Each length's threshold from the study's trials (every seed's, cross-validated); 0 at every length with a
    single seed, whose false rejection cannot be measured."""
    asked = trial_rows[trial_rows["against"] == ANYONE]
    try:
        judged = cross_validated(asked)
    except CalibrationError:
        return {int(length): 0.0 for length in asked["excerpt_tokens"].unique()}
    return {int(length): threshold(rows, false_rejection) for length, rows in judged.groupby("excerpt_tokens")}


def rates(trial_rows: pd.DataFrame, judged: pd.DataFrame, false_rejection: float) -> pd.DataFrame:
    """Per length, the open set's error rates under the threshold (`own_called_none`, `outsiders_called_none`)
    and the thresholds' mean (`none_below`): each seed's excerpts judged (`judged`: cross-validated LRs) against a
    threshold from the other seeds' trials alone."""
    rows = []
    for length, at_length in judged[judged["against"] == ANYONE].groupby("excerpt_tokens"):
        tried = trial_rows[(trial_rows["against"] == ANYONE) & (trial_rows["excerpt_tokens"] == length)]
        called, below = [], []
        for seed, of_seed in at_length.groupby("seed"):
            cut = thresholds(tried[tried["seed"] != seed], false_rejection).get(int(length), 0.0)
            best = best_lrs(of_seed.dropna(subset=["log10_lr"]))
            called.append(best.assign(none=best["best"] < cut))
            below.append(cut)
        called = pd.concat(called, ignore_index=True)
        rows.append(
            {
                "against": ANYONE,
                "excerpt_tokens": length,
                "own_called_none": _share(called.loc[called["own"], "none"]),
                "outsiders_called_none": _share(called.loc[~called["own"], "none"]),
                "none_below": float(np.mean(below)),
            }
        )
    return pd.DataFrame(rows, columns=RATE_COLUMNS)


def _share(flags: pd.Series) -> float:
    return float(flags.mean()) if len(flags) else float("nan")


def with_thresholds(calibration: pd.DataFrame, trial_rows: pd.DataFrame, false_rejection: float) -> pd.DataFrame:
    """The calibration (verification.calibrate) with each length's threshold (`none_below`) from its trials."""
    below = thresholds(trial_rows, false_rejection)
    asked = calibration["against"] == ANYONE
    table = calibration.copy()
    table.loc[asked, "none_below"] = table.loc[asked, "excerpt_tokens"].map(below).fillna(0.0)
    return table


def lr_open_set(verdicts: pd.DataFrame, verification: pd.DataFrame) -> pd.DataFrame:
    """The verdicts with "none of the candidates" for each whole text of `verification` whose every candidate's
    log10 LR against anyone else is below its threshold, whatever the test between candidates said."""
    if verification.empty:
        return verdicts
    table = verdicts.copy()
    none = says_none(verification)
    table.loc[table["excerpt_tokens"].isna() & table["text"].map(none).eq(True), "verdict"] = NONE_OF_THEM
    return table
