"""An analysis from the sweeps to its files: every table as a CSV, the figures, report.md and report.html.

    python -m stylometry.analyze multirun/paper --out analysis/paper    # analyze(inputs, out_dir, ...)

Every file is written whole or not at all (stylometry.files.atomic).
"""

import dataclasses
import shlex
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from stylometry.analysis import ablation, figures, stats
from stylometry.analysis.ablation import COMPARE_EPOCH, FAIR_CUT, STUDY, variant_order
from stylometry.analysis.baselines import HeldOutAttribution, compare_baselines
from stylometry.analysis.html_report import analysis_html
from stylometry.analysis.load import GROUP, load_sweeps
from stylometry.analysis.normalized import LOSS, NORMALIZED
from stylometry.analysis.report import group_label, group_slug, report_markdown, study_label, study_slug
from stylometry.analysis.stats import ALPHA, OWN_FINAL
from stylometry.analysis.tables import Tables, compute_tables, rows_of
from stylometry.files.atomic import atomic_file


def analyze(
    inputs: Sequence,
    out_dir: Path,
    alpha: float = ALPHA,
    draw_figures: bool = True,
    command: str | None = None,
    compare_epoch: int = COMPARE_EPOCH,
    fairness_cut: bool = False,
    bands: str = figures.MIN_MAX,
    baselines: bool = False,
    excerpt_tokens: Sequence[int] = (),
    attribution: HeldOutAttribution | None = None,
    score: str = LOSS,
) -> Tables:
    """Reads the inputs, writes every output into out_dir, and returns the tables it wrote; score: what the
    statistics compare, the loss or the normalized score (stylometry.analysis.normalized)."""
    sweeps = load_sweeps(inputs)
    if score == NORMALIZED:
        sweeps = dataclasses.replace(sweeps, losses=stats.normalized(sweeps.losses))
    tables = compute_tables(sweeps, alpha, compare_epoch, fairness_cut)
    tables.score = score
    if baselines or excerpt_tokens or attribution is not None:
        tables.baselines = compare_baselines(tables, excerpt_tokens, attribution)
        tables.problems += tables.baselines.problems
    csv_tables = tables.csv_tables()
    command = command or "python -m stylometry.analyze " + " ".join(shlex.quote(str(i)) for i in inputs)
    figure_files = _draw_figures(tables, out_dir, bands) if draw_figures else {}
    for name, table in csv_tables.items():
        with atomic_file(out_dir / f"{name}.csv") as f:
            table.to_csv(f, index=False)
    settings = figures.Settings(alpha, bands, _judged_words(tables))
    captions = {name: figures.caption(name, settings) for name in figures.FIGURE_TYPES}
    report = report_markdown(tables, command, figure_files, captions)
    with atomic_file(out_dir / "report.md") as f:
        f.write(report)
    with atomic_file(out_dir / "report.html") as f:  # report.md in a browser, its figures inline
        f.write(analysis_html(report, out_dir))
    return tables


def _judged_words(tables: Tables) -> str:
    return "each model's fairness cut" if FAIR_CUT in tables.at_epochs else "each model's own final epoch"


def _draw_figures(tables: Tables, out_dir: Path, bands: str) -> dict:
    """Each group's figures into figures/<group>/, and each study's variants together into
    figures/variants[__<study>]/; returns {group key or study key: {figure name: paths relative to out_dir}}.
    Final losses are drawn at the fairness cut when it is on (as the study drew its variant figures)."""
    keys = _keys(tables)
    at = FAIR_CUT if FAIR_CUT in tables.at_epochs else OWN_FINAL
    settings = figures.Settings(tables.alpha, bands, _judged_words(tables))
    data = {key: _group_data(tables, key, keys, at) for key in keys}
    written = {}
    for key in keys:
        paths = figures.draw_all(data[key], settings, out_dir / "figures" / group_slug(key, keys))
        written[key] = {name: [str(p.relative_to(out_dir)) for p in files] for name, files in paths.items()}
    studies = list(dict.fromkeys(key[: len(STUDY)] for key in keys))
    for study in studies:
        variants = {key[-1]: data[key] for key in keys if key[: len(STUDY)] == study}
        if len(variants) < 2:
            continue
        shown = [dataclasses.replace(variants[v], label=v) for v in variant_order(list(variants))]
        folder = "variants" if len(studies) == 1 else f"variants__{study_slug(study, studies)}"
        paths = figures.draw_combined(shown, settings, study_label(study, studies), out_dir / "figures" / folder)
        written[study] = {name: [str(p.relative_to(out_dir)) for p in files] for name, files in paths.items()}
    return written


def _group_data(tables: Tables, key, keys, at: str) -> figures.GroupData:
    confusion = rows_of(tables.confusion, key)
    by_length = rows_of(tables.baselines.accuracy_by_length, key) if tables.baselines is not None else pd.DataFrame()
    if len(by_length):
        by_length = by_length[by_length["seed"].isna()]
    group_losses = rows_of(tables.results, key)
    if at == FAIR_CUT:
        final_rows = stats.up_to(group_losses, ablation.cut_limits(rows_of(tables.fairness, key)))
    else:
        final_rows = stats.at_epoch(group_losses, at)
    return figures.GroupData(
        label=group_label(key, keys),
        losses=group_losses,
        final_rows=final_rows,
        confusion=confusion[confusion["at"] == at],
        by_epoch=rows_of(tables.ttests_by_epoch, key),
        mean_t=rows_of(tables.mean_t_by_epoch, key),
        accuracy_by_epoch=rows_of(tables.accuracy_by_epoch, key),
        extra_by_epoch=rows_of(tables.extra_sets_by_epoch, key),
        accuracy_by_length=by_length,
    )


def _keys(tables: Tables) -> list[tuple]:
    return [tuple(k) for k in tables.coverage[GROUP].itertuples(index=False)] if len(tables.coverage) else []
