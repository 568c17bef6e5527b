"""The study's ablation statistics: how well each variant's models tell authors apart, and whether the
variants of one study differ in it. DataFrames in, DataFrames out.

    python -m stylometry.analyze multirun/paper --out analysis/paper --fairness-cut    # writes them as CSVs

Every definition is the study's (ContextLab/llm-stylometry, code/compute_stats.py and
llm_stylometry/analysis/fairness.py, read at commit d90e799):

- **The mean-t test** (compute_average_t_test; the paper's "t(9) = 13.196" and its three variant
  twins). For each seed and model author, the model's losses on the other authors' books (7) against
  its loss on its own author's book (1): t = (mean(other) - own) / (sd(other) / sqrt(n_other)), with
  the *population* sd (numpy's default, ddof=0). The mean of these t over the authors gives one number
  per seed; scipy's one-sample t-test of the seeds' numbers against 0 (two-sided) is the test. A seed
  counts only if every author of the group has a model in it, as in the study.
- **The variant comparison** (compute_cross_variant_comparisons). Per variant, the per-author Welch t
  of the study's Table 1 (stats.author_ttests: other books vs own book, pooled over seeds); for each
  pair of variants, Welch's t-test of the two sets of per-author t (t > 0: the first variant tells
  authors apart better). Pairs are in the study's order: baseline, content, function, pos, then others
  by name.
- **The mean-t curve** (the paper's Fig. 2B, visualization/t_tests.py): at each epoch, the mean over
  authors of the per-author Welch t, with a bootstrap 95% confidence band over authors (1,000
  resamples, percentile: seaborn's default), and the mean over authors of the t at p = alpha.
- **Its threshold crossing** (find_average_threshold_crossing). At each epoch each author gets the
  study's "simple t", (mean(other) - mean(own)) / sqrt((var(other) + var(own)) / 2) with population
  variances, a standardized effect size; a one-sample t-test of these against 0 over the authors gives
  a one-tailed p (p / 2). The crossing is the first epoch with p < alpha after an epoch without. The
  study computes it only where every author has a t; so do we.
- **The fairness cut** (compute_fairness_threshold, apply_fairness_threshold). Per group, the threshold
  is the highest of the models' lowest training losses within the first `within_epochs` (500) epochs;
  each model is cut at the first epoch its training loss reaches it (its last epoch if it never does)
  and judged at its last evaluation at or before that epoch. The study drew its variant figures at
  this cut, and printed its tables and the tests above at epoch 500 (CAPPED here).
"""

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from stylometry.analysis.load import GROUP, MODEL, TRAIN
from stylometry.analysis.stats import ALPHA, books, crossings, evaluations, where_all_models

CAPPED, FAIR_CUT = "capped", "fair_cut"  # `at` values: each model at its last epoch <= COMPARE_EPOCH; at its cut
COMPARE_EPOCH = 500  # the study's epoch for its tables and tests: its variants trained exactly 500 epochs
STUDY_VARIANTS = ("baseline", "content", "function", "pos")  # the order the study compares variants in
STUDY = ["sweep", "study", "experiment"]  # the variants of one study share these
BOOTSTRAP_RESAMPLES = 1000  # seaborn's default for its error bands, which the study's figures used
BAND_SEED = 0  # bands are drawn from a fixed seed: the same data gives the same report


# ---- the mean-t test over seeds -----------------------------------------------------------------


def seed_mean_t(book_rows: pd.DataFrame) -> pd.DataFrame:
    """Per group and seed: the mean over model authors of the study's single-seed t (see the module
    docstring). Columns GROUP + seed, mean_t, num_authors, complete (every author of the group has a
    finite t in this seed: only complete seeds enter the test)."""
    columns = GROUP + ["seed", "mean_t", "num_authors", "complete"]
    if book_rows.empty:
        return pd.DataFrame(columns=columns)
    is_own = book_rows["eval_set"] == book_rows["model_author"]
    keys = GROUP + ["model_author", "seed"]
    own = book_rows[is_own].groupby(keys)["loss"].mean().rename("own")
    grouped = book_rows[~is_own].groupby(keys)["loss"]
    other = pd.DataFrame({"mean": grouped.mean(), "sd": grouped.std(ddof=0), "n": grouped.size()})
    per_model = other.join(own, how="inner")
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (per_model["mean"] - per_model["own"]) / (per_model["sd"] / np.sqrt(per_model["n"]))
    per_model = per_model.assign(t=t.where(per_model["sd"] > 0)).reset_index()  # the study skips sd = 0
    authors = book_rows.groupby(GROUP)["model_author"].nunique().rename("group_authors").reset_index()
    per_seed = (
        per_model.dropna(subset=["t"])
        .groupby(GROUP + ["seed"], as_index=False)
        .agg(mean_t=("t", "mean"), num_authors=("t", "size"))
        .merge(authors, on=GROUP)
    )
    per_seed["complete"] = per_seed["num_authors"] == per_seed.pop("group_authors")
    return per_seed[columns]


def mean_t_test(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Per group: the one-sample t-test (two-sided) of the complete seeds' mean t against 0."""
    rows = []
    for key, sub in per_seed.groupby(GROUP, sort=False):
        values = sub.loc[sub["complete"].astype(bool), "mean_t"].to_numpy(dtype=float)
        row = dict(
            zip(GROUP, key),
            num_seeds=len(values),
            num_incomplete_seeds=int((~sub["complete"].astype(bool)).sum()),
            mean_t=float(values.mean()) if len(values) else np.nan,
            t=np.nan,
            df=np.nan,
            p=np.nan,
        )
        if len(values) >= 2:
            result = stats.ttest_1samp(values, 0.0)
            row.update(t=float(result.statistic), df=float(result.df), p=float(result.pvalue))
        rows.append(row)
    return pd.DataFrame(rows, columns=GROUP + ["num_seeds", "num_incomplete_seeds", "mean_t", "t", "df", "p"])


# ---- the variants compared ----------------------------------------------------------------------


def variant_comparisons(author_ttests: pd.DataFrame) -> pd.DataFrame:
    """For each pair of variants of one study (same sweep, study and experiment), Welch's t-test of their
    per-author t (author_ttests of each variant), separately for each `at` if the table has one. t > 0:
    variant_a's models tell authors apart better."""
    within = STUDY + (["at"] if "at" in author_ttests.columns else [])
    columns = within + [
        "variant_a",
        "variant_b",
        "num_authors_a",
        "num_authors_b",
        "mean_t_a",
        "mean_t_b",
        "t",
        "df",
        "p",
    ]
    rows = []
    for key, sub in author_ttests.dropna(subset=["t"]).groupby(within, sort=False):
        t_by_variant = {variant: group["t"].to_numpy(dtype=float) for variant, group in sub.groupby("variant")}
        for variant_a, variant_b in combinations(variant_order(t_by_variant), 2):
            a, b = t_by_variant[variant_a], t_by_variant[variant_b]
            row = dict(
                zip(within, key),
                variant_a=variant_a,
                variant_b=variant_b,
                num_authors_a=len(a),
                num_authors_b=len(b),
                mean_t_a=a.mean(),
                mean_t_b=b.mean(),
                t=np.nan,
                df=np.nan,
                p=np.nan,
            )
            if len(a) >= 2 and len(b) >= 2:
                result = stats.ttest_ind(a, b, equal_var=False)
                row.update(t=float(result.statistic), df=float(result.df), p=float(result.pvalue))
            rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def variant_order(variants: Sequence[str]) -> list:
    """The study's variants in its order, then any others by name."""
    known = [v for v in STUDY_VARIANTS if v in variants]
    return known + sorted(v for v in variants if v not in STUDY_VARIANTS)


# ---- the mean-t curve and its crossing ----------------------------------------------------------


def mean_t_by_epoch(by_epoch: pd.DataFrame, losses: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Per group and epoch at which every model author of the group has a Welch t (stats.ttests_by_epoch):
    mean_t and its bootstrap 95% band over authors (ci_low, ci_high), critical_t (the mean over authors of
    the two-sided t of p = alpha), and the study's effect-size test (effect_mean, effect_t, effect_df,
    effect_p: one-tailed)."""
    columns = GROUP + [
        "epoch",
        "num_authors",
        "mean_t",
        "ci_low",
        "ci_high",
        "critical_t",
        "effect_mean",
        "effect_t",
        "effect_df",
        "effect_p",
    ]
    tests = by_epoch.dropna(subset=["t"])
    parts = []
    for key, sub in tests.groupby(GROUP, sort=False):
        t_matrix = sub.pivot_table(index="model_author", columns="epoch", values="t")
        complete = t_matrix.columns[t_matrix.notna().all(axis=0)]
        t_matrix = t_matrix[complete]
        if t_matrix.empty:
            continue
        critical = stats.t.isf(alpha / 2, sub.pivot_table(index="model_author", columns="epoch", values="df")[complete])
        low, high = bootstrap_band(t_matrix.to_numpy())
        part = pd.DataFrame(
            {
                "epoch": complete,
                "num_authors": len(t_matrix),
                "mean_t": t_matrix.mean().to_numpy(),
                "ci_low": low,
                "ci_high": high,
                "critical_t": critical.mean(axis=0),
            }
        )
        parts.append(part.assign(**dict(zip(GROUP, key))))
    if not parts:
        return pd.DataFrame(columns=columns)
    curve = pd.concat(parts, ignore_index=True).merge(effect_size_test(losses), on=GROUP + ["epoch"], how="left")
    return curve[columns]


def effect_size_test(losses: pd.DataFrame) -> pd.DataFrame:
    """Per group and epoch at which every model author has its models evaluated: the study's one-sample
    test of the per-author effect sizes (module docstring), one-tailed."""
    rows = where_all_models(books(losses), GROUP + ["model_author"])
    if rows.empty:
        return pd.DataFrame(columns=GROUP + ["epoch", "effect_mean", "effect_t", "effect_df", "effect_p"])
    rows = rows.assign(own=rows["eval_set"] == rows["model_author"])
    grouped = rows.groupby(GROUP + ["epoch", "model_author", "own"])["loss"]
    moments = pd.DataFrame({"mean": grouped.mean(), "var": grouped.var(ddof=0)}).unstack("own")
    with np.errstate(divide="ignore", invalid="ignore"):
        effect = (moments[("mean", False)] - moments[("mean", True)]) / np.sqrt(
            (moments[("var", False)] + moments[("var", True)]) / 2
        )
    effect = effect.replace([np.inf, -np.inf], np.nan).rename("effect").reset_index()
    parts = []
    for key, sub in effect.groupby(GROUP, sort=False):
        matrix = sub.pivot_table(index="model_author", columns="epoch", values="effect", dropna=False)
        matrix = matrix.reindex(columns=sorted(sub["epoch"].unique()))
        matrix = matrix.loc[:, matrix.notna().all(axis=0)]  # the study: only epochs where every author has one
        if matrix.shape[0] < 2 or matrix.empty:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            result = stats.ttest_1samp(matrix.to_numpy(), 0.0, axis=0)
        parts.append(
            pd.DataFrame(
                {
                    "epoch": matrix.columns,
                    "effect_mean": matrix.mean().to_numpy(),
                    "effect_t": result.statistic,
                    "effect_df": result.df,
                    "effect_p": result.pvalue / 2,
                }
            ).assign(**dict(zip(GROUP, key)))
        )
    if not parts:
        return pd.DataFrame(columns=GROUP + ["epoch", "effect_mean", "effect_t", "effect_df", "effect_p"])
    return pd.concat(parts, ignore_index=True)


def mean_t_onset(curve: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Per group, from mean_t_by_epoch: crossing_epoch (the study's: the effect-size test's one-tailed p
    falls below alpha after an epoch it was not), first_below and stays_below_from for that p, and
    above_critical_from (the epoch from which the mean t stays above the mean critical t)."""
    rows = []
    for key, sub in curve.sort_values("epoch").groupby(GROUP, sort=False):
        epochs = sub["epoch"].to_numpy()
        tested = sub["effect_p"].notna().to_numpy()
        first, crossed, stays = crossings(epochs[tested], (sub["effect_p"].to_numpy()[tested] < alpha))
        _, _, above = crossings(epochs, (sub["mean_t"] > sub["critical_t"]).to_numpy())
        rows.append((*key, crossed, first, stays, above, int(epochs[-1])))
    table = pd.DataFrame(
        rows, columns=GROUP + ["crossing_epoch", "first_below", "stays_below_from", "above_critical_from", "last_epoch"]
    )
    for column in table.columns[len(GROUP) :]:
        table[column] = table[column].astype("Int64")
    return table


def bootstrap_band(samples: np.ndarray, confidence: float = 0.95):
    """(low, high) of the bootstrap percentile interval of the mean over axis 0, for every column at once."""
    if samples.shape[0] < 2:
        return np.full(samples.shape[1], np.nan), np.full(samples.shape[1], np.nan)
    with np.errstate(invalid="ignore"):  # an infinite t (losses without variance) has no band: NaN, as it should
        result = stats.bootstrap(
            (samples,),
            np.mean,
            axis=0,
            vectorized=True,
            method="percentile",
            n_resamples=BOOTSTRAP_RESAMPLES,
            confidence_level=confidence,
            rng=np.random.default_rng(BAND_SEED),
        )
    return result.confidence_interval.low, result.confidence_interval.high


# ---- the fairness cut ---------------------------------------------------------------------------


def fairness_cut(losses: pd.DataFrame, within_epochs: int = COMPARE_EPOCH) -> pd.DataFrame:
    """Per model: GROUP's threshold (the highest of its models' lowest training losses within the first
    `within_epochs` epochs), cut_epoch (the model's first epoch with training loss <= threshold, or its
    last epoch if none: reached False), train_loss_at_cut, and judged_epoch (its last evaluation at or
    before the cut: the epoch it is judged at)."""
    columns = MODEL + ["threshold", "cut_epoch", "train_loss_at_cut", "reached", "judged_epoch"]
    train = losses[losses["eval_set"] == TRAIN].sort_values("epoch")
    if train.empty:
        return pd.DataFrame(columns=columns)
    lowest = train[train["epoch"] <= within_epochs].groupby(MODEL)["loss"].min()
    thresholds = lowest.groupby(GROUP).max().rename("threshold").reset_index()
    train = train.merge(thresholds, on=GROUP)
    reached = train[train["loss"] <= train["threshold"]].groupby(MODEL).head(1).assign(reached=True)
    last = train.groupby(MODEL).tail(1).assign(reached=False)
    cut = pd.concat([reached, last]).drop_duplicates(MODEL, keep="first")
    cut = cut.rename(columns={"epoch": "cut_epoch", "loss": "train_loss_at_cut"})[MODEL + columns[len(MODEL) : -1]]
    evaluated = evaluations(losses)[MODEL + ["epoch"]].drop_duplicates().merge(cut[MODEL + ["cut_epoch"]], on=MODEL)
    judged = (
        evaluated[evaluated["epoch"] <= evaluated["cut_epoch"]]
        .groupby(MODEL)["epoch"]
        .max()
        .rename("judged_epoch")
        .reset_index()
    )
    cut = cut.merge(judged, on=MODEL, how="left")
    cut["judged_epoch"] = cut["judged_epoch"].astype("Int64")
    return cut[columns].sort_values(MODEL, kind="stable").reset_index(drop=True)


def cut_limits(cut: pd.DataFrame) -> pd.DataFrame:
    """The fairness cut as the per-model limits stats.up_to() takes."""
    return cut[MODEL].assign(limit=cut["cut_epoch"])
