"""The study's statistics on the tidy loss table: pure functions, DataFrames in and out.

    python -m stylometry.analyze multirun/paper --out analysis/paper    # writes each table as a CSV

Vocabulary. A *book* is an eval set named after a model author of the same group: that author's
held-out book for the seed. Any other eval set but `train` is an *extra* set (the contested Oz book,
the non-Oz books), evaluated by some models only. Every function works within GROUP (one input,
experiment and variant): variants are never pooled.

How the study computed its Table 1 (ContextLab/llm-stylometry, code/compute_stats.py,
generate_author_comparison_table; the same in code/t_tests.py, self_others_ttest): each model's last
logged row per eval set (`groupby([train_author, loss_dataset, seed]).tail(1)`, i.e. every model at its
own final epoch); for model author A, `own` = the 10 losses of A's models on A's held-out book (one per
seed), `other` = the 70 losses of the same models on the 7 other authors' books, pooled over seeds;
`scipy.stats.ttest_ind(other, own, equal_var=False)`. author_ttests() below is that test.
"""

import contextlib
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from stylometry.analysis.load import GROUP, MODEL, TRAIN
from stylometry.analysis.normalized import NORMALIZED, normalized_scores, reference_losses

OWN_FINAL, COMMON = "own_final", "common"  # the two ways to choose the epoch a model is judged at
ALPHA = 0.001  # the study's significance threshold


# ---- which rows ---------------------------------------------------------------------------------


def evaluations(losses: pd.DataFrame) -> pd.DataFrame:
    return losses[losses["eval_set"] != TRAIN]


def books(losses: pd.DataFrame) -> pd.DataFrame:
    """Rows on an author's held-out book. The author set is read from the data (a group's model
    authors), never listed here: a new author is a config change."""
    authors = losses[GROUP + ["model_author"]].drop_duplicates().rename(columns={"model_author": "eval_set"})
    return evaluations(losses).merge(authors, on=GROUP + ["eval_set"])


def extra_sets(losses: pd.DataFrame) -> pd.DataFrame:
    """Rows on eval sets that are neither `train` nor an author's book (contested, non-Oz books)."""
    authors = losses[GROUP + ["model_author"]].drop_duplicates().rename(columns={"model_author": "eval_set"})
    evals = evaluations(losses).merge(authors.assign(is_book=True), on=GROUP + ["eval_set"], how="left")
    return evals[evals["is_book"].isna()].drop(columns="is_book")


def where_all_models(rows: pd.DataFrame, within: list[str]) -> pd.DataFrame:
    """The rows at epochs that every model of each `within` group has: so a comparison over epochs
    compares the same models at every point, and no curve jumps where a model stopped."""
    models = rows[MODEL + ["epoch"]].drop_duplicates()
    per_epoch = models.groupby(within + ["epoch"]).size().rename("num_models").reset_index()
    total = models[MODEL].drop_duplicates().groupby(within).size().rename("total").reset_index()
    complete = per_epoch.merge(total, on=within)
    complete = complete.loc[complete["num_models"] == complete["total"], within + ["epoch"]]
    return rows.merge(complete, on=within + ["epoch"])


def common_epochs(losses: pd.DataFrame) -> pd.DataFrame:
    """Per group, the largest epoch every model of the group was evaluated at (GROUP + common_epoch)."""
    complete = where_all_models(evaluations(losses), GROUP)
    return complete.groupby(GROUP, as_index=False)["epoch"].max().rename(columns={"epoch": "common_epoch"})


def at_epoch(losses: pd.DataFrame, at: str) -> pd.DataFrame:
    """The evaluation rows each model is judged by: OWN_FINAL (its own last evaluated epoch, as the
    study does: models stop at different epochs) or COMMON (the group's common epoch)."""
    evals = evaluations(losses)
    if at == OWN_FINAL:
        return evals[evals["epoch"] == evals.groupby(MODEL)["epoch"].transform("max")]
    if at == COMMON:
        chosen = common_epochs(losses).rename(columns={"common_epoch": "epoch"})
        return evals.merge(chosen, on=GROUP + ["epoch"])
    raise ValueError(f"at={at!r}: use {OWN_FINAL!r} or {COMMON!r}")


def up_to(losses: pd.DataFrame, limit) -> pd.DataFrame:
    """Each model's evaluation rows at its last evaluated epoch at or before `limit`: one epoch for every
    model (the study's "epoch 500": `epochs_completed <= 500`, then each eval set's last row), or a table
    of MODEL + limit, one per model (the fairness cut)."""
    evals = evaluations(losses)
    if isinstance(limit, pd.DataFrame):
        evals = evals.merge(limit[MODEL + ["limit"]], on=MODEL)
        evals = evals[evals["epoch"] <= evals["limit"]].drop(columns="limit")
    else:
        evals = evals[evals["epoch"] <= limit]
    return evals[evals["epoch"] == evals.groupby(MODEL)["epoch"].transform("max")]


# ---- the score compared --------------------------------------------------------------------------


def normalized(losses: pd.DataFrame) -> pd.DataFrame:
    """Each evaluation loss as the normalized score (stylometry.analysis.normalized), the reference books being the
    group's held-out books at that epoch, in `loss`; the loss as logged in `logged_loss`; training rows as logged."""
    keys = MODEL + ["epoch"]
    evals = normalized_scores(evaluations(losses), reference_losses(books(losses), keys), keys, require=False)
    evals = evals.assign(logged_loss=evals["loss"], loss=evals[NORMALIZED])
    train = losses[losses["eval_set"] == TRAIN].assign(logged_loss=lambda rows: rows["loss"])
    return pd.concat([train, evals.drop(columns=["reference_loss", NORMALIZED])], ignore_index=True)


# ---- attribution --------------------------------------------------------------------------------


def lowest_loss_author(book_rows: pd.DataFrame) -> pd.DataFrame:
    """For each seed and held-out book: the model author whose model has the lowest loss on it.

    Columns GROUP + seed, book, attributed_to, loss, own_author_loss (the book author's model; NaN if
    that model is missing), num_models (how many models competed), own_model (whether the book's author
    has a model in that seed: a book without one cannot be attributed correctly, and accuracy() counts it
    apart), correct. An exact tie (untrained models) goes to the first of the tied authors by name, so the
    answer does not depend on file order."""
    keys = GROUP + ["seed", "eval_set"]
    if book_rows.empty:
        return pd.DataFrame(
            columns=GROUP
            + ["seed", "book", "attributed_to", "loss", "own_author_loss", "num_models", "own_model", "correct"]
        )
    book_rows = book_rows.sort_values("model_author", kind="stable")
    best = book_rows.loc[book_rows.groupby(keys)["loss"].idxmin(), keys + ["model_author", "loss"]]
    own = book_rows[book_rows["model_author"] == book_rows["eval_set"]][keys + ["loss"]]
    counts = book_rows.groupby(keys).size().rename("num_models").reset_index()
    table = (
        best.merge(own.rename(columns={"loss": "own_author_loss"}), on=keys, how="left")
        .merge(counts, on=keys)
        .rename(columns={"eval_set": "book", "model_author": "attributed_to"})
    )
    table["own_model"] = table["own_author_loss"].notna()
    table["correct"] = table["attributed_to"] == table["book"]
    return table.sort_values(GROUP + ["seed", "book"], kind="stable").reset_index(drop=True)


def accuracy(attribution: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Attribution accuracy per seed, and over all seeds (the row whose seed is <NA>). num_books counts
    the books whose author has a model in that seed; num_without_own_model, the others (not scored)."""
    keys = GROUP + list(by)
    scored = attribution.assign(
        scored=attribution["own_model"].astype(bool),
        hit=attribution["correct"].astype(bool) & attribution["own_model"].astype(bool),
    )

    def count(grouped):
        return grouped.agg(num_books=("scored", "sum"), num_correct=("hit", "sum"), num_listed=("scored", "size"))

    per_seed = count(scored.groupby(keys + ["seed"], as_index=False))
    overall = count(scored.groupby(keys, as_index=False))
    overall["seed"] = pd.NA
    table = pd.concat([per_seed, overall], ignore_index=True)
    table["seed"] = table["seed"].astype("Int64")
    for column in ("num_books", "num_correct", "num_listed"):
        table[column] = table[column].astype(int)
    table["num_without_own_model"] = table.pop("num_listed") - table["num_books"]
    with np.errstate(invalid="ignore", divide="ignore"):
        table["accuracy"] = table["num_correct"] / table["num_books"].where(table["num_books"] > 0)
    return table.sort_values(keys + ["seed"], na_position="last", kind="stable").reset_index(drop=True)


def accuracy_by_epoch(losses: pd.DataFrame) -> pd.DataFrame:
    """Attribution accuracy at every epoch, over the seeds whose models were all evaluated then."""
    book_rows = where_all_models(books(losses), GROUP + ["seed"])
    return accuracy(lowest_loss_author_by_epoch(book_rows), by=("epoch",))


def lowest_loss_author_by_epoch(book_rows: pd.DataFrame) -> pd.DataFrame:
    keys = GROUP + ["epoch", "seed", "eval_set"]
    if book_rows.empty:
        return pd.DataFrame(columns=keys + ["attributed_to", "own_model", "correct"])
    book_rows = book_rows.sort_values("model_author", kind="stable")  # ties go to the first by name
    best = book_rows.loc[book_rows.groupby(keys)["loss"].idxmin(), keys + ["model_author"]]
    best = best.rename(columns={"model_author": "attributed_to", "eval_set": "book"})
    models = book_rows[GROUP + ["seed", "model_author"]].drop_duplicates().rename(columns={"model_author": "book"})
    best = best.merge(models.assign(own_model=True), on=GROUP + ["seed", "book"], how="left")
    best["own_model"] = best["own_model"].fillna(False).astype(bool)
    best["correct"] = best["attributed_to"] == best["book"]
    return best


def confusion(book_rows: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Mean loss of each model author's models on each author's held-out book (long form; pivot
    model_author x book to read it as the study's heatmap)."""
    keys = GROUP + list(by) + ["model_author", "eval_set"]
    table = book_rows.groupby(keys, as_index=False).agg(mean_loss=("loss", "mean"), num_seeds=("loss", "size"))
    return table.rename(columns={"eval_set": "book"})


# ---- own book vs other authors' books -----------------------------------------------------------


def welch(other: np.ndarray, own: np.ndarray) -> tuple[float, float, float]:
    """Welch's t-test of `other` against `own` (t > 0: the other books' losses are higher)."""
    if len(other) < 2 or len(own) < 2:
        return np.nan, np.nan, np.nan  # no variance to estimate
    with _constant_samples_allowed():
        result = stats.ttest_ind(other, own, equal_var=False)
    return float(result.statistic), float(result.df), float(result.pvalue)


def author_ttests(book_rows: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per model author, its models' losses on other authors' books vs on its own author's book:
    the study's Table 1 when book_rows = books(at_epoch(losses, OWN_FINAL)); with by=("epoch",), one
    test per epoch."""
    keys = GROUP + list(by) + ["model_author"]
    columns = keys + ["num_own", "num_other", "mean_own", "mean_other", "t", "df", "p"]
    if book_rows.empty:
        return pd.DataFrame(columns=columns)
    is_own = book_rows["eval_set"] == book_rows["model_author"]
    own, other = _samples(book_rows[is_own], keys).align(_samples(book_rows[~is_own], keys), join="outer", axis=0)
    index, own, other = own.index, own.to_numpy(), other.to_numpy()
    num_own, num_other = (~np.isnan(own)).sum(axis=1), (~np.isnan(other)).sum(axis=1)
    t, df, p = (np.full(len(own), np.nan) for _ in range(3))
    # One vectorised scipy call per sample-size pair: the samples fill each row's first columns.
    for n_own, n_other in set(zip(num_own, num_other)):
        rows = (num_own == n_own) & (num_other == n_other)
        if n_own >= 2 and n_other >= 2:
            with _constant_samples_allowed():
                result = stats.ttest_ind(other[rows, :n_other], own[rows, :n_own], axis=1, equal_var=False)
            t[rows], df[rows], p[rows] = result.statistic, result.df, result.pvalue
    with np.errstate(invalid="ignore", divide="ignore"):  # the mean of no sample is NaN, as it should be
        mean_own = np.nansum(own, axis=1) / num_own
        mean_other = np.nansum(other, axis=1) / num_other
    table = index.to_frame(index=False)
    table = table.assign(
        num_own=num_own, num_other=num_other, mean_own=mean_own, mean_other=mean_other, t=t, df=df, p=p
    )
    return table[columns]


def _samples(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per key, its losses in the first columns (NaN after): a matrix for vectorised tests."""
    if rows.empty:
        return pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=keys), columns=pd.RangeIndex(0), dtype=float)
    numbered = rows.assign(sample=rows.groupby(keys).cumcount())
    return numbered.set_index(keys + ["sample"])["loss"].unstack("sample")


def ttests_by_epoch(losses: pd.DataFrame) -> pd.DataFrame:
    """author_ttests at every epoch all of an author's models were evaluated at (the study's t-curves)."""
    book_rows = where_all_models(books(losses), GROUP + ["model_author"])
    return author_ttests(book_rows, by=("epoch",))


def significance_onset(by_epoch: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Per model author: first_below (the first epoch with p < alpha, the study's "crossed at epoch")
    and stays_below_from (the epoch from which p < alpha at every later epoch; <NA> if the last is not)."""
    rows = []
    for key, sub in by_epoch.sort_values("epoch").groupby(GROUP + ["model_author"], sort=True):
        epochs = sub["epoch"].to_numpy()
        first, _, stays = crossings(epochs, (sub["p"] < alpha).to_numpy())
        rows.append((*key, first, stays, int(epochs[-1]) if len(epochs) else None))
    table = pd.DataFrame(rows, columns=GROUP + ["model_author", "first_below", "stays_below_from", "last_epoch"])
    for column in ("first_below", "stays_below_from", "last_epoch"):
        table[column] = table[column].astype("Int64")
    return table


def crossings(epochs: np.ndarray, below: np.ndarray) -> tuple[int | None, int | None, int | None]:
    """(first, crossed, stays) for a series over epochs in order: the first epoch below the threshold;
    the first epoch below it after an epoch that was not (the study's threshold crossing,
    compute_stats.find_*_threshold_crossing: a series below from its start never "crosses"); and the
    epoch from which it stays below to the end. None where there is none."""
    if not below.any():
        return None, None, None
    first = int(epochs[below.argmax()])
    above = np.flatnonzero(~below)
    after = np.flatnonzero(below & (np.arange(len(below)) > above[0])) if len(above) else np.array([], dtype=int)
    crossed = int(epochs[after[0]]) if len(after) else None
    stays = None
    if below[-1]:
        stays = int(epochs[above[-1] + 1]) if len(above) else int(epochs[0])
    return first, crossed, stays


# ---- the contested book and the other extra sets ------------------------------------------------


def extra_set_verdicts(extra_rows: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """For each extra set (the contested Oz book, the non-Oz books): the model author with the lowest
    mean loss on it, against the runner-up (the other Oz author when two evaluated it).

    welch_*: Welch's t-test, runner-up's losses vs the attributed author's (t > 0 favours the
    attribution). paired_*: the paired t-test over seeds both have, which the study reported for the
    contested book (code/t_tests.py, baum_thompson_ttest: ttest_rel over seeds 0-9). seeds_won: in
    how many of those seeds the attributed author's model had the lower loss. With by=("epoch",), one
    verdict per epoch."""
    keys = GROUP + list(by) + ["eval_set"]
    rows = []
    # One model per (seed, model author) and set: a seeds x authors matrix per set, without pivot_table's cost.
    by_seed_all = extra_rows.set_index(keys + ["seed", "model_author"])["loss"].unstack("model_author")
    for key, by_seed in by_seed_all.groupby(level=keys, sort=True):
        by_seed = by_seed.dropna(axis=1, how="all")
        means = by_seed.mean().sort_values(kind="stable")
        best = means.index[0]
        row = dict(
            zip(keys, key), attributed_to=best, mean_loss=means.iloc[0], num_seeds=int(by_seed[best].notna().sum())
        )
        if len(means) >= 2:
            runner_up = means.index[1]
            shared = by_seed[[best, runner_up]].dropna()
            row.update(
                runner_up=runner_up,
                runner_up_mean_loss=means.iloc[1],
                runner_up_num_seeds=int(by_seed[runner_up].notna().sum()),
                num_paired_seeds=len(shared),
                seeds_won=int((shared[best] < shared[runner_up]).sum()),
            )
            row["welch_t"], row["welch_df"], row["welch_p"] = welch(
                by_seed[runner_up].dropna().to_numpy(), by_seed[best].dropna().to_numpy()
            )
            if len(shared) >= 2:
                with _constant_samples_allowed():
                    paired = stats.ttest_rel(shared[runner_up], shared[best])
                row.update(paired_t=float(paired.statistic), paired_df=float(paired.df), paired_p=float(paired.pvalue))
        rows.append(row)
    columns = EXTRA_COLUMNS[: len(GROUP)] + list(by) + EXTRA_COLUMNS[len(GROUP) :]
    table = pd.DataFrame(rows, columns=columns)
    for column in ("num_seeds", "runner_up_num_seeds", "num_paired_seeds", "seeds_won"):
        table[column] = table[column].astype("Int64")  # counts stay counts where a set has no runner-up
    return table


def extra_sets_by_epoch(losses: pd.DataFrame) -> pd.DataFrame:
    """The extra sets' verdicts at every epoch that every model evaluating them reached: how early
    (how cheaply) the contested book's attribution settles, and by what margin."""
    table = extra_set_verdicts(where_all_models(extra_sets(losses), GROUP), by=("epoch",))
    table["margin"] = table["runner_up_mean_loss"] - table["mean_loss"]  # > 0: how far ahead the attributed author is
    return table


EXTRA_COLUMNS = GROUP + [
    "eval_set",
    "attributed_to",
    "mean_loss",
    "num_seeds",
    "runner_up",
    "runner_up_mean_loss",
    "runner_up_num_seeds",
    "welch_t",
    "welch_df",
    "welch_p",
    "paired_t",
    "paired_df",
    "paired_p",
    "num_paired_seeds",
    "seeds_won",
]


@contextlib.contextmanager
def _constant_samples_allowed():
    """Identical losses (every model untrained at epoch 0, or logged values that repeat) make scipy warn
    of precision loss; the test is then undefined or infinite, and the tables show it as it is."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        yield
