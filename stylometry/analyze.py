"""One command from a sweep to the study's results: tables, statistics, figures, report.

    python -m stylometry.analyze multirun/paper --out analysis/paper
    python -m stylometry.analyze multirun/paper path/to/llm-stylometry/models out=analysis/ours_vs_study
    python -m stylometry.analyze multirun/corpus --out analysis/corpus --fairness-cut --bands ci95 --baselines
    python -m stylometry.analyze multirun/corpus --out analysis/corpus --baselines --attribution attribution/held_out

Each input is a dir searched to any depth for our job dirs (metrics.csv + status.json) and for the
study's published models/<name>/loss_logs.csv. Results are computed per input, study, experiment and
variant, never pooled; with several inputs the report also puts their headline numbers side by side,
and the variants of one study are compared (the study's ablation statistics). docs/analysis.md says
what every table and figure holds.

Writes into --out: report.md; results.csv (every loss: one row per variant, model author, seed, epoch,
eval set); runs.csv, coverage.csv; attribution.csv, accuracy.csv, accuracy_by_epoch.csv;
confusion.csv, confusion_by_epoch.csv; author_ttests.csv (the study's Table 1), ttests_by_epoch.csv,
onset.csv; extra_sets.csv (the contested and non-Oz books), extra_sets_by_epoch.csv; seed_mean_t.csv,
mean_t_tests.csv, variant_comparisons.csv, mean_t_by_epoch.csv, mean_t_onset.csv, fairness.csv (the
ablation statistics); headline.csv; with --baselines baselines.csv, baseline_accuracy.csv,
baseline_confusion.csv, baseline_extra_sets.csv (and with excerpts accuracy_by_length.csv);
figures/<group>/*.png|pdf, figures/variants[__<study>]/*.png|pdf.
Every file is written whole or not at all.
"""

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from stylometry.analysis import ablation, figures, stats
from stylometry.analysis.ablation import COMPARE_EPOCH, FAIR_CUT, STUDY, variant_order
from stylometry.analysis.baselines import BaselineError, compare_baselines
from stylometry.analysis.load import GROUP, load_sweeps
from stylometry.analysis.report import group_label, group_slug, study_label, study_slug, write_report
from stylometry.analysis.stats import ALPHA, OWN_FINAL
from stylometry.analysis.tables import Tables, compute_tables
from stylometry.config.schema import ConfigError
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
    attribution: Path | None = None,
) -> Tables:
    """Reads the inputs, writes every output into out_dir, and returns the tables it wrote."""
    tables = compute_tables(load_sweeps(inputs), alpha, compare_epoch, fairness_cut)
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
    with atomic_file(out_dir / "report.md") as f:
        f.write(write_report(tables, command, figure_files, captions))
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
    confusion = _of_group(tables.confusion, key)
    by_length = _of_group(tables.baselines.accuracy_by_length, key) if tables.baselines is not None else pd.DataFrame()
    if len(by_length):
        by_length = by_length[by_length["seed"].isna()]
    group_losses = _of_group(tables.results, key)
    if at == FAIR_CUT:
        final_rows = stats.up_to(group_losses, ablation.cut_limits(_of_group(tables.fairness, key)))
    else:
        final_rows = stats.at_epoch(group_losses, at)
    return figures.GroupData(
        label=group_label(key, keys),
        losses=group_losses,
        final_rows=final_rows,
        confusion=confusion[confusion["at"] == at],
        by_epoch=_of_group(tables.ttests_by_epoch, key),
        mean_t=_of_group(tables.mean_t_by_epoch, key),
        accuracy_by_epoch=_of_group(tables.accuracy_by_epoch, key),
        extra_by_epoch=_of_group(tables.extra_sets_by_epoch, key),
        accuracy_by_length=by_length,
    )


def _keys(tables: Tables) -> list[tuple]:
    return [tuple(k) for k in tables.coverage[GROUP].itertuples(index=False)] if len(tables.coverage) else []


def _of_group(table: pd.DataFrame, key) -> pd.DataFrame:
    if table.empty:
        return table
    return table[(table[GROUP] == list(key)).all(axis=1)]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2: the project's rule for bad input
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _lengths(text: str) -> list[int]:
    try:
        lengths = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of token counts, e.g. 256,1024,4096"
        ) from None
    if not lengths or lengths[0] < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: every excerpt needs at least 2 tokens")
    return lengths


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = _Parser(
        prog="python -m stylometry.analyze",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", help="sweep dirs (ours) or the study's models/ dir")
    parser.add_argument("--out", required=True, help="output dir (also accepted as out=<dir>)")
    parser.add_argument(
        "--alpha", type=float, default=ALPHA, help="significance threshold (default: the study's 0.001)"
    )
    parser.add_argument("--no-figures", action="store_true", help="tables and report only (faster)")
    parser.add_argument(
        "--compare-epoch",
        type=_positive,
        default=COMPARE_EPOCH,
        help="the ablation statistics judge each model at its last epoch at or before this one "
        "(default: the study's 500)",
    )
    parser.add_argument(
        "--fairness-cut",
        action="store_true",
        help="also judge every model where its training loss first reaches its group's common "
        "threshold (the study's variant figures); figures are then drawn at the cut",
    )
    parser.add_argument(
        "--bands",
        choices=figures.BANDS,
        default=figures.MIN_MAX,
        help="band around a mean over seeds: min..max (default) or the bootstrap 95%% CI (the study's)",
    )
    parser.add_argument(
        "--baselines",
        action="store_true",
        help="also attribute the held-out books with naive Bayes and Burrows' Delta, trained on each "
        "model's training text (needs the corpus and tokenizer the runs used)",
    )
    parser.add_argument(
        "--excerpt-tokens",
        type=_lengths,
        default=[],
        help="also attribute every consecutive excerpt of these lengths (e.g. 256,1024,4096) of the "
        "held-out books with the baselines (default: the lengths of --attribution)",
    )
    parser.add_argument(
        "--attribution",
        type=Path,
        default=None,
        help="an output dir of `python -m stylometry.attribute <study> --held-out --excerpt-tokens ...`: "
        "the language models' verdicts on the same excerpts, drawn beside the baselines'",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    # Hydra-style `out=<dir>`, the way the training commands take their overrides.
    argv = [f"--out={a[len('out=') :]}" if a.startswith("out=") else a for a in argv]
    args = parser.parse_args(argv)
    if not 0 < args.alpha < 1:
        parser.error(f"--alpha {args.alpha}: a significance threshold is between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m stylometry.analyze " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    missing = [str(i) for i in args.inputs if not Path(i).is_dir()]
    if len(missing) == len(args.inputs):
        print(
            f"error: no such directory: {', '.join(missing)}; pass a sweep dir (e.g. multirun/<study>) or the "
            "study's models/ dir",
            file=sys.stderr,
        )
        return 2
    try:
        tables = analyze(
            args.inputs,
            Path(args.out),
            args.alpha,
            not args.no_figures,
            command,
            args.compare_epoch,
            args.fairness_cut,
            args.bands,
            args.baselines,
            args.excerpt_tokens,
            args.attribution,
        )
    except (ConfigError, BaselineError) as error:  # a corpus, tokenizer or checkpoint the baselines cannot read
        print(f"error: {error}", file=sys.stderr)
        return 2
    for problem in tables.problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not len(tables.runs):
        print(
            f"error: no model found under {', '.join(map(str, args.inputs))}: nothing to analyse "
            f"(is training still at its first epoch?); see {Path(args.out) / 'report.md'}",
            file=sys.stderr,
        )
        return 2
    print(f"{len(tables.runs)} models analysed; report: {Path(args.out) / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
