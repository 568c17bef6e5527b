"""Which statistic of a text's candidates' LRs tells an excerpt by one of them from an outsider's (its author left
out) best, at 5% false rejection: docs/attribution.md's measurement of the open set with eight candidates.

    python docs/scripts/any_of_these.py held8/verification_trials.csv

Reads attribute --held-out's cross-validated trials; each seed's threshold is the 5% quantile of the other seeds'
own excerpts' statistic (not capped at 0, not nested: an exploration, not the product's rule).
"""

import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

EXCERPT = ["excerpt_tokens", "seed", "book", "excerpt"]
FUSED = ["best", "margin", "best_score", "rel_gap"]


def statistics(at_length: pd.DataFrame) -> pd.DataFrame:
    """One row per excerpt and question: own (every candidate) or outsider (its author's model left out)."""
    own = at_length.merge(at_length.loc[at_length["same"], EXCERPT].drop_duplicates(), on=EXCERPT)
    rows = []
    for is_own, table in ((True, own), (False, at_length[~at_length["same"]])):
        for key, group in table.groupby(EXCERPT):
            lrs = np.sort(group["log10_lr"].to_numpy())[::-1]
            score, relative = np.sort(group["score"].to_numpy()), np.sort(group["relative"].to_numpy())
            rows.append({"seed": key[1], "own": is_own, "best": lrs[0], "margin": lrs[0] - lrs[1],
                         "mean_lr": lrs.mean(), "best_score": -score[0], "best_relative": -relative[0],
                         "rel_gap": relative[1] - relative[0]})  # fmt: skip
    return pd.DataFrame(rows)


def called_none(table: pd.DataFrame, statistic: str, false_rejection=0.05) -> tuple[float, float]:
    """Own and outsiders' excerpts called none, each seed against the other seeds' own quantile."""
    called = []
    for seed in table["seed"].unique():
        others, this = table[table["seed"] != seed], table[table["seed"] == seed]
        cut = others.loc[others["own"], statistic].quantile(false_rejection)
        called.append(this.assign(none=this[statistic] < cut))
    called = pd.concat(called)
    return called.loc[called["own"], "none"].mean(), called.loc[~called["own"], "none"].mean()


def main(path: str) -> None:
    judged = pd.read_csv(path)
    judged = judged[judged["against"] == "anyone else"].dropna(subset=["log10_lr"])
    for length, at_length in judged.groupby("excerpt_tokens"):
        table = statistics(at_length)
        table["fused"] = np.nan
        for seed in table["seed"].unique():
            others = table[table["seed"] != seed]
            fitted = LogisticRegression(C=1e3).fit(others[FUSED], others["own"])
            this = table["seed"] == seed
            table.loc[this, "fused"] = fitted.decision_function(table.loc[this, FUSED])
        print(f"{length} tokens: {int(table['own'].sum())} own, {int((~table['own']).sum())} outsider excerpts")
        for statistic in ["best", "mean_lr", "best_relative", "margin", "best_score", "rel_gap", "fused"]:
            own, outsiders = called_none(table, statistic)
            auc = roc_auc_score(table["own"], table[statistic])
            print(f"  {statistic:14s} AUC {auc:.3f}  own called none {own:.3f}  outsiders called none {outsiders:.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
