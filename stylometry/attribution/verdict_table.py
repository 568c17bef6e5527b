"""The verdicts table (one row per whole text) and the likelihood ratios' tables, each built once and shown by
report.md and report.html alike.

python -m stylometry.attribute <study dir> <texts> --out <dir>    # the table under "Verdicts"
"""

import pandas as pd

from stylometry.attribution.open_set import CLOSED, open_set_words
from stylometry.attribution.result import Attribution
from stylometry.attribution.texts import Text
from stylometry.files.formats import MISSING, number


def verdict_table(result: Attribution) -> pd.DataFrame:
    """A row per whole text, its cells as text; the trust, open-set and baseline columns where the result has them;
    a row per text not scored, saying why."""
    whole = result.verdicts[result.verdicts["excerpt_tokens"].isna()]
    texts = {text.name: text for text in result.texts}
    rows = [_row_cells(row, texts[row.text], result.score) for row in whole.itertuples()]
    rows += [{"text": text.name, "verdict": f"not scored: {text.note}"} for text in result.unscored]
    return pd.DataFrame(rows).fillna(MISSING)


def _row_cells(row, text: Text, score: str) -> dict[str, str]:
    """A whole text's verdict as the table shows it; the trust and baseline columns where the result has them."""
    runner_up = f"{row.runner_up} {row.runner_up_mean_loss:.4f}" if isinstance(row.runner_up, str) else MISSING
    cells = {
        "text": row.text,
        "tokens scored": f"{len(text.tokens):,} of {text.num_tokens:,}",
        "verdict": row.verdict,
        f"lowest mean {score}": f"{row.attributed_to} {row.mean_loss:.4f}",
        "runner-up": runner_up,
        "margin": number(row.margin, ".4f"),
        "test": row.test,
        "p": number(row.p, ".2e"),
        "seeds won": MISSING if pd.isna(row.seeds_won) else f"{int(row.seeds_won)}/{int(row.num_paired_seeds)}",
        "lowest in seeds": row.lowest_in_seeds,
    }
    if not pd.isna(getattr(row, "held_out_accuracy", None)):
        cells["held-out accuracy at its length"] = (
            f"{row.held_out_accuracy:.0%} [{row.held_out_ci_low:.0%}, {row.held_out_ci_high:.0%}] at "
            f"{int(row.held_out_tokens):,} tokens (chance {row.chance:.0%})"
        )
    if getattr(row, "open_set", CLOSED) != CLOSED:
        cells["none of the candidates?"] = open_set_words(row).removeprefix("; ")
    if isinstance(getattr(row, "naive_bayes", None), str):
        cells["naive Bayes"] = row.naive_bayes_seeds
        cells["Burrows' Delta"] = row.burrows_delta_seeds
        cells["all agree"] = "yes" if row.methods_agree else "no"
    return cells


def lr_table(result: Attribution) -> pd.DataFrame:
    """Each text's log10 LR for each candidate (attribution/verification.py), the seeds' range, ENFSI's words."""
    rows = result.verification
    return pd.DataFrame(
        {
            "text": rows["text"],
            "candidate": rows["candidate"],
            "against": rows["against"],
            "log10 LR": rows["log10_lr"].map(lambda v: number(v, "+.2f")),
            "seeds' range": [
                f"[{number(low, '+.2f')}, {number(high, '+.2f')}]"
                for low, high in zip(rows["log10_lr_low"], rows["log10_lr_high"])
            ],
            "calibrated at": rows["calibrated_tokens"].map(lambda v: f"{v:,} tokens"),
            "support": rows["support"],
        }
    )


def lr_calibration_table(result: Attribution) -> pd.DataFrame:
    """The likelihood ratio's calibration per question and length, the slopes and intercept to four decimals."""
    shown = result.verification_calibration.copy()
    for column in ("slope", "slope_relative", "intercept", "none_below"):
        shown[column] = shown[column].map(lambda v: number(v, "+.4f"))
    return shown


def lr_metric_table(result: Attribution) -> pd.DataFrame:
    """--held-out: the likelihood ratio's metrics per length, three decimals."""
    shown = result.verification_metrics.copy()
    for column in shown.columns[shown.columns.get_loc("num_different") + 1 :]:
        shown[column] = shown[column].map(lambda v: number(v, ".3f"))
    return shown
