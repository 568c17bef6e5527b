"""How far to trust a verdict: the study's own held-out attribution at the questioned text's length, printed beside
the verdict, and no author named where that accuracy is not above chance.

    python -m stylometry.attribute multirun/mycorpus/small letter.txt --out attribution/letter

The study's held-out books (each seed's held-out book of every candidate, attributed by that seed's models only:
stylometry.attribution.held_out) are cut into excerpts of each CURVE_LENGTHS length and attributed on the same
score as the verdicts. A text of n tokens is judged by the accuracy at the longest of those lengths that is at most
n (whole books where n is at least the shortest held-out book as scored; the shortest length where n is shorter
than all, which flatters a shorter text). The curve is computed once per study, models and score, and kept in the
study's token cache (attribution/kept.py), so the next attribution with that study reads it.
"""

import pandas as pd

from stylometry.attribution.held_out import ACCURACY_COLUMNS
from stylometry.attribution.texts import Text

CURVE_LENGTHS = (256, 1024, 4096)  # the excerpt lengths of the docs' held-out curves: short letter to chapter
NOT_ABOVE_CHANCE = "no verdict (the study's held-out accuracy at this length is not above chance)"
CURVE_COLUMNS = ACCURACY_COLUMNS + ["tokens"]  # the curve as kept (attribution/kept.py)
TRUST_COLUMNS = ["held_out_tokens", "held_out_accuracy", "held_out_ci_low", "held_out_ci_high", "chance"]


def with_book_tokens(accuracy: pd.DataFrame, books: list[Text]) -> pd.DataFrame:
    """The overall curve (author "all") with the tokens of each length: whole books at the shortest book's."""
    curve = accuracy[accuracy["author"] == "all"].copy()
    shortest = min(len(book.tokens) for book in books)
    curve["tokens"] = curve["excerpt_tokens"].astype("Float64").fillna(shortest).astype(int)
    return curve.reset_index(drop=True)


def trust_columns(verdicts: pd.DataFrame, texts: list[Text], curve: pd.DataFrame, num_candidates: int) -> pd.DataFrame:
    """Each whole text's verdict with the curve's accuracy at its length and chance; a verdict whose accuracy's
    interval reaches chance names no author."""
    table = verdicts.copy()
    lengths = {text.name: len(text.tokens) for text in texts}
    rows = [
        _at_length(curve, lengths.get(name, 0)) if pd.isna(tokens) else None
        for name, tokens in zip(table["text"], table["excerpt_tokens"])
    ]
    for column, key in zip(TRUST_COLUMNS[:4], ("tokens", "accuracy", "ci_low", "ci_high")):
        table[column] = [row[key] if row is not None else None for row in rows]
    table["chance"] = [1 / num_candidates if row is not None else None for row in rows]
    at_chance = table["held_out_ci_low"].astype(float) <= table["chance"].astype(float)
    table.loc[at_chance.fillna(False).astype(bool), "verdict"] = NOT_ABOVE_CHANCE
    return table


def _at_length(curve: pd.DataFrame, num_tokens: int) -> pd.Series:
    """The curve's row for a text of num_tokens: the longest length at most that, or the shortest of all."""
    fitting = curve[curve["tokens"] <= num_tokens]
    chosen = fitting if len(fitting) else curve
    return chosen.sort_values("tokens").iloc[-1 if len(fitting) else 0]


def trust_words(row) -> str:
    """`this study attributes its own held-out texts of 1,024 tokens at 71% [58%, 82%] (chance 33%)`."""
    if pd.isna(getattr(row, "held_out_accuracy", None)):
        return ""
    return (
        f"; this study attributes its own held-out texts of {int(row.held_out_tokens):,} tokens at "
        f"{row.held_out_accuracy:.0%} [{row.held_out_ci_low:.0%}, {row.held_out_ci_high:.0%}] "
        f"(chance {row.chance:.0%})"
    )
