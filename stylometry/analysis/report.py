"""report.md: the analysis in words and tables, readable without the CSVs beside it.

    python -m stylometry.analyze multirun/paper --out analysis/paper    # writes analysis/paper/report.md

One section per group (input, experiment, variant), then, when there is more than one group, a
comparison of their headline numbers side by side (e.g. our sweep and the study's published logs).
"""

import math
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import pandas as pd

from stylometry.analysis import stats
from stylometry.analysis.load import GROUP
from stylometry.analysis.tables import Tables

MISSING = "–"


def group_label(key: Tuple, keys: Sequence[Tuple]) -> str:
    """The variant alone when every group comes from one input and experiment, else all three."""
    sweep, experiment, variant = key
    if len({k[:2] for k in keys}) == 1:
        return variant
    return f"{variant} · {experiment} · {sweep}"


def group_slug(key: Tuple, keys: Sequence[Tuple]) -> str:
    """A directory name for a group's figures."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", group_label(key, keys).replace(" · ", "__")).strip("_")


def write_report(tables: Tables, command: str, figures: Dict[Tuple, List[str]]) -> str:
    """The report's markdown; `figures` maps a group key to its figure files (relative paths)."""
    keys = [tuple(k) for k in tables.coverage[GROUP].itertuples(index=False)] if len(tables.coverage) else []
    inputs = list(dict.fromkeys(k[0] for k in keys))  # in the order given
    lines = [
        "# Stylometry analysis",
        "",
        f"Made by `{command}` from {', '.join(f'`{i}`' for i in inputs) or 'no readable input'}.",
        f"Significance threshold: p < {tables.alpha:g}. Each table here is also a CSV beside this report "
        "(`results.csv` holds every loss).",
        "",
        "Each model is judged at its own final epoch, as the study does (models stop at different epochs "
        "once their training loss reaches the threshold), and again at the common epoch, the largest epoch "
        "every model of the group reached. A *book* is an author's held-out book for the seed.",
    ]
    if tables.problems:
        lines += ["", "## Problems while reading", ""] + [f"- {p}" for p in tables.problems]
    if len(keys) > 1:
        lines += ["", *_comparison(tables, keys)]
    for key in keys:
        lines += ["", *_group_section(tables, key, keys, figures.get(key, []))]
    return "\n".join(lines) + "\n"


def _comparison(tables: Tables, keys: Sequence[Tuple]) -> List[str]:
    headline = tables.headline.copy()
    headline.index = [group_label(tuple(k), keys) for k in headline[GROUP].itertuples(index=False)]
    shown = headline.drop(columns=GROUP).T
    shown = shown.map(lambda v: _number(v, "{:.3g}"))
    ttests = _rows(tables.author_ttests, None, stats.OWN_FINAL)
    ttests = ttests.assign(group=[group_label(tuple(k), keys) for k in ttests[GROUP].itertuples(index=False)])
    side_by_side = ttests.pivot_table(index="model_author", columns="group", values="t")
    side_by_side = side_by_side[[c for c in headline.index if c in side_by_side.columns]]  # the inputs' order
    return [
        "## Comparison of inputs",
        "",
        "Headline numbers per group (accuracy and t at each model's own final epoch unless named "
        "`_common`; `*_welch_p`: Welch's t-test of the runner-up's losses against the attributed author's).",
        "",
        _markdown(shown.reset_index().rename(columns={"index": "metric"})),
        "",
        "Welch t of each model author's losses on other authors' books vs its own author's book (own final epoch):",
        "",
        _markdown(side_by_side.map(lambda v: _number(v, "{:.2f}")).reset_index()),
    ]


def _group_section(tables: Tables, key: Tuple, keys: Sequence[Tuple], figure_files: Iterable[str]) -> List[str]:
    sweep, experiment, variant = key
    coverage = _rows(tables.coverage, key).iloc[0]
    lines = [f"## {group_label(key, keys)}", "", f"Variant `{variant}` of experiment `{experiment}`, from `{sweep}`.", ""]
    lines += _coverage_lines(coverage)
    lines += ["", "### Attribution at each model's own final epoch", ""]
    lines += _attribution_lines(tables, key, stats.OWN_FINAL)
    lines += ["", "Confusion matrix: mean final loss of each model author's models (row) on each author's book "
              "(column); **bold** is the lowest in its column, the author the book is attributed to on average.", ""]
    lines += [_confusion_markdown(_rows(tables.confusion, key, stats.OWN_FINAL))]
    lines += ["", "### Own author's book vs other authors' books", "",
              "Per model author, Welch's t-test (`scipy.stats.ttest_ind(other, own, equal_var=False)`) of its "
              "models' final losses on the other authors' books (pooled over seeds) against their losses on "
              "its own author's book (one per seed): the study's Table 1. t > 0: the own book is predicted "
              f"better. *Significant from*: the epoch from which p < {tables.alpha:g} at every later epoch "
              "(over the epochs all of that author's models reached); *first*: the first epoch with p below it.",
              ""]
    lines += [_ttest_markdown(_rows(tables.author_ttests, key, stats.OWN_FINAL), _rows(tables.onset, key))]
    extra = _rows(tables.extra_sets, key, stats.OWN_FINAL)
    if len(extra):
        lines += ["", "### The contested book and the other extra books", ""]
        lines += _extra_lines(extra)
    lines += ["", *_common_epoch_lines(tables, key, coverage)]
    figure_files = list(figure_files)
    if figure_files:
        lines += ["", "### Figures", ""]
        lines += [f"![{name}]({name})" for name in figure_files if name.endswith(".png")]
        lines += ["", "PDF versions: " + ", ".join(f"[{n.rsplit('/', 1)[-1]}]({n})" for n in figure_files if n.endswith(".pdf"))]
    return lines


def _coverage_lines(coverage: pd.Series) -> List[str]:
    authors = coverage["authors"].split(", ")
    seeds = coverage["seeds"].split(", ")
    lines = [f"- {coverage['num_models']} models: {len(authors)} authors ({coverage['authors']}) × "
             f"{len(seeds)} seeds ({coverage['seeds']})."]
    lines.append(f"- Missing models: {coverage['missing_models']}." if coverage["missing_models"]
                 else "- No model is missing from the authors × seeds grid.")
    if coverage["books_without_model"]:
        lines.append(f"- Evaluated by every model, but no model was trained for it here: {coverage['books_without_model']} "
                     "(an author whose models are all missing?).")
    lines.append(f"- Not complete, analysed at their last evaluated epoch: {coverage['not_complete']}."
                 if coverage["not_complete"] else "- Every model is complete.")
    common = coverage["common_epoch"]
    lines.append(f"- Final epochs range from {coverage['min_final_epoch']} to {coverage['max_final_epoch']}; "
                 + (f"the common epoch is {common}." if pd.notna(common) else "no epoch was evaluated by every model."))
    return lines


def _attribution_lines(tables: Tables, key: Tuple, at: str) -> List[str]:
    accuracy = _rows(tables.accuracy, key, at)
    if accuracy.empty:
        return ["No book could be attributed."]
    overall = accuracy[accuracy["seed"].isna()].iloc[0]
    lines = [f"For each seed and each book, the model author whose model has the lowest loss on it: "
             f"**{overall['num_correct']}/{overall['num_books']} books attributed to their author "
             f"({overall['accuracy']:.1%})**.", ""]
    per_seed = accuracy[accuracy["seed"].notna()]
    correct = {"seed": "correct", **{str(s): f"{c}/{n}" for s, c, n in
                                    zip(per_seed["seed"], per_seed["num_correct"], per_seed["num_books"])}}
    lines.append(_markdown(pd.DataFrame([correct])))
    wrong = _rows(tables.attribution, key, at)
    wrong = wrong[~wrong["correct"].astype(bool)]
    lines.append("")
    if wrong.empty:
        lines.append("Every held-out book is attributed to its own author.")
    else:
        lines.append("Misattributed: " + "; ".join(
            f"{w.book}'s book, seed {w.seed} → {w.attributed_to} ({w.loss:.3f} vs own author's model "
            f"{_number(w.own_author_loss, '{:.3f}')})" for w in wrong.itertuples()) + ".")
    return lines


def _confusion_markdown(confusion: pd.DataFrame) -> str:
    matrix = confusion.pivot_table(index="model_author", columns="book", values="mean_loss")
    shown = matrix.map(lambda v: _number(v, "{:.3f}"))
    for book in matrix.columns:
        best = matrix[book].idxmin()
        shown.loc[best, book] = f"**{shown.loc[best, book]}**"
    return _markdown(shown.reset_index().rename(columns={"model_author": "model author \\ book"}))


def _ttest_markdown(ttests: pd.DataFrame, onset: pd.DataFrame) -> str:
    table = ttests.merge(onset, on=GROUP + ["model_author"], how="left")
    return _markdown(pd.DataFrame({
        "model author": table["model_author"],
        "t": table["t"].map(lambda v: _number(v, "{:.2f}")),
        "df": table["df"].map(lambda v: _number(v, "{:.2f}")),
        "p": table["p"].map(lambda v: _number(v, "{:.2e}")),
        "mean own": table["mean_own"].map(lambda v: _number(v, "{:.3f}")),
        "mean other": table["mean_other"].map(lambda v: _number(v, "{:.3f}")),
        "n own / other": [f"{a}/{b}" for a, b in zip(table["num_own"], table["num_other"])],
        "significant from": table["stays_below_from"].map(_epoch),
        "first": table["first_below"].map(_epoch),
    }))


def _extra_lines(extra: pd.DataFrame) -> List[str]:
    lines = ["Each extra book is attributed to the model author with the lowest mean final loss on it, "
             "tested against the runner-up: Welch's t-test (runner-up's losses vs the attributed author's), "
             "and the paired t-test over shared seeds that the study reported for the contested book.", ""]
    for row in extra.itertuples():
        if pd.isna(row.runner_up):
            lines.append(f"- **{row.eval_set}**: only {row.attributed_to}'s models were evaluated on it "
                         f"(mean loss {row.mean_loss:.3f}); nothing to compare.")
            continue
        lines.append(
            f"- **{row.eval_set}** → **{row.attributed_to}**: mean loss {row.mean_loss:.3f} ({row.num_seeds} seeds) "
            f"vs {row.runner_up} {row.runner_up_mean_loss:.3f} ({row.runner_up_num_seeds}); Welch "
            f"t({_number(row.welch_df, '{:.2f}')}) = {_number(row.welch_t, '{:.2f}')}, p = {_number(row.welch_p, '{:.2e}')}; "
            f"paired t({_number(row.paired_df, '{:.0f}')}) = {_number(row.paired_t, '{:.2f}')}, "
            f"p = {_number(row.paired_p, '{:.2e}')}; lower in {row.seeds_won} of {row.num_paired_seeds} shared seeds.")
    return lines


def _common_epoch_lines(tables: Tables, key: Tuple, coverage: pd.Series) -> List[str]:
    common = coverage["common_epoch"]
    if pd.isna(common):
        return ["### At the common epoch", "", "No epoch was evaluated by every model of this group."]
    lines = [f"### At the common epoch ({common})", "",
             "The same analyses with every model at the largest epoch all of them reached.", ""]
    lines += _attribution_lines(tables, key, stats.COMMON)
    ttests = _rows(tables.author_ttests, key, stats.COMMON)
    lines += ["", _markdown(pd.DataFrame({
        "model author": ttests["model_author"],
        "t": ttests["t"].map(lambda v: _number(v, "{:.2f}")),
        "df": ttests["df"].map(lambda v: _number(v, "{:.2f}")),
        "p": ttests["p"].map(lambda v: _number(v, "{:.2e}")),
    }))]
    extra = _rows(tables.extra_sets, key, stats.COMMON)
    if len(extra):
        lines += ["", *_extra_lines(extra)[2:]]
    return lines


def _rows(table: pd.DataFrame, key, at: Optional[str] = None) -> pd.DataFrame:
    if table.empty:
        return table
    mask = pd.Series(True, index=table.index)
    if key is not None:
        mask &= (table[GROUP] == pd.Series(key, index=GROUP)).all(axis=1)
    if at is not None:
        mask &= table["at"] == at
    return table[mask]


def _number(value, fmt: str) -> str:
    if value is None or value is pd.NA:
        return MISSING
    if isinstance(value, float) and math.isnan(value):
        return MISSING
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return fmt.format(value)
    return str(value)


def _epoch(value) -> str:
    return MISSING if pd.isna(value) else str(int(value))


def _markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (pandas' to_markdown needs the optional `tabulate`)."""
    if table.empty:
        return "(none)"
    header = [str(c) for c in table.columns]
    body = [[str(v) for v in row] for row in table.itertuples(index=False)]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] +
                     ["| " + " | ".join(row) + " |" for row in body])
