"""Every table of an analysis, computed from the loaded sweeps in one call.

    python -m stylometry.analyze multirun/paper --out analysis/paper    # writes these as CSVs

Tables judged "at" an epoch carry a column `at`: own_final (each model at its own last evaluated
epoch, as the study's Table 1), common (the group's largest epoch every model reached), capped (each
model at its last evaluated epoch at or before the compare epoch, 500: the study's ablation tables and
tests) and, with the fairness cut on, fair_cut (each model at the epoch its training loss reached its
group's common threshold: the study's variant figures).
"""

from dataclasses import dataclass, field, fields

import pandas as pd

from stylometry.analysis import ablation, stats
from stylometry.analysis.load import GROUP, PUBLISHED, Sweeps
from stylometry.analysis.normalized import LOSS
from stylometry.runs.status import COMPLETE

AT_EPOCH = (stats.OWN_FINAL, stats.COMMON, ablation.CAPPED)  # ablation.FAIR_CUT is added when asked for


@dataclass
class Tables:
    results: pd.DataFrame  # the tidy loss table: GROUP, model_author, seed, epoch, eval_set, loss
    runs: pd.DataFrame  # one row per model: state, final_epoch, path
    coverage: pd.DataFrame  # per group: what was found, what is missing or unfinished
    attribution: pd.DataFrame  # per seed and book: the author whose model has the lowest loss
    accuracy: pd.DataFrame  # per seed, and overall (seed <NA>)
    accuracy_by_epoch: pd.DataFrame
    confusion: pd.DataFrame  # mean loss, model author x book (long form)
    confusion_by_epoch: pd.DataFrame
    author_ttests: pd.DataFrame  # the study's Table 1
    ttests_by_epoch: pd.DataFrame
    onset: pd.DataFrame  # first epoch with p < alpha, and the epoch from which it stays so
    extra_sets: pd.DataFrame  # the contested book's verdict, and the non-Oz books'
    extra_sets_by_epoch: pd.DataFrame
    seed_mean_t: pd.DataFrame  # per seed: the mean over authors of the study's single-seed t
    mean_t_tests: pd.DataFrame  # the one-sample test of seed_mean_t (the paper's "t(9) = 13.196")
    variant_comparisons: pd.DataFrame  # each pair of variants of a study: Welch on their per-author t
    mean_t_by_epoch: pd.DataFrame  # the mean-t curve, its band, and the study's effect-size test
    mean_t_onset: pd.DataFrame  # the epoch that curve's test crosses alpha
    fairness: pd.DataFrame  # per model: the fairness threshold and cut (empty unless asked for)
    headline: pd.DataFrame  # one row per group: the numbers to compare across inputs
    alpha: float = stats.ALPHA
    compare_epoch: int = ablation.COMPARE_EPOCH
    problems: list[str] = field(default_factory=list)
    baselines: object | None = None  # baselines.BaselineTables, when they were run
    score: str = LOSS  # what the statistics compare: the loss, or the normalized score (stylometry.analysis.normalized)

    @property
    def at_epochs(self) -> list[str]:
        return list(AT_EPOCH) + ([ablation.FAIR_CUT] if len(self.fairness) else [])

    def csv_tables(self) -> dict[str, pd.DataFrame]:
        tables = {
            f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), pd.DataFrame)
        }
        if not len(self.fairness):
            tables.pop("fairness")  # not asked for
        return {**tables, **(self.baselines.csv_tables() if self.baselines is not None else {})}


def compute_tables(
    sweeps: Sweeps, alpha: float = stats.ALPHA, compare_epoch: int = ablation.COMPARE_EPOCH, fairness_cut: bool = False
) -> Tables:
    losses = sweeps.losses
    judged = {at: stats.at_epoch(losses, at) for at in (stats.OWN_FINAL, stats.COMMON)}
    judged[ablation.CAPPED] = stats.up_to(losses, compare_epoch)
    fairness = ablation.fairness_cut(losses, compare_epoch) if fairness_cut else pd.DataFrame()
    problems = list(sweeps.problems)
    if fairness_cut and fairness.empty:
        problems.append("--fairness-cut: no training losses are logged (eval set `train`), so there is no cut")
    if len(fairness):
        judged[ablation.FAIR_CUT] = stats.up_to(losses, ablation.cut_limits(fairness))

    def each_at(compute) -> pd.DataFrame:
        parts = [_with_at(compute(rows), at) for at, rows in judged.items()]
        return pd.concat(parts, ignore_index=True)

    attribution = each_at(lambda rows: stats.lowest_loss_author(stats.books(rows)))
    author_ttests = each_at(lambda rows: stats.author_ttests(stats.books(rows)))
    seed_mean_t = each_at(lambda rows: ablation.seed_mean_t(stats.books(rows)))
    extra = each_at(lambda rows: stats.extra_set_verdicts(stats.extra_sets(rows)))
    by_epoch = stats.ttests_by_epoch(losses)
    onset = stats.significance_onset(by_epoch, alpha)
    mean_t_curve = ablation.mean_t_by_epoch(by_epoch, losses, alpha)
    accuracy = pd.concat(
        [_with_at(stats.accuracy(attribution[attribution["at"] == at]), at) for at in judged], ignore_index=True
    )
    coverage = compute_coverage(losses, sweeps.runs)
    tables = Tables(
        results=losses,
        runs=sweeps.runs,
        coverage=coverage,
        attribution=attribution,
        accuracy=accuracy,
        accuracy_by_epoch=stats.accuracy_by_epoch(losses),
        confusion=each_at(lambda rows: stats.confusion(stats.books(rows))),
        confusion_by_epoch=stats.confusion(
            stats.where_all_models(stats.books(losses), GROUP + ["model_author"]), by=("epoch",)
        ),
        author_ttests=author_ttests,
        ttests_by_epoch=by_epoch,
        onset=onset,
        extra_sets=extra,
        extra_sets_by_epoch=stats.extra_sets_by_epoch(losses),
        seed_mean_t=seed_mean_t,
        mean_t_tests=pd.concat(
            [_with_at(ablation.mean_t_test(seed_mean_t[seed_mean_t["at"] == at]), at) for at in judged],
            ignore_index=True,
        ),
        variant_comparisons=ablation.variant_comparisons(author_ttests),
        mean_t_by_epoch=mean_t_curve,
        mean_t_onset=ablation.mean_t_onset(mean_t_curve, alpha),
        fairness=fairness,
        headline=pd.DataFrame(),
        alpha=alpha,
        compare_epoch=compare_epoch,
        problems=problems,
    )
    tables.headline = compute_headline(tables)
    return tables


def compute_coverage(losses: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per group, in words a report can print: authors and seeds found, the (author, seed) models
    missing from the grid they span, models not complete, the spread of final epochs."""
    common = stats.common_epochs(losses).set_index(GROUP)["common_epoch"]
    # How many models were evaluated on each eval set: a book every model saw but that no model was
    # trained for belongs to an author with no model here.
    evaluated_by = (
        stats.evaluations(losses)[GROUP + ["eval_set", "model_author", "seed"]]
        .drop_duplicates()
        .groupby(GROUP + ["eval_set"])
        .size()
    )
    rows = []
    for key, group_runs in runs.groupby(GROUP, sort=False):  # in the inputs' order
        authors, seeds = sorted(group_runs["model_author"].unique()), sorted(group_runs["seed"].unique())
        present = set(zip(group_runs["model_author"], group_runs["seed"]))
        missing = [f"{a} seed {s}" for a in authors for s in seeds if (a, s) not in present]
        unfinished = group_runs[~group_runs["state"].isin([COMPLETE, PUBLISHED])]
        counts = evaluated_by.loc[key] if key in evaluated_by.index.droplevel("eval_set") else evaluated_by.iloc[:0]
        orphan_books = sorted(set(counts[counts == len(group_runs)].index) - set(authors))
        rows.append(
            {
                **dict(zip(GROUP, key)),
                "num_models": len(group_runs),
                "authors": ", ".join(authors),
                "seeds": ", ".join(str(s) for s in seeds),
                "missing_models": "; ".join(missing),
                "not_complete": "; ".join(
                    f"{r.model_author} seed {r.seed} ({r.state}, epoch {r.final_epoch})"
                    for r in unfinished.itertuples()
                ),
                "min_final_epoch": group_runs["final_epoch"].min(),
                "max_final_epoch": group_runs["final_epoch"].max(),
                "common_epoch": common.get(key),
                "books_without_model": ", ".join(orphan_books),
            }
        )
    table = pd.DataFrame(rows, columns=COVERAGE_COLUMNS)
    table["common_epoch"] = table["common_epoch"].astype("Int64")
    return table


COVERAGE_COLUMNS = GROUP + [
    "num_models",
    "authors",
    "seeds",
    "missing_models",
    "not_complete",
    "min_final_epoch",
    "max_final_epoch",
    "common_epoch",
    "books_without_model",
]


def compute_headline(tables: Tables) -> pd.DataFrame:
    """One row per group: the numbers to put two sweeps (or ours and the study's) side by side."""
    rows = []
    for key, coverage in tables.coverage.groupby(GROUP, sort=False):
        row = {
            **dict(zip(GROUP, key)),
            "num_models": int(coverage["num_models"].iloc[0]),
            "common_epoch": coverage["common_epoch"].iloc[0],
        }
        for at in tables.at_epochs:
            overall = rows_of(tables.accuracy, key, at)
            overall = overall[overall["seed"].isna()]
            if len(overall):
                row[f"accuracy_{at}"] = f"{int(overall['num_correct'].iloc[0])}/{int(overall['num_books'].iloc[0])}"
        ttests = rows_of(tables.author_ttests, key, stats.OWN_FINAL)
        row["authors_significant"] = f"{int((ttests['p'] < tables.alpha).sum())}/{len(ttests)}"
        row["min_t"] = ttests["t"].min()
        row["mean_t"] = ttests["t"].mean()
        mean_t_test = rows_of(tables.mean_t_tests, key, ablation.CAPPED)
        if len(mean_t_test) and pd.notna(mean_t_test["t"].iloc[0]):
            test = mean_t_test.iloc[0]
            row[f"mean_t_test_{ablation.CAPPED}"] = f"t({test['df']:.0f}) = {test['t']:.3f}, p = {test['p']:.3g}"
        onset = rows_of(tables.onset, key)
        row["latest_onset_epoch"] = (
            onset["stays_below_from"].max() if onset["stays_below_from"].notna().any() else pd.NA
        )
        for verdict in rows_of(tables.extra_sets, key, stats.OWN_FINAL).itertuples():
            row[f"{verdict.eval_set}_attributed_to"] = verdict.attributed_to
            row[f"{verdict.eval_set}_welch_p"] = verdict.welch_p
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else GROUP)


def _with_at(table: pd.DataFrame, at: str) -> pd.DataFrame:
    table = table.copy()
    table.insert(len(GROUP), "at", at)
    return table


def rows_of(table: pd.DataFrame, key: tuple | None, at: str | None = None, columns: list[str] = GROUP) -> pd.DataFrame:
    """The rows of one group (`key`: its values of GROUP; or of one study, with columns=ablation.STUDY) judged `at`
    one epoch (a table with a column `at`); key None: every group. An empty table is returned as it is."""
    if table.empty:
        return table
    mask = pd.Series(True, index=table.index)
    if key is not None:
        mask &= (table[columns] == pd.Series(key, index=columns)).all(axis=1)
    if at is not None:
        mask &= table["at"] == at
    return table[mask]
