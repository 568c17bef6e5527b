"""How a report writes a value, the same in its markdown, its page and its printed lines: numbers, counts, a dash for
a missing value, a file name for a label, a markdown table."""

import re

import pandas as pd

MISSING = "–"  # a value that is not there: None, NaN, <NA>


def missing(value) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array: a value, not a missing one
        return False


def number(value, spec: str) -> str:
    """A number by its format spec (".4f", ".2e", ".0%"); a missing value as MISSING; anything else as its text."""
    if missing(value):
        return MISSING
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, spec)
    return str(value)


def count(value, noun: str) -> str:
    """3 seeds, 1 seed: a count written as one."""
    if missing(value):
        return f"{MISSING} {noun}s"
    value = int(value)
    return f"{value} {noun}" + ("" if value == 1 else "s")


def slug(label: str) -> str:
    """A file or folder name for a label (a group's, a text's): each run of characters other than letters, digits
    and `_.=-` becomes one `_`, none at either end."""
    return re.sub(r"[^\w.=-]+", "_", label).strip("_")


def markdown_table(frame: pd.DataFrame, bold: tuple[str, ...] = ()) -> str:
    """A GitHub-flavoured markdown table of the frame's columns and rows as they are (format the numbers first);
    `bold`: columns in bold. pandas' to_markdown needs the optional `tabulate`."""
    if frame.empty:
        return "(none)"
    header = [str(column) for column in frame.columns]
    bold_at = {i for i, column in enumerate(frame.columns) if column in bold}
    body = [
        [f"**{value}**" if i in bold_at else str(value) for i, value in enumerate(row)]
        for row in frame.itertuples(index=False)
    ]
    return "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |" for row in body]
    )
