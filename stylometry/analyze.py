"""One command from a sweep to the study's results: tables, statistics, figures, report.

    python -m stylometry.analyze multirun/paper --out analysis/paper
    python -m stylometry.analyze multirun/paper path/to/llm-stylometry/models out=analysis/ours_vs_study
    python -m stylometry.analyze multirun/corpus --out analysis/corpus --fairness-cut --bands ci95 --baselines
    python -m stylometry.analyze multirun/corpus --out analysis/corpus --baselines --attribution attribution/held_out
    python -m stylometry.analyze multirun/corpus --out analysis/normalized --score normalized

Each input is a dir searched to any depth for our run dirs (stylometry/runs/: their metrics and status) and for
the study's published models/<name>/loss_logs.csv. Results are computed per input, study, experiment and
variant, never pooled; with several inputs the report also puts their headline numbers side by side,
and the variants of one study are compared (the study's ablation statistics). docs/analysis.md says
what every table and figure holds.

Writes into --out: report.md, report.html (the same, figures inline, for a browser); results.csv (every loss:
one row per variant, model author, seed, epoch, eval set); runs.csv, coverage.csv; attribution.csv, accuracy.csv,
accuracy_by_epoch.csv; confusion.csv, confusion_by_epoch.csv; author_ttests.csv (the study's Table 1),
ttests_by_epoch.csv, onset.csv; extra_sets.csv (the contested and non-Oz books), extra_sets_by_epoch.csv;
seed_mean_t.csv, mean_t_tests.csv, variant_comparisons.csv, mean_t_by_epoch.csv, mean_t_onset.csv, fairness.csv (the
ablation statistics); headline.csv; with --baselines baselines.csv, baseline_accuracy.csv,
baseline_confusion.csv, baseline_extra_sets.csv (and with excerpts accuracy_by_length.csv);
figures/<group>/*.png|pdf, figures/variants[__<study>]/*.png|pdf.
With --score normalized every statistic compares each model's loss minus its own mean loss, at that epoch, on
its seed's held-out books (stylometry.analysis.normalized); results.csv keeps the logged loss too.
Every file is written whole or not at all.

The work is stylometry.analysis's (outputs.analyze: load, tables, baselines, figures, report); this module
parses the command line, calls it, and prints.
"""

import argparse
import shlex
import sys
from pathlib import Path

from stylometry.analysis import figures
from stylometry.analysis.ablation import COMPARE_EPOCH
from stylometry.analysis.baselines import BaselineError
from stylometry.analysis.normalized import LOSS, NORMALIZED
from stylometry.analysis.outputs import analyze
from stylometry.analysis.stats import ALPHA
from stylometry.config.arguments import CommandParser, excerpt_lengths
from stylometry.config.schema import ConfigError

USAGE = "usage: python -m stylometry.analyze <sweep dir> [<sweep dir> ...] --out <dir> [--baselines]"


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def parser() -> CommandParser:
    parser = CommandParser(
        prog="python -m stylometry.analyze",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage_line=USAGE,
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
        "--score",
        choices=(LOSS, NORMALIZED),
        default=LOSS,
        help="what the statistics compare: each model's loss (the study's), or its loss minus its own mean loss on "
        "its seed's held-out books (normalized: a model better at English in general gains nothing)",
    )
    parser.add_argument(
        "--baselines",
        action="store_true",
        help="also attribute the held-out books with naive Bayes and Burrows' Delta, trained on each "
        "model's training text (needs the corpus and tokenizer the runs used)",
    )
    parser.add_argument(
        "--excerpt-tokens",
        default="",
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
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked: a bad one is its one line on stderr and exit 2 (stylometry.config.arguments)."""
    command_line = parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Hydra-style `out=<dir>`, the way the training commands take their overrides.
    argv = [f"--out={a[len('out=') :]}" if a.startswith("out=") else a for a in argv]
    args = command_line.parse_args(argv)
    if not 0 < args.alpha < 1:
        command_line.error(f"--alpha {args.alpha}: a significance threshold is between 0 and 1")
    try:
        args.excerpt_tokens = excerpt_lengths(args.excerpt_tokens)
    except ConfigError as error:
        command_line.error(str(error))
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
        attribution = None
        if args.attribution is not None:  # read by its writer's module: the analysis never names its files
            from stylometry.attribution.report import read_held_out_attribution

            attribution = read_held_out_attribution(args.attribution)
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
            attribution,
            args.score,
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
