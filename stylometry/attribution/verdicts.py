"""Verdicts: per text (and excerpt), the author whose models have the lowest mean loss over seeds, tested
against the runner-up; and, for excerpts, how many went to each author.

    python -m stylometry.attribute multirun/corpus/paper letter.txt --excerpt-tokens 256,1024 --out attribution/a

The same numbers as `analyze`'s extra-set verdicts (stylometry.analysis.stats.extra_set_verdicts).
"""

import numpy as np
import pandas as pd

from stylometry.analysis import stats
from stylometry.analysis.load import GROUP
from stylometry.runs.study import Study

NO_VERDICT = "no verdict"
NO_RUNNER_UP, TOO_FEW_SEEDS = "no test (one author)", "no test (too few seeds)"  # verdicts.csv's `test` if none
UNIT = ["text", "excerpt_tokens", "excerpt"]
VERDICT_COLUMNS = UNIT + [
    "verdict",
    "attributed_to",
    "mean_loss",
    "runner_up",
    "runner_up_mean_loss",
    "margin",
    "test",
    "p",
    "seeds_won",
    "num_paired_seeds",
    "lowest_in_seeds",
    "num_seeds",
    "runner_up_num_seeds",
    "welch_t",
    "welch_df",
    "welch_p",
    "paired_t",
    "paired_df",
    "paired_p",
]


def study_group(study: Study) -> dict[str, str]:
    """The study as one group of `analyze`'s grouping columns (stylometry.analysis.load.GROUP)."""
    cfg = study.cfg
    identity = {
        "sweep": str(study.study_dir),
        "study": getattr(cfg, "study", ""),
        "experiment": cfg.experiment_name,
        "variant": cfg.variant.name,
    }
    return {column: identity.get(column, "") for column in GROUP}


def verdicts(scores: pd.DataFrame, alpha: float, group: dict[str, str]) -> pd.DataFrame:
    """Per text (and excerpt): analyze's extra-set verdict (stylometry.analysis.stats.extra_set_verdicts) on its
    scores, the test that decides (paired where both authors' models share every seed, as the study did for the
    contested book; Welch's otherwise), and the verdict: the attributed author, or "no verdict" where p > alpha."""
    if scores.empty:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    keys = scores[UNIT].drop_duplicates().reset_index(drop=True)
    unit_ids = scores.merge(keys.reset_index().rename(columns={"index": "eval_set"}), on=UNIT, how="left")["eval_set"]
    rows = scores.assign(eval_set=unit_ids.to_numpy(), **group)
    table = stats.extra_set_verdicts(rows[GROUP + ["eval_set", "model_author", "seed", "loss"]])
    lowest = lowest_in_seeds(rows, ["eval_set"]).set_index("eval_set")["lowest_in_seeds"]
    lowest = lowest.loc[table["eval_set"]].reset_index(drop=True)  # per unit, by its number: no NA keys to match
    table = pd.concat(
        [keys.loc[table["eval_set"]].reset_index(drop=True), table.drop(columns=GROUP + ["eval_set"])], axis=1
    )
    seeds = table[["num_paired_seeds", "num_seeds", "runner_up_num_seeds"]].astype(float)  # NaN: no runner-up
    paired = (
        (seeds["num_paired_seeds"] >= 2)
        & (seeds["num_paired_seeds"] == seeds["num_seeds"])
        & (seeds["num_paired_seeds"] == seeds["runner_up_num_seeds"])
    ).to_numpy()
    table["p"] = np.where(paired, table["paired_p"].astype(float), table["welch_p"].astype(float))
    table["test"] = np.where(
        table["runner_up"].isna(),
        NO_RUNNER_UP,
        np.where(np.isnan(table["p"]), TOO_FEW_SEEDS, np.where(paired, "paired t", "Welch t")),
    )
    table["margin"] = table["runner_up_mean_loss"] - table["mean_loss"]
    table["verdict"] = np.where(table["p"] <= alpha, table["attributed_to"], NO_VERDICT)
    table["lowest_in_seeds"] = lowest
    return table[VERDICT_COLUMNS]


def lowest_in_seeds(scores: pd.DataFrame, unit: list[str] = UNIT) -> pd.DataFrame:
    """Per text (and excerpt; or per `unit`): in how many seeds each candidate's model had the lowest score, most
    first ("alice in 3 of 5 seeds, bob in 2 of 5 seeds"): a mean over seeds can hide one seed's outlier, a count
    cannot."""
    keys = unit + ["seed"]
    rows = scores.sort_values("model_author", kind="stable")  # ties: the first by name, as elsewhere
    best = rows.loc[rows.groupby(keys, dropna=False, sort=False)["loss"].idxmin(), keys + ["model_author"]]
    counts = seed_counts(best, unit)
    return counts[unit + ["seed_counts"]].rename(columns={"seed_counts": "lowest_in_seeds"})


def seed_counts(named: pd.DataFrame, unit: list[str]) -> pd.DataFrame:
    """named: the author each seed names per unit (unit + seed + model_author). Per unit: the author named in most
    seeds (ties: the first by name), and every author's count, most first ("alice in 3 of 5 seeds, bob in 2 of 5
    seeds"). The language models' lowest-in-seeds and the baselines' votes are both counted here."""
    counts = named.groupby(unit + ["model_author"], dropna=False).size().rename("num_named").reset_index()
    counts = counts.merge(named.groupby(unit, dropna=False).size().rename("num_seeds").reset_index(), on=unit)
    counts = counts.sort_values(unit + ["num_named", "model_author"], ascending=[True] * len(unit) + [False, True])
    counts["part"] = (
        counts["model_author"]
        + " in "
        + counts["num_named"].astype(str)
        + " of "
        + counts["num_seeds"].astype(str)
        + " seeds"
    )
    grouped = counts.groupby(unit, dropna=False, sort=False)
    return pd.concat(
        [grouped["model_author"].first().rename("most_seeds"), grouped["part"].agg(", ".join).rename("seed_counts")],
        axis=1,
    ).reset_index()


def excerpt_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per text and excerpt length: how many excerpts went to each author (lowest mean loss), and with a verdict."""
    rows = table[table["excerpt_tokens"].notna()]
    counts = rows.groupby(["text", "excerpt_tokens", "attributed_to"]).agg(
        num_attributed=("attributed_to", "size"), num_verdicts=("verdict", lambda v: int((v != NO_VERDICT).sum()))
    )
    totals = rows.groupby(["text", "excerpt_tokens"]).size().rename("num_excerpts")
    summary = counts.reset_index().merge(totals.reset_index(), on=["text", "excerpt_tokens"])
    summary["share"] = summary["num_attributed"] / summary["num_excerpts"]
    summary = summary.rename(columns={"attributed_to": "author"})
    return summary[["text", "excerpt_tokens", "author", "num_excerpts", "num_attributed", "share", "num_verdicts"]]
