"""Did this candidate write the text? A likelihood ratio for each candidate, calibrated on the study's own held-out
books, with the metrics the verification literature judges one by.

    python -m stylometry.attribute multirun/corpus/paper letter.txt --authors baum --out attribution/v     # one
    python -m stylometry.attribute multirun/corpus/paper --held-out --out attribution/held_out  # verification.csv

The evidence is two **verification scores** of a candidate model on the text. Its *score*: its loss minus its own
mean loss on its seed's held-out books of every author of the study (a model better at English in general gains
nothing). Its *relative score*: that score minus the mean score of the seed's models of the other authors (the
reference: the other candidates' models and, where --authors chose fewer than the study holds, the impostors', all
trained exactly as the candidate was). The score alone mostly measures how hard the text is, which the reference
cancels: on a three-author small study its AUC was 0.74-0.77 where the two together gave 0.93-0.95
(docs/attribution.md). On its own author's unseen text a model scores below its level and below the others.

**Trials whose answer is known.** Each seed's held-out book of every author of the study, cut into excerpts of
each length the calibration uses, is scored by every model of that seed (none trained on it): a same-author trial
for the candidate whose book it is, a different-author trial for each other candidate. A trial's score is read
against the level a questioned text is (the model's mean on every held-out book of its seed, the excerpt's own
among them), so the level never depends on the trial's answer; its relative score leaves the excerpt's author's
model out of the reference, as an outsider's text has no model. A study of two authors and no impostors (neither
more authors of the study, nor another study's writers: --impostors, runs/impostor_study.py) thus has no reference
for a different-author trial, and is calibrated on the score alone.

**The calibration** maps the scores to log10 LR at each length by logistic regression (Brümmer's linear fusion: an
affine map of the scores to log odds, minus the trials' prior log odds), fitted on every trial of that length. It
has three parameters (so a few dozen trials fit it), is affine in each score, and its C_llr is the measure it
minimises. A text of n tokens is judged at the longest calibrated length at most n (the shortest where n is shorter
than all). Each seed's model gives one log10 LR; the text's is their mean, with the seeds' range as its interval
(the seeds are not independent evidence, so their log LRs are not summed). Where every candidate's LR is below its
length's threshold (1 or less, at a stated false rejection: attribution/none_of_them.py), the text is none of the
candidates.

**Measured on the same trials** (`--held-out`: verification.csv): each seed's trials judged by a calibration fitted
on the other seeds' trials only, so no trial calibrates the model it is judged by; per length the AUC, C_llr and
C_llr^min (the PAV-optimal calibration of the same scores: what no recalibration can beat), the Brier score, c@1 and
F0.5u (PAN's: |log10 LR| < 1, "limited support" at most, is left unanswered), and the shares of own-author trials
rejected and of other authors' accepted (the open set's rates are none_of_them.rates').
"""

import math

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from stylometry.analysis.normalized import reference_losses
from stylometry.attribution.texts import Text

MIN_TRIALS = 10  # same-author and different-author trials each, at a length: a calibration from fewer is a guess
UNANSWERED = 1.0  # |log10 LR| below this (ENFSI: at most "limited support") is no answer for c@1 and F0.5u
# `against`: ANYONE (the candidate against everyone else) or, for two candidates, the other (LR(A vs B)).
ANYONE = "anyone else"
TRIAL_COLUMNS = [
    "excerpt_tokens",
    "seed",
    "candidate",
    "against",
    "author",
    "book",
    "excerpt",
    "score",
    "relative",
    "pair_score",  # the loss minus the model's mean on the two candidates' held-out books: LR(A vs B)'s
    "same",
]
MODEL = ["model_author", "seed"]  # one model of a study, in the scores
LOSS_COLUMNS = [*MODEL, "text", "author", "excerpt_tokens", "excerpt", "loss"]  # excerpt_tokens NaN: the whole book
LEVEL_COLUMNS = [*MODEL, "reference_loss", "num_reference_books", "pair_reference_loss"]
CALIBRATION_COLUMNS = [
    "against",
    "excerpt_tokens",
    "slope",
    "slope_relative",
    "intercept",
    "num_same",
    "num_different",
    "none_below",  # the open set's threshold (none_of_them.py): every candidate's log10 LR below it is none of them
]
FEATURES = ["score", "relative"]
UNIT = ["text", "excerpt_tokens", "excerpt", "seed"]  # an excerpt of a held-out book, as one seed's models read it
METRIC_COLUMNS = [
    "against",
    "excerpt_tokens",
    "num_same",
    "num_different",
    "auc",
    "c_llr",
    "c_llr_min",
    "brier",
    "c_at_1",
    "f05u",
    "own_rejected",
    "others_accepted",
]
VERIFICATION_COLUMNS = [
    "candidate",
    "against",
    "log10_lr",
    "log10_lr_low",
    "log10_lr_high",
    "calibrated_tokens",
    "text_tokens",
    "support",
    "none_below",
]
# ENFSI's verbal scale (Guideline for evaluative reporting in forensic science, 2015), by log10 LR.
VERBAL_SCALE = [
    (6, "extremely strong support"),
    (4, "very strong support"),
    (3, "strong support"),
    (2, "moderately strong support"),
    (1, "moderate support"),
    (0, "limited support"),
]


class CalibrationError(ValueError):
    """Too few trials to calibrate on; the message says which and what to do."""


def held_out_losses(book_scores: pd.DataFrame, books: list[Text]) -> pd.DataFrame:
    """Every model's losses on the study's held-out books, whole and cut into excerpts, each with its book's author
    (LOSS_COLUMNS): what the trials and the levels are computed from, and what an attribution keeps (pipeline.py)."""
    author_of = {book.name: book.author for book in books}
    return book_scores.assign(author=book_scores["text"].map(author_of))[LOSS_COLUMNS].reset_index(drop=True)


def trials(losses: pd.DataFrame, candidates: list[str]) -> pd.DataFrame:
    """Every excerpt of every held-out book, scored by each candidate's model of its seed, with its verification
    scores (TRIAL_COLUMNS). losses: held_out_losses of every model, the candidates' and the impostors'."""
    excerpts = losses[losses["excerpt_tokens"].notna()]
    # Each score's level is its model's, the same for every excerpt. A level that left out the excerpt's own book
    # would leave out the model's own author's book on exactly its same-author trials: a level chosen by the answer,
    # which told apart excerpts that carry no author signal (AUC 0.91 in a simulation of two authors, 0.63 of six).
    table = _level_scores(excerpts, model_levels(losses, candidates))
    table = _with_relative(table, UNIT, candidates, leave_out_author=True)
    result = table.rename(columns={"model_author": "candidate", "text": "book"}).assign(
        excerpt_tokens=table["excerpt_tokens"].astype(int), excerpt=table["excerpt"].astype(int)
    )
    result["same"] = result["candidate"] == result["author"]
    result["against"] = ANYONE
    return (
        result[TRIAL_COLUMNS]
        .sort_values(["excerpt_tokens", "seed", "book", "excerpt", "candidate"])
        .reset_index(drop=True)
    )


def model_levels(losses: pd.DataFrame, candidates: list[str]) -> pd.DataFrame:
    """Each model's levels (LEVEL_COLUMNS) from its losses on its seed's whole held-out books (held_out_losses): its
    mean on every author's (the score's, a questioned text's as a trial's) and on the candidates' only (LR(A vs B)'s:
    the pair's question is the two candidates, so its level does not move with the impostors)."""
    whole = losses[losses["excerpt_tokens"].isna()]
    levels = reference_losses(whole, MODEL)
    own = reference_losses(whole[whole["author"].isin(candidates)], MODEL)
    pair = own.rename(columns={"reference_loss": "pair_reference_loss"})[[*MODEL, "pair_reference_loss"]]
    return levels.merge(pair, on=MODEL, how="left")[LEVEL_COLUMNS]


def _level_scores(rows: pd.DataFrame, levels: pd.DataFrame) -> pd.DataFrame:
    """The rows (each a model's `loss` on a text) with `score` (the loss minus the model's level over every held-out
    book) and `pair_score` (minus its level over the candidates' only): one rule for a trial and a questioned text."""
    table = rows.merge(levels[[*MODEL, "reference_loss", "pair_reference_loss"]], on=MODEL, how="left")
    return table.assign(
        score=table["loss"] - table["reference_loss"], pair_score=table["loss"] - table["pair_reference_loss"]
    )


def _with_relative(scored: pd.DataFrame, unit: list[str], candidates: list[str], leave_out_author=False):
    """The candidates' rows of `scored` (every model's `score` on each unit) with `relative`: the score minus the mean
    score of the reference models on the same unit (the seed's models of the other authors; leave_out_author: not
    the unit's author's either, as an outsider's text has no model); NaN where no model is left."""
    group = scored.groupby(unit)["score"].agg(reference_total="sum", reference_count="size").reset_index()
    rows = scored[scored["model_author"].isin(candidates)].merge(group, on=unit)
    total, count = rows["reference_total"] - rows["score"], rows["reference_count"] - 1
    if leave_out_author:
        author_model = scored[[*unit, "model_author", "score"]].rename(
            columns={"model_author": "author", "score": "author_score"}
        )
        author_score = rows[[*unit, "author"]].merge(author_model, on=[*unit, "author"], how="left")["author_score"]
        other = author_score.notna().to_numpy() & (rows["author"] != rows["model_author"]).to_numpy()
        total, count = total - np.where(other, author_score.fillna(0.0), 0.0), count - other.astype(int)
    rows["relative"] = (rows["score"] - total / count.where(count > 0)).astype(float)
    return rows


def pair_trials(trial_rows: pd.DataFrame) -> pd.DataFrame:
    """With two candidates A and B (in name order), LR(A vs B)'s trials (TRIAL_COLUMNS): each excerpt of either's
    held-out books, its score A's pair_score minus B's (each model's level over the two candidates' books, both; no
    relative score: the pair is the whole question); same: A's.
    Empty with any other number of candidates."""
    candidates = sorted(trial_rows["candidate"].unique())
    if len(candidates) != 2:
        return pd.DataFrame(columns=TRIAL_COLUMNS)
    rows = trial_rows[(trial_rows["against"] == ANYONE) & trial_rows["author"].isin(candidates)]
    excerpt = ["excerpt_tokens", "seed", "author", "book", "excerpt"]
    pair = _pair_scores(rows.assign(score=rows["pair_score"]), excerpt, "candidate", candidates)
    return pair.assign(same=pair["author"] == pair["candidate"], pair_score=math.nan)[TRIAL_COLUMNS]


def _pair_scores(rows: pd.DataFrame, unit: list[str], candidate: str, candidates: list[str]) -> pd.DataFrame:
    """One row per unit read by both candidates' models: A's score minus B's (A, B in name order), as A's row
    `against` B, with no relative score."""
    first, second = sorted(candidates)
    wide = rows.pivot_table(index=unit, columns=candidate, values="score").dropna().reset_index()
    return wide.assign(**{candidate: first}, against=second, score=wide[first] - wide[second], relative=math.nan)


def with_pair_trials(trial_rows: pd.DataFrame) -> pd.DataFrame:
    """The trials and, with two candidates, LR(A vs B)'s after them."""
    pair = pair_trials(trial_rows)
    return pd.concat([trial_rows, pair], ignore_index=True) if len(pair) else trial_rows


def calibrate(trial_rows: pd.DataFrame) -> pd.DataFrame:
    """The calibration at each length with enough trials (CALIBRATION_COLUMNS): log10 LR = slope * score +
    slope_relative * relative + intercept (slope_relative NaN: the score alone). A CalibrationError where no length
    has MIN_TRIALS of each kind."""
    rows = []
    for (against, length), at_length in _questions(trial_rows, "excerpt_tokens"):
        fitted = _fit(at_length)
        if fitted is not None:
            below = 0.0 if against == ANYONE else math.nan  # LR < 1, until none_of_them.with_thresholds lowers it
            rows.append({"against": against, "excerpt_tokens": length, **fitted, "none_below": below})
    if not any(row["against"] == ANYONE for row in rows):
        counts = _counts(trial_rows[trial_rows["against"] == ANYONE])
        raise CalibrationError(
            f"too few trials to calibrate on ({counts}; {MIN_TRIALS} of each are needed at a "
            "length): train more seeds, or authors with more books, or pass --excerpt-tokens shorter lengths"
        )
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)


def _questions(rows: pd.DataFrame, *by: str):
    """rows grouped by (against, *by), each candidate against anyone else first."""
    groups = rows.groupby(["against", *by])
    return sorted(groups, key=lambda group: (group[0][0] != ANYONE, group[0]))


def _fit(at_length: pd.DataFrame) -> dict | None:
    """Logistic regression on both scores where every trial has a reference model (Brümmer's linear fusion), on
    the own score alone where some have none (a study of two authors and no impostors)."""
    num_same, num_different = int(at_length["same"].sum()), int((~at_length["same"]).sum())
    if min(num_same, num_different) < MIN_TRIALS:
        return None
    features = FEATURES if at_length["relative"].notna().all() else FEATURES[:1]
    regression = LogisticRegression(C=1e6).fit(at_length[features].to_numpy(), at_length["same"].to_numpy())
    prior_log_odds = math.log(num_same / num_different)
    slopes = list(regression.coef_[0] / math.log(10)) + [math.nan]
    return {
        "slope": slopes[0],
        "slope_relative": slopes[1],
        "intercept": (regression.intercept_[0] - prior_log_odds) / math.log(10),
        "num_same": num_same,
        "num_different": num_different,
    }


def _counts(trial_rows: pd.DataFrame) -> str:
    if trial_rows.empty:
        return "no trials: the study's held-out books give no excerpt of the calibration's lengths"
    return "; ".join(
        f"{length:,} tokens: {int(rows['same'].sum())} same-author, {int((~rows['same']).sum())} different"
        for length, rows in trial_rows.groupby("excerpt_tokens")
    )


def log10_lr(scored: pd.DataFrame, calibration: pd.Series) -> np.ndarray:
    """The log10 LRs of rows with `score` and `relative` through one length's calibration, bounded by its trials:
    no stronger than log10(n + 1) for n trials of the kind the LR argues against (support for a candidate by the
    different-author trials, against one by the same-author trials). A linear calibration extrapolates without limit
    (fitted on 10 and 10 separable trials it gave a text log10 LR +18), but n trials can show a score rare at most
    as one in n + 1; Vergeer et al.'s empirical bounds (ELUB, 2016) rest on the same argument."""
    llr = calibration["slope"] * scored["score"].to_numpy(dtype=float) + calibration["intercept"]
    if not pd.isna(calibration["slope_relative"]):
        llr = llr + calibration["slope_relative"] * scored["relative"].to_numpy(dtype=float)
    upper, lower = math.log10(calibration["num_different"] + 1), -math.log10(calibration["num_same"] + 1)
    return np.clip(llr, lower, upper)


def calibration_at(calibration: pd.DataFrame, num_tokens: int, against: str = ANYONE) -> pd.Series | None:
    """The calibration a text of num_tokens is judged by: the longest length at most num_tokens, else the shortest;
    None where the question (`against`) has none."""
    asked = calibration[calibration["against"] == against].sort_values("excerpt_tokens")
    if asked.empty:
        return None
    fitting = asked[asked["excerpt_tokens"] <= num_tokens]
    return fitting.iloc[-1] if len(fitting) else asked.iloc[0]


def cross_validated(trial_rows: pd.DataFrame) -> pd.DataFrame:
    """The trials with `log10_lr`, each seed's from a calibration fitted on the other seeds' trials of its length;
    NaN where those are too few. A CalibrationError with a single seed."""
    seeds = sorted(trial_rows["seed"].unique())
    if len(seeds) < 2:
        raise CalibrationError(
            f"the likelihood ratio's error rates need two seeds or more (this study has {len(seeds)}): each seed's "
            "trials are judged by a calibration fitted on the others; train more seeds"
        )
    judged = trial_rows.assign(log10_lr=np.nan)
    for (against, length, seed), rows in trial_rows.groupby(["against", "excerpt_tokens", "seed"]):
        asked = (trial_rows["against"] == against) & (trial_rows["excerpt_tokens"] == length)
        others = trial_rows[asked & (trial_rows["seed"] != seed)]
        fitted = _fit(others)
        if fitted is not None:
            judged.loc[rows.index, "log10_lr"] = log10_lr(rows, pd.Series(fitted))
    return judged


def metrics(judged: pd.DataFrame) -> pd.DataFrame:
    """Per length, the cross-validated trials' metrics (METRIC_COLUMNS)."""
    rows = []
    for (against, length), at_length in _questions(judged.dropna(subset=["log10_lr"]), "excerpt_tokens"):
        same, llr = at_length["same"].to_numpy(), at_length["log10_lr"].to_numpy()
        if same.all() or not same.any():
            continue
        rows.append(
            {
                "against": against,
                "excerpt_tokens": length,
                "num_same": int(same.sum()),
                "num_different": int((~same).sum()),
                "auc": roc_auc_score(same, llr),
                "c_llr": c_llr(llr[same], llr[~same]),
                "c_llr_min": c_llr_min(llr, same),
                "brier": _brier(llr, same),
                **_answers(llr, same),
                "own_rejected": float((llr[same] < 0).mean()),
                "others_accepted": float((llr[~same] > 0).mean()),
            }
        )
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def c_llr(same_llr: np.ndarray, different_llr: np.ndarray) -> float:
    """Brümmer & du Preez's log-likelihood-ratio cost, in bits, of log10 LRs: 0 is perfect, 1 is a system that always
    says LR = 1."""
    same_cost = np.mean(np.logaddexp(0, -np.asarray(same_llr) * math.log(10))) / math.log(2)
    different_cost = np.mean(np.logaddexp(0, np.asarray(different_llr) * math.log(10))) / math.log(2)
    return float((same_cost + different_cost) / 2)


def c_llr_min(llr: np.ndarray, same: np.ndarray) -> float:
    """C_llr after the best monotone recalibration of the same scores (pool-adjacent-violators): its discrimination
    alone; C_llr minus this is the cost of miscalibration."""
    posterior = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit_transform(llr, same.astype(float))
    eps = 1e-12
    prior_log_odds = math.log(same.sum() / (~same).sum())
    log_odds = np.log(np.clip(posterior, eps, 1)) - np.log(np.clip(1 - posterior, eps, 1)) - prior_log_odds
    return c_llr(log_odds[same] / math.log(10), log_odds[~same] / math.log(10))


def _brier(llr: np.ndarray, same: np.ndarray) -> float:
    """The mean squared error of the posterior at even prior odds, each kind of trial weighing half."""
    posterior = 1 / (1 + np.power(10.0, -llr))
    return float((np.mean((posterior[same] - 1) ** 2) + np.mean(posterior[~same] ** 2)) / 2)


def _answers(llr: np.ndarray, same: np.ndarray) -> dict:
    """PAN's c@1 and F0.5u, a trial with |log10 LR| < UNANSWERED left unanswered."""
    answered = np.abs(llr) >= UNANSWERED
    accepted = answered & (llr > 0)
    correct = int((answered & (accepted == same)).sum())
    n, unanswered = len(llr), int((~answered).sum())
    true_positive, false_positive = int((accepted & same).sum()), int((accepted & ~same).sum())
    false_negative = int((answered & ~accepted & same).sum())
    denominator = 1.25 * true_positive + 0.25 * (false_negative + unanswered) + false_positive
    return {
        "c_at_1": (correct + unanswered * correct / n) / n,
        "f05u": 1.25 * true_positive / denominator if denominator else 0.0,
    }


def support_words(value: float, candidate: str, against: str = ANYONE) -> str:
    """ENFSI's words for a log10 LR for `candidate` against anyone else (or against the other candidate)."""
    if pd.isna(value):
        return "not calibrated"
    for floor, words in VERBAL_SCALE:
        if abs(value) >= floor:
            if against != ANYONE:
                return (
                    f"{words} for {candidate} over {against}"
                    if value >= 0
                    else f"{words} for {against} over {candidate}"
                )
            return f"{words} for {candidate}" if value >= 0 else f"{words} against {candidate}"
    return "no support either way"


def text_verification(
    scores: pd.DataFrame, levels: pd.DataFrame, texts: list[Text], calibration: pd.DataFrame, candidates: list[str]
) -> pd.DataFrame:
    """Each whole text's log10 LR for each candidate against anyone else, and with two candidates LR(A vs B)
    (VERIFICATION_COLUMNS and `text`): each seed's model's scores (its loss minus its mean on its seed's held-out
    books, `levels`; and that minus the other models' of the seed; for the pair, A's loss minus its mean on the two
    candidates' held-out books, minus B's likewise) through the
    calibration at the text's length; the mean over seeds, the seeds' range as its interval. scores: every model's,
    the candidates' and the impostors'."""
    tokens = {text.name: len(text.tokens) for text in texts}
    whole = scores.loc[scores["excerpt_tokens"].isna(), ["text", *MODEL, "loss"]]
    scored = _level_scores(whole, levels).dropna(subset=["reference_loss"])
    questions = [_with_relative(scored, ["text", "seed"], candidates).assign(against=ANYONE)]
    if len(candidates) == 2:
        pair = scored.assign(score=scored["pair_score"])
        questions.append(_pair_scores(pair, ["text", "seed"], "model_author", candidates))
    rows = []
    for table in questions:
        for (text, candidate, against), seeds in table.groupby(["text", "model_author", "against"], sort=True):
            chosen = calibration_at(calibration, tokens[text], against)
            if chosen is None:
                continue
            llr = log10_lr(seeds, chosen)
            rows.append(
                {
                    "text": text,
                    "candidate": candidate,
                    "against": against,
                    "log10_lr": float(np.mean(llr)),
                    "log10_lr_low": float(np.min(llr)),
                    "log10_lr_high": float(np.max(llr)),
                    "calibrated_tokens": int(chosen["excerpt_tokens"]),
                    "text_tokens": tokens[text],
                    "support": support_words(float(np.mean(llr)), candidate, against),
                    "none_below": chosen["none_below"] if against == ANYONE else math.nan,
                }
            )
    return pd.DataFrame(rows, columns=["text", *VERIFICATION_COLUMNS])


def says_none(verification: pd.DataFrame) -> pd.Series:
    """Per text of `verification`: whether every candidate's log10 LR against anyone else is below its threshold
    (`none_below`: none_of_them.py), the text then none of the candidates."""
    asked = verification[verification["against"] == ANYONE]
    return (asked["log10_lr"] < asked["none_below"]).groupby(asked["text"]).all()


def verification_words(rows: pd.DataFrame) -> str:
    """`; log10 LR at 1,024 tokens: baum +1.52 [+1.10, +1.93] (moderate support for baum), thompson -2.10 [...] (...);
    baum vs thompson +2.3 [...] (...)`: the terminal's words for one text; "none of the candidates" where every
    candidate's LR is below 1."""
    if rows.empty:
        return ""
    asked = rows[rows["against"] == ANYONE]
    parts = [
        f"{row.candidate} {_interval(row)} ({row.support})"
        for row in asked.sort_values("log10_lr", ascending=False).itertuples()
    ]
    first = (asked if len(asked) else rows).iloc[0]
    calibrated, length = int(first["calibrated_tokens"]), int(first["text_tokens"])
    parts += [
        f"{row.candidate} vs {row.against}{_length_if_other(row, calibrated)} {_interval(row)} ({row.support})"
        for row in rows[rows["against"] != ANYONE].itertuples()
    ]
    answer = "; the LR says none of the candidates" if len(asked) and says_none(asked).all() else ""
    short = (
        f" (the text's {length:,} tokens are fewer: its LRs vary more than the calibration's)"
        if length < calibrated
        else ""
    )
    return f"; log10 LR at {calibrated:,} tokens{short}: " + ", ".join(parts) + answer


def _length_if_other(row, calibrated: int) -> str:
    """The pair's calibrated length (`at 1,024 tokens`) where it is not the line's."""
    return "" if row.calibrated_tokens == calibrated else f" at {row.calibrated_tokens:,} tokens"


def _interval(row) -> str:
    return f"{row.log10_lr:+.2f} [{row.log10_lr_low:+.2f}, {row.log10_lr_high:+.2f}]"
