"""One command from a sweep to the study's results: tables, statistics, figures, report.

    python -m stylometry.analyze multirun/paper --out analysis/paper
    python -m stylometry.analyze multirun/paper path/to/llm-stylometry/models out=analysis/ours_vs_study

Each input is a dir searched to any depth for our job dirs (metrics.csv + status.json) and for the
study's published models/<name>/loss_logs.csv. Results are computed per input, experiment and variant,
never pooled; with several inputs the report also puts their headline numbers side by side.

Writes into --out: report.md; results.csv (every loss: one row per variant, model author, seed, epoch,
eval set); runs.csv, coverage.csv; attribution.csv, accuracy.csv, accuracy_by_epoch.csv;
confusion.csv, confusion_by_epoch.csv; author_ttests.csv (the study's Table 1), ttests_by_epoch.csv,
onset.csv; extra_sets.csv (the contested and non-Oz books), extra_sets_by_epoch.csv; headline.csv; figures/<group>/*.png|pdf.
"""

import argparse
import shlex
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from stylometry.analysis import figures, stats
from stylometry.analysis.load import GROUP, load_sweeps
from stylometry.analysis.report import group_slug, write_report
from stylometry.analysis.stats import ALPHA, OWN_FINAL
from stylometry.analysis.tables import Tables, compute_tables


def analyze(inputs: Sequence, out_dir: Path, alpha: float = ALPHA, draw_figures: bool = True,
            command: Optional[str] = None) -> Tables:
    """Reads the inputs, writes every output into out_dir, and returns the tables it wrote."""
    tables = compute_tables(load_sweeps(inputs), alpha)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.csv_tables().items():
        table.to_csv(out_dir / f"{name}.csv", index=False)
    figure_files = _draw_figures(tables, out_dir) if draw_figures else {}
    command = command or "python -m stylometry.analyze " + " ".join(shlex.quote(str(i)) for i in inputs)
    (out_dir / "report.md").write_text(write_report(tables, command, figure_files))
    return tables


def _draw_figures(tables: Tables, out_dir: Path):
    """Each group's figures into figures/<group>/; returns {group key: paths relative to out_dir}."""
    keys = [tuple(k) for k in tables.coverage[GROUP].itertuples(index=False)] if len(tables.coverage) else []
    written = {}
    for key in keys:
        confusion = _of_group(tables.confusion, key)
        paths = figures.draw_all(
            _of_group(tables.results, key),
            stats.at_epoch(_of_group(tables.results, key), OWN_FINAL),
            confusion[confusion["at"] == OWN_FINAL],
            _of_group(tables.ttests_by_epoch, key),
            _of_group(tables.accuracy_by_epoch, key),
            _of_group(tables.extra_sets_by_epoch, key),
            tables.alpha,
            out_dir / "figures" / group_slug(key, keys),
        )
        written[key] = [str(p.relative_to(out_dir)) for p in paths]
    return written


def _of_group(table, key):
    return table[(table[GROUP] == list(key)).all(axis=1)]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stylometry.analyze", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="sweep dirs (ours) or the study's models/ dir")
    parser.add_argument("--out", required=True, help="output dir (also accepted as out=<dir>)")
    parser.add_argument("--alpha", type=float, default=ALPHA, help="significance threshold (default: the study's 0.001)")
    parser.add_argument("--no-figures", action="store_true", help="tables and report only (faster)")
    argv = list(sys.argv[1:] if argv is None else argv)
    # Hydra-style `out=<dir>`, the way the training commands take their overrides.
    argv = [f"--out={a[len('out='):]}" if a.startswith("out=") else a for a in argv]
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    command = "python -m stylometry.analyze " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    tables = analyze(args.inputs, Path(args.out), args.alpha, not args.no_figures, command)
    for problem in tables.problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"{len(tables.runs)} models analysed; report: {Path(args.out) / 'report.md'}")
    return 0 if len(tables.runs) else 1


if __name__ == "__main__":
    sys.exit(main())
