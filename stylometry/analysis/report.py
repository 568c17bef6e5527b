"""report.md: the analysis in words and tables, readable without the CSVs beside it.

    python -m stylometry.analyze multirun/paper --out analysis/paper    # writes analysis/paper/report.md

How our numbers differ from the study's by definition; when there is more than one group, their
headline numbers side by side; per study, the ablation statistics (the variants compared); the
classical baselines, when run; then one section per group (input, study, experiment, variant); every
figure with a caption line.
"""

from collections.abc import Sequence

import pandas as pd

from stylometry.analysis import stats
from stylometry.analysis.ablation import CAPPED, FAIR_CUT, STUDY, variant_order
from stylometry.analysis.load import GROUP, STUDY_NAME
from stylometry.analysis.normalized import NORMALIZED
from stylometry.analysis.tables import Tables, rows_of
from stylometry.files.formats import MISSING, count, markdown_table, number, slug

FIGURE_FILES = dict[str, list[str]]  # figure name -> its files, relative to the report


def group_label(key: tuple, keys: Sequence[tuple]) -> str:
    """The variant, then each of experiment, study and input that differs between the groups."""
    parts = [key[GROUP.index("variant")]]
    for column in ("experiment", "study", "sweep"):
        index = GROUP.index(column)
        if len({k[index] for k in keys}) > 1:
            parts.append(str(key[index]))
    return " · ".join(parts)


def group_slug(key: tuple, keys: Sequence[tuple]) -> str:
    """A directory name for a group's figures."""
    return slug(group_label(key, keys).replace(" · ", "__"))


def study_label(study: tuple, studies: Sequence[tuple]) -> str:
    """A study (sweep, study, experiment) by the parts that differ between the studies analysed."""
    differing = [str(part) for i, part in enumerate(study) if len({s[i] for s in studies}) > 1]
    return " · ".join(differing) or f"{study[1]} ({study[2]})"


def study_slug(study: tuple, studies: Sequence[tuple]) -> str:
    return slug(study_label(study, studies).replace(" · ", "__"))


def report_markdown(tables: Tables, command: str, figures: dict[tuple, FIGURE_FILES], captions: dict[str, str]) -> str:
    """report.md's text; `figures` maps a group key (or a study key, for the variants drawn together) to
    its figure files; `captions` maps a figure name to its caption."""
    keys = [tuple(k) for k in tables.coverage[GROUP].itertuples(index=False)] if len(tables.coverage) else []
    inputs = list(dict.fromkeys(k[0] for k in keys))  # in the order given
    at_words = [
        (
            f"each model's own final epoch (`{stats.OWN_FINAL}`, as the study's Table 1: models stop at "
            "different epochs once their training loss reaches the threshold)"
        ),
        f"the common epoch (`{stats.COMMON}`), the largest epoch every model of the group reached",
        (
            f"each model's last epoch at or before epoch {tables.compare_epoch} (`{CAPPED}`: the study's ablation "
            "tables and tests)"
        ),
    ]
    if FAIR_CUT in tables.at_epochs:
        at_words.append(
            f"the fairness cut (`{FAIR_CUT}`: where each model's training loss first reaches its "
            "group's common threshold, as the study drew its variant figures)"
        )
    lines = [
        "# Stylometry analysis",
        "",
        f"Made by `{command}` from {', '.join(f'`{i}`' for i in inputs) or 'no readable input'}.",
        (
            f"Significance threshold: p < {tables.alpha:g}. Each table here is also a CSV beside this report "
            "(`results.csv` holds every loss)."
        ),
        "",
        "Models are judged at " + "; at ".join(at_words) + ". A *book* is an author's held-out book for the seed.",
        "",
        *_score_lines(tables),
        *_definitions(tables),
    ]
    if tables.problems:
        lines += ["", "## Problems while reading", ""] + [f"- {p}" for p in tables.problems]
    if len(keys) > 1:
        lines += ["", *_comparison(tables, keys)]
    studies = list(dict.fromkeys(k[: len(STUDY)] for k in keys))
    for study in studies:
        lines += ["", *_ablation_section(tables, study, studies, [k for k in keys if k[: len(STUDY)] == study])]
        if study in figures:
            lines += ["", f"### Figures: every variant of {study_label(study, studies)}, one row each", ""]
            lines += _figure_lines(figures[study], captions)
    if tables.baselines is not None:
        lines += ["", *_baseline_section(tables, keys)]
    for key in keys:
        lines += ["", *_group_section(tables, key, keys, figures.get(key, {}), captions)]
    return "\n".join(lines) + "\n"


def _score_lines(tables: Tables) -> list[str]:
    if tables.score != NORMALIZED:
        return []
    return [
        (
            "**Score: normalized.** Every loss in these tables (but the training loss) is the model's loss minus its "
            "own mean loss, at that epoch, on its seed's held-out books of every author (`--score normalized`): a "
            "model that learned English better than its rivals gains nothing from it. `results.csv` keeps the "
            "loss as logged in `logged_loss`."
        ),
        "",
    ]


def _definitions(tables: Tables) -> list[str]:
    lines = [
        (
            "**How our numbers differ from the study's, by definition.** Our runs' loss on a text is the total "
            "negative log-likelihood of its predicted tokens divided by their number: every token weighs the same, "
            "and padding is never counted. The study averaged per-batch mean losses (the tokens of a book's last, "
            "smaller batch weighed more) and counted the padded positions of each book's last window. Our p values "
            "and the dashed t thresholds in the figures are two-sided; the study drew one-tailed thresholds (the t "
            "of 1 - alpha) and tested its mean-t crossing one-tailed, which its crossing epoch here does too. Bands "
            "around a mean over seeds are min..max unless the analysis ran with `--bands ci95` (the bootstrap 95% "
            "confidence interval the study drew); the mean-t band is always a bootstrap 95% CI over authors."
        )
    ]
    if (tables.coverage["study"] == STUDY_NAME).any():
        lines.append("")
        lines.append(
            f"Groups of study `{STUDY_NAME}` are the study's published logs: their losses are the study's "
            "own, with its definitions."
        )
    return lines


def _comparison(tables: Tables, keys: Sequence[tuple]) -> list[str]:
    headline = tables.headline.copy()
    headline.index = [group_label(tuple(k), keys) for k in headline[GROUP].itertuples(index=False)]
    shown = headline.drop(columns=GROUP).T
    shown = shown.map(lambda v: number(v, ".3g"))
    ttests = rows_of(tables.author_ttests, None, stats.OWN_FINAL)
    ttests = ttests.assign(group=[group_label(tuple(k), keys) for k in ttests[GROUP].itertuples(index=False)])
    side_by_side = ttests.pivot_table(index="model_author", columns="group", values="t")
    side_by_side = side_by_side[[c for c in headline.index if c in side_by_side.columns]]  # the inputs' order
    return [
        "## Comparison of groups",
        "",
        (
            "Headline numbers per group (accuracy and t at each model's own final epoch unless named otherwise; "
            "`*_welch_p`: Welch's t-test of the runner-up's losses against the attributed author's)."
        ),
        "",
        markdown_table(shown.reset_index().rename(columns={"index": "metric"})),
        "",
        "Welch t of each model author's losses on other authors' books vs its own author's book (own final epoch):",
        "",
        markdown_table(side_by_side.map(lambda v: number(v, ".2f")).reset_index()),
    ]


# ---- the ablation statistics --------------------------------------------------------------------


def _ablation_section(tables: Tables, study: tuple, studies: Sequence[tuple], keys: Sequence[tuple]) -> list[str]:
    variants = variant_order([k[-1] for k in keys])
    at_shown = [at for at in (CAPPED, FAIR_CUT) if at in tables.at_epochs]
    lines = [
        f"## Ablation statistics: {study_label(study, studies)}",
        "",
        f"The study's statistics of how well each variant's models tell authors apart (definitions: "
        f"`stylometry/analysis/ablation.py`, the study's `code/compute_stats.py`). `{CAPPED}` is each model at its "
        f"last epoch at or before epoch {tables.compare_epoch} (the paper printed these statistics at epoch 500: its "
        f"variants trained exactly 500 epochs, its baseline longer)."
        + (
            f" `{FAIR_CUT}` is the fairness cut, at which the study drew its variant figures."
            if FAIR_CUT in at_shown
            else ""
        ),
    ]
    for part in (_mean_t_tests, _mean_t_onsets, _per_author_t, _variant_comparisons, _fairness_cut):
        lines += part(tables, study, variants, at_shown)
    return lines


def _mean_t_tests(tables: Tables, study: tuple, variants: list, at_shown: list) -> list[str]:
    rows = []
    for at in at_shown:
        for variant in variants:
            test = rows_of(tables.mean_t_tests, study + (variant,), at)
            if len(test):
                row = test.iloc[0]
                incomplete = row["num_incomplete_seeds"]
                rows.append(
                    {
                        "variant": variant,
                        "at": at,
                        "mean of seed means": number(row["mean_t"], ".3f"),
                        "t": number(row["t"], ".3f"),
                        "df": number(row["df"], ".0f"),
                        "p": number(row["p"], ".3g"),
                        "seeds": f"{row['num_seeds']}"
                        + (f" ({incomplete} incomplete, left out)" if incomplete else ""),
                    }
                )
    return [
        "",
        "**Mean-t test.** Per seed, the mean over authors of each model's t (its losses on the other authors' books "
        "against its own author's book, population sd); the one-sample t-test of those seed means against 0 "
        '(the paper\'s "t(9) = 13.196").',
        "",
        markdown_table(pd.DataFrame(rows)),
    ]


def _mean_t_onsets(tables: Tables, study: tuple, variants: list, at_shown: list) -> list[str]:
    onset = pd.concat([rows_of(tables.mean_t_onset, study + (v,)) for v in variants]) if variants else pd.DataFrame()
    if not len(onset):
        return []
    table = pd.DataFrame(
        {
            "variant": onset["variant"],
            "crossing": onset["crossing_epoch"].map(_epoch),
            "stays from": onset["stays_below_from"].map(_epoch),
            "mean t above threshold from": onset["above_critical_from"].map(_epoch),
            "last epoch with every author": onset["last_epoch"].map(_epoch),
        }
    )
    return [
        "",
        "**When the mean t becomes significant.** *Crossing*: the study's threshold crossing, the first "
        f"epoch at which the one-sample test of the authors' standardized effect sizes has a one-tailed p < "
        f"{tables.alpha:g} after an epoch it had not (never, for a test below from the start); *stays from*: "
        "the epoch from which that p stays below; *mean t above threshold from*: the epoch from which the "
        "mean t stays above the mean two-sided critical t (figure `t_over_epochs`, panel B).",
        "",
        markdown_table(table),
    ]


def _per_author_t(tables: Tables, study: tuple, variants: list, at_shown: list) -> list[str]:
    ttests = rows_of(tables.author_ttests, study, CAPPED, columns=STUDY)
    if not len(ttests):
        return []
    # reindex: a variant whose t is undefined everywhere (one seed) keeps its column, empty.
    per_author = ttests.pivot_table(index="model_author", columns="variant", values="t", dropna=False)
    per_author = per_author.reindex(columns=variants)
    return [
        "",
        f"**Per-author t at `{CAPPED}`** (the study's Table 1 test per variant: Welch's t of each model "
        "author's losses on the other authors' books against its own author's book, pooled over seeds):",
        "",
        markdown_table(per_author.map(lambda v: number(v, ".2f")).reset_index()),
    ]


def _variant_comparisons(tables: Tables, study: tuple, variants: list, at_shown: list) -> list[str]:
    comparisons = tables.variant_comparisons
    if len(comparisons):
        comparisons = rows_of(comparisons, study, columns=STUDY)
        comparisons = comparisons[comparisons["at"].isin(at_shown)]
    if not len(comparisons):
        return []

    def numbers(column, form):
        return comparisons[column].map(lambda v: number(v, form))

    table = pd.DataFrame(
        {
            "variants": comparisons["variant_a"] + " vs " + comparisons["variant_b"],
            "at": comparisons["at"],
            "mean t": numbers("mean_t_a", ".2f") + " vs " + numbers("mean_t_b", ".2f"),
            "t": numbers("t", ".2f"),
            "df": numbers("df", ".2f"),
            "p": numbers("p", ".3g"),
        }
    )
    return [
        "",
        "**Variants compared.** Welch's t-test of two variants' per-author t (t > 0: the first "
        "variant's models tell authors apart better).",
        "",
        markdown_table(table),
    ]


def _fairness_cut(tables: Tables, study: tuple, variants: list, at_shown: list) -> list[str]:
    if not len(tables.fairness):
        return []
    cut = rows_of(tables.fairness, study, columns=STUDY)
    summary = [
        {
            "variant": variant,
            "threshold (training loss)": number(sub["threshold"].iloc[0], ".4f"),
            "cut epochs": f"{sub['cut_epoch'].min()}–{sub['cut_epoch'].max()}",
            "models reaching it": f"{int(sub['reached'].sum())}/{len(sub)}",
        }
        for variant in variants
        for sub in [cut[cut["variant"] == variant]]
        if len(sub)
    ]
    return [
        "",
        f"**Fairness cut.** Per variant, the highest of its models' lowest training losses within the "
        f"first {tables.compare_epoch} epochs; each model is judged where its training loss first reaches "
        "it (every model's cut: `fairness.csv`).",
        "",
        markdown_table(pd.DataFrame(summary)),
    ]


# ---- the classical baselines --------------------------------------------------------------------


def _baseline_section(tables: Tables, keys: Sequence[tuple]) -> list[str]:
    baselines = tables.baselines
    lines = [
        "## Classical baselines under the same protocol",
        "",
        (
            "For each seed, each author's training text is exactly its model's (rebuilt from the run's config), and "
            "the held-out books are the seed's. *naive Bayes*: the study's own baseline, word counts "
            "(scikit-learn's CountVectorizer) and multinomial naive Bayes, one training document per author. "
            "*Burrows' Delta*: z-scored relative frequencies of the "
            f"{baselines.num_delta_words} most frequent words of the training texts, nearest author by mean absolute "
            "difference (cityblock). The language models' column is the table above at each model's own final "
            "epoch. Books whose author has no model in the seed are not scored. Every verdict: `baselines.csv`; "
            "confusion counts: `baseline_confusion.csv`."
        ),
    ]
    for key in keys:
        lines += _baseline_books(tables, key, keys)
    lines += _baseline_excerpts(tables, keys)
    if baselines.seconds is not None:
        took = (
            f"The classical baselines took {baselines.seconds:.0f} s here ({count(baselines.num_seeds, 'seed')}, "
            f"{baselines.num_models} models' training texts)."
        )
        lines += ["", took]
    return lines


def _baseline_books(tables: Tables, key: tuple, keys: Sequence[tuple]) -> list[str]:
    """One group's held-out books per seed for each method, and its extra books' verdicts."""
    rows = rows_of(tables.baselines.accuracy, key)
    if rows.empty:
        return []
    lm = rows_of(tables.accuracy, key, stats.OWN_FINAL).assign(method="language models")
    shown = pd.concat([lm, rows], ignore_index=True)
    shown["seed"] = shown["seed"].map(lambda s: "all" if pd.isna(s) else str(int(s)))
    shown["cell"] = [f"{c}/{n}" for c, n in zip(shown["num_correct"], shown["num_books"])]
    table = shown.pivot_table(index="seed", columns="method", values="cell", aggfunc="first", sort=False)
    table = table[[m for m in shown["method"].unique()]]
    lines = [
        "",
        f"**{group_label(key, keys)}**: books attributed to their author, per seed and overall.",
        "",
        markdown_table(table.reset_index()),
    ]
    extra = rows_of(tables.baselines.extra_sets, key)
    if not len(extra):
        return lines
    lm_extra = rows_of(tables.extra_sets, key, stats.OWN_FINAL)
    lm_extra = lm_extra[lm_extra["eval_set"].isin(set(extra["eval_set"]))]
    verdicts = [
        f"{row.eval_set}: language models → {row.attributed_to} (lower loss in {row.seeds_won} of "
        f"{count(row.num_paired_seeds, 'shared seed')})"
        for row in lm_extra.itertuples()
        if pd.notna(row.runner_up)
    ]
    for (eval_set, method), sub in extra.groupby(["eval_set", "method"], sort=False):
        counts = sub["attributed_to"].value_counts()
        verdicts.append(
            f"{eval_set}: {method} → "
            + ", ".join(f"{author} in {count(n, 'seed')}" for author, n in counts.items())
            + f" of {len(sub)}"
        )
    return lines + ["", "Extra books (among the authors whose models evaluated each): " + "; ".join(verdicts) + "."]


def _baseline_excerpts(tables: Tables, keys: Sequence[tuple]) -> list[str]:
    """Accuracy on excerpts of the held-out books, per group: every method, all seeds pooled."""
    by_length = tables.baselines.accuracy_by_length
    if not len(by_length):
        return []
    overall = by_length[by_length["seed"].isna()]
    lines = [
        "",
        (
            "**Excerpts**: accuracy on every consecutive excerpt of each held-out book (as evaluated: its "
            "first `data.eval_max_tokens` tokens), all seeds pooled. The language models' verdicts, where given, "
            "are `stylometry.attribute --held-out`'s on the same excerpts."
        ),
        "",
    ]
    for key in keys:
        sub = rows_of(overall, key)
        if sub.empty:
            continue
        sub = sub.assign(
            cell=[f"{a:.1%} ({c}/{n})" for a, c, n in zip(sub["accuracy"], sub["num_correct"], sub["num_excerpts"])]
        )
        table = sub.pivot_table(index="excerpt_tokens", columns="method", values="cell", aggfunc="first", sort=False)
        table = table[sorted(table.columns, key=lambda m: m != "language models")]
        lines += [
            f"{group_label(key, keys)}:",
            "",
            markdown_table(table.reset_index().rename(columns={"excerpt_tokens": "excerpt tokens"})),
            "",
        ]
    return lines


# ---- one group ----------------------------------------------------------------------------------


def _group_section(
    tables: Tables, key: tuple, keys: Sequence[tuple], figure_files: FIGURE_FILES, captions: dict[str, str]
) -> list[str]:
    sweep, study, experiment, variant = key
    coverage = rows_of(tables.coverage, key).iloc[0]
    lines = [
        f"## {group_label(key, keys)}",
        "",
        f"Variant `{variant}` of experiment `{experiment}`, study `{study}`, from `{sweep}`.",
        "",
    ]
    lines += _coverage_lines(coverage)
    lines += ["", "### Attribution at each model's own final epoch", ""]
    lines += _attribution_lines(tables, key, stats.OWN_FINAL)
    lines += [
        "",
        (
            "Confusion matrix: mean final loss of each model author's models (row) on each author's book "
            "(column); **bold** is the lowest in its column, the author the book is attributed to on average."
        ),
        "",
    ]
    lines += [_confusion_markdown(rows_of(tables.confusion, key, stats.OWN_FINAL))]
    lines += [
        "",
        "### Own author's book vs other authors' books",
        "",
        (
            "Per model author, Welch's t-test (`scipy.stats.ttest_ind(other, own, equal_var=False)`) of its "
            "models' final losses on the other authors' books (pooled over seeds) against their losses on "
            "its own author's book (one per seed): the study's Table 1. t > 0: the own book is predicted "
            f"better. *Significant from*: the epoch from which p < {tables.alpha:g} at every later epoch "
            "(over the epochs all of that author's models reached); *first*: the first epoch with p below it."
        ),
        "",
    ]
    lines += [_ttest_markdown(rows_of(tables.author_ttests, key, stats.OWN_FINAL), rows_of(tables.onset, key))]
    extra = rows_of(tables.extra_sets, key, stats.OWN_FINAL)
    if len(extra):
        lines += ["", "### The contested book and the other extra books", ""]
        lines += _extra_lines(extra)
    lines += ["", *_common_epoch_lines(tables, key, coverage)]
    if FAIR_CUT in tables.at_epochs:
        lines += ["", *_fair_cut_lines(tables, key)]
    if figure_files:
        lines += ["", "### Figures", ""] + _figure_lines(figure_files, captions)
    return lines


def _figure_lines(figure_files: FIGURE_FILES, captions: dict[str, str]) -> list[str]:
    lines = []
    for name, files in figure_files.items():
        png = next(f for f in files if f.endswith(".png"))
        pdf = next((f for f in files if f.endswith(".pdf")), None)
        lines += [f"![{name}]({png})", "", f"*{captions[name]}*" + (f" [PDF]({pdf})" if pdf else ""), ""]
    return lines


def _coverage_lines(coverage: pd.Series) -> list[str]:
    authors = coverage["authors"].split(", ")
    seeds = coverage["seeds"].split(", ")
    lines = [
        (
            f"- {coverage['num_models']} models: {count(len(authors), 'author')} ({coverage['authors']}) × "
            f"{count(len(seeds), 'seed')} ({coverage['seeds']})."
        )
    ]
    lines.append(
        f"- Missing models: {coverage['missing_models']}."
        if coverage["missing_models"]
        else "- No model is missing from the authors × seeds grid."
    )
    if coverage["books_without_model"]:
        lines.append(
            f"- Evaluated by every model, but no model was trained for it here: {coverage['books_without_model']} "
            "(an author whose models are all missing?)."
        )
    lines.append(
        f"- Not complete, analysed at their last evaluated epoch: {coverage['not_complete']}."
        if coverage["not_complete"]
        else "- Every model is complete."
    )
    common = coverage["common_epoch"]
    lines.append(
        f"- Final epochs range from {coverage['min_final_epoch']} to {coverage['max_final_epoch']}; "
        + (f"the common epoch is {common}." if pd.notna(common) else "no epoch was evaluated by every model.")
    )
    return lines


def _attribution_lines(tables: Tables, key: tuple, at: str) -> list[str]:
    accuracy = rows_of(tables.accuracy, key, at)
    if accuracy.empty:
        return ["No book could be attributed."]
    overall = accuracy[accuracy["seed"].isna()].iloc[0]
    share = f" ({overall['accuracy']:.1%})" if pd.notna(overall["accuracy"]) else ""
    lines = [
        (
            f"For each seed and each book, the model author whose model has the lowest loss on it: "
            f"**{overall['num_correct']}/{overall['num_books']} books attributed to their author{share}**."
        ),
        "",
    ]
    per_seed = accuracy[accuracy["seed"].notna()]
    correct = {
        "seed": "correct",
        **{str(s): f"{c}/{n}" for s, c, n in zip(per_seed["seed"], per_seed["num_correct"], per_seed["num_books"])},
    }
    lines.append(markdown_table(pd.DataFrame([correct])))
    attribution = rows_of(tables.attribution, key, at)
    scored = attribution["own_model"].astype(bool)
    wrong = attribution[scored & ~attribution["correct"].astype(bool)]
    lines.append("")
    if wrong.empty:
        lines.append("Every scored held-out book is attributed to its own author.")
    else:
        lines.append(
            "Misattributed: "
            + "; ".join(
                f"{w.book}'s book, seed {w.seed} → {w.attributed_to} ({w.loss:.3f} vs own author's model "
                f"{number(w.own_author_loss, '.3f')})"
                for w in wrong.itertuples()
            )
            + "."
        )
    unscored = attribution[~scored]
    if len(unscored):
        lines.append("")
        lines.append(
            "Not scored, no model of the book's author in that seed: "
            + "; ".join(
                f"{u.book}'s book, seed {u.seed} (lowest loss: {u.attributed_to})" for u in unscored.itertuples()
            )
            + "."
        )
    return lines


def _confusion_markdown(confusion: pd.DataFrame) -> str:
    matrix = confusion.pivot_table(index="model_author", columns="book", values="mean_loss")
    shown = matrix.map(lambda v: number(v, ".3f"))
    for book in matrix.columns:
        best = matrix[book].idxmin()
        shown.loc[best, book] = f"**{shown.loc[best, book]}**"
    return markdown_table(shown.reset_index().rename(columns={"model_author": "model author \\ book"}))


def _ttest_markdown(ttests: pd.DataFrame, onset: pd.DataFrame) -> str:
    table = ttests.merge(onset, on=GROUP + ["model_author"], how="left")
    return markdown_table(
        pd.DataFrame(
            {
                "model author": table["model_author"],
                "t": table["t"].map(lambda v: number(v, ".2f")),
                "df": table["df"].map(lambda v: number(v, ".2f")),
                "p": table["p"].map(lambda v: number(v, ".2e")),
                "mean own": table["mean_own"].map(lambda v: number(v, ".3f")),
                "mean other": table["mean_other"].map(lambda v: number(v, ".3f")),
                "n own / other": [f"{a}/{b}" for a, b in zip(table["num_own"], table["num_other"])],
                "significant from": table["stays_below_from"].map(_epoch),
                "first": table["first_below"].map(_epoch),
            }
        )
    )


def _extra_lines(extra: pd.DataFrame) -> list[str]:
    lines = [
        (
            "Each extra book is attributed to the model author with the lowest mean final loss on it, "
            "tested against the runner-up: Welch's t-test (runner-up's losses vs the attributed author's), "
            "and the paired t-test over shared seeds that the study reported for the contested book."
        ),
        "",
    ]
    for row in extra.itertuples():
        if pd.isna(row.runner_up):
            lines.append(
                f"- **{row.eval_set}**: only {row.attributed_to}'s models were evaluated on it "
                f"(mean loss {row.mean_loss:.3f}); nothing to compare."
            )
            continue
        lines.append(
            f"- **{row.eval_set}** → **{row.attributed_to}**: mean loss {row.mean_loss:.3f} "
            f"({count(row.num_seeds, 'seed')}) vs {row.runner_up} {row.runner_up_mean_loss:.3f} "
            f"({count(row.runner_up_num_seeds, 'seed')}); Welch t({number(row.welch_df, '.2f')}) = "
            f"{number(row.welch_t, '.2f')}, p = {number(row.welch_p, '.2e')}; paired "
            f"t({number(row.paired_df, '.0f')}) = {number(row.paired_t, '.2f')}, "
            f"p = {number(row.paired_p, '.2e')}; lower in {row.seeds_won} of "
            f"{count(row.num_paired_seeds, 'shared seed')}."
        )
    return lines


def _common_epoch_lines(tables: Tables, key: tuple, coverage: pd.Series) -> list[str]:
    common = coverage["common_epoch"]
    if pd.isna(common):
        return ["### At the common epoch", "", "No epoch was evaluated by every model of this group."]
    lines = [
        f"### At the common epoch ({common})",
        "",
        "The same analyses with every model at the largest epoch all of them reached.",
        "",
    ]
    lines += _at_lines(tables, key, stats.COMMON)
    return lines


def _fair_cut_lines(tables: Tables, key: tuple) -> list[str]:
    cut = rows_of(tables.fairness, key)
    if cut.empty:
        return ["### At the fairness cut", "", "No training losses were logged: no cut."]
    reached = int(cut["reached"].sum())
    who = (
        "every model reached it"
        if reached == len(cut)
        else f"{reached} of {count(len(cut), 'model')} reached it; the others are judged at their last epoch"
    )
    lines = [
        f"### At the fairness cut (training loss {cut['threshold'].iloc[0]:.4f})",
        "",
        (
            f"Each model judged at its last evaluation at or before the epoch its training loss first reached "
            f"{cut['threshold'].iloc[0]:.4f} (cut epochs {cut['cut_epoch'].min()}–{cut['cut_epoch'].max()}; {who})."
        ),
        "",
    ]
    return lines + _at_lines(tables, key, FAIR_CUT)


def _at_lines(tables: Tables, key: tuple, at: str) -> list[str]:
    lines = _attribution_lines(tables, key, at)
    ttests = rows_of(tables.author_ttests, key, at)
    lines += [
        "",
        markdown_table(
            pd.DataFrame(
                {
                    "model author": ttests["model_author"],
                    "t": ttests["t"].map(lambda v: number(v, ".2f")),
                    "df": ttests["df"].map(lambda v: number(v, ".2f")),
                    "p": ttests["p"].map(lambda v: number(v, ".2e")),
                }
            )
        ),
    ]
    extra = rows_of(tables.extra_sets, key, at)
    if len(extra):
        lines += ["", *_extra_lines(extra)[2:]]
    return lines


# ---- helpers ------------------------------------------------------------------------------------


def _epoch(value) -> str:
    return MISSING if pd.isna(value) else str(int(value))
