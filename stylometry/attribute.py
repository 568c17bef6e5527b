"""Attribute any text with a trained study: every complete model's loss on it, and a verdict over seeds.

    python -m stylometry.attribute multirun/corpus/paper letter.txt chapters/ 'essays/*.txt' --out attribution/a
    python -m stylometry.attribute multirun/corpus/paper letter.txt --excerpt-tokens 256,1024,4096 --out attribution/b
    python -m stylometry.attribute multirun/corpus/paper --held-out --excerpt-tokens 256,1024,4096 --out attribution/c
    python -m stylometry.attribute multirun/corpus/paper letter.txt --score normalized --out attribution/d
    python -m stylometry.attribute multirun/corpus/paper chapter.txt --rolling --window 256 --stride 64 --out a/e

The study dir is a sweep, or any folder of run dirs (stylometry.runs.study: unfinished and failed runs
are listed and left out; a study that mixes variants, tokenizers, corpora or settings is refused), or an export of
one (python -m stylometry.export: read as the study it came from), or a folder of plain per-author from_pretrained
GPT-2 folders (their raw losses only: nothing says which books they held out; docs/sharing.md).
Each complete model is loaded once and scores every text with its final checkpoint (`checkpoint/`),
exactly as training evaluates (stylometry.model.evaluate: consecutive windows, total NLL over the
predicted tokens divided by their number, no padding counted), on the text as the study's models
saw their books: the runs' tokenizer and variant transform, through the training's token cache, and
the first `data.eval_max_tokens` tokens, as the study evaluated its own texts (--max-tokens all: the
whole text). Models are scored in parallel over GPUs (--jobs-per-gpu each, leased as the sweep's
jobs lease them) or CPU processes (--jobs).

Open set (stylometry.attribution.open_set): a text whose best candidate's mean score is above that candidate's
bound (what its models give 95% of its own held-out excerpts of the text's length) is "none of the candidates";
--closed-set always names a candidate.

A text is never scored by a model that trained on it (stylometry.data.overlap): a text taken from one of
the study's books is scored only by the seeds whose models did not train on that book (the seeds
that held it out), by every author's model of those seeds, so that the book's own author is never
the one left out.

Beside each verdict: how well the study attributes its own held-out books cut to the text's length
(stylometry.attribution.trust; computed once per study and kept in its token cache); where that accuracy's 95%
interval reaches chance, the verdict names no author. --no-trust skips it.

With --score normalized the verdicts compare each model's loss minus its own mean loss on its seed's held-out
books of every candidate (stylometry.analysis.normalized): a model that learned English better than its
rivals gains nothing from it. Each model then also scores those books.

Outputs in --out (each file written whole, after every model has scored every text):
    scores.csv       text, excerpt_tokens, excerpt, model_author, seed, loss, tokens (one row per model and text);
                     with --score normalized also reference_loss and normalized (loss - reference_loss)
    reference.csv    with --score normalized: each model's mean loss on its reference books, and how many
    baselines.csv    with --baselines: each seed's naive Bayes and Burrows' Delta verdict on each text and excerpt;
                     verdicts.csv then also holds each method's verdict (the author most seeds name), its seeds,
                     and whether both agree with the language models (methods_agree)
    verdicts.csv     per text (and excerpt): the author with the lowest mean loss over seeds, the runner-up,
                     the paired t-test over the seeds they share (Welch's where the seeds differ), p, the
                     seeds won, in how many seeds each author's model was lowest (lowest_in_seeds), and the
                     verdict: the author, or "no verdict" where p > --alpha. With --score normalized the
                     mean_loss columns hold the mean normalized score.
                     The same numbers as `analyze`'s extra-set verdicts (stylometry.analysis.stats).
    rolling.csv, change_points.csv, passages.csv
                     with --rolling (stylometry.attribution.rolling): along each text, a row per window (each
                     candidate's mean loss over seeds and its seeds' band, the leader, the margin over the
                     runner-up), where the leader changes and stays changed for a window's length, and the text cut
                     into passages by leader; every model scores each text once, keeping its loss at every token.
                     With --held-out: the rule measured on texts stitched from the held-out books (switches.csv)
    excerpts.csv     with --excerpt-tokens: per text and excerpt length, how many excerpts went to each author
    held_out.csv, held_out_accuracy.csv
                     with --held-out: each held-out book (of each seed, attributed by that seed's models
                     only) and its excerpts, and accuracy against excerpt length, per author and overall,
                     with a 95% confidence interval
    report.md, report.html, figures/*.png
                     report.html: the same for a browser, one self-contained file, the verdicts first, each text
                     shaded by the candidate whose models predict each passage best (with --rolling)

The work is stylometry.attribution's (pipeline.py from start to result; texts.py, scoring.py, verdicts.py,
held_out.py; report.py writes); this module parses the command line, calls it, and prints.
"""

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from stylometry.analysis.baselines import BaselineError
from stylometry.analysis.normalized import LOSS, SCORES
from stylometry.analysis.stats import ALPHA
from stylometry.attribution.open_set import FALSE_REJECTION
from stylometry.attribution.pipeline import Request, attribute
from stylometry.attribution.rolling import STRIDE, WINDOW, check_window
from stylometry.attribution.texts import AttributionError
from stylometry.config.arguments import CommandParser, excerpt_lengths
from stylometry.config.schema import ConfigError, first_line
from stylometry.runs.study import StudyError

USAGE = (
    "usage: python -m stylometry.attribute <study dir> [<texts> ...] --out <dir> [--excerpt-tokens 256,1024] "
    "[--held-out]"
)
DEVICES = ("auto", "cpu", "cuda", "mps")


def parser() -> CommandParser:
    parser = CommandParser(
        prog="python -m stylometry.attribute",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage_line=USAGE,
    )
    parser.add_argument("study_dir", type=Path, help="a sweep dir, or any folder of run dirs")
    parser.add_argument("texts", nargs="*", help=".txt files, folders of them, or globs")
    parser.add_argument("--out", required=True, type=Path, help="output dir")
    parser.add_argument("--excerpt-tokens", default="", help="comma-separated excerpt lengths, e.g. 256,1024,4096")
    parser.add_argument(
        "--held-out",
        action="store_true",
        help="attribute the study's own held-out books (each by its seed's models) instead of texts",
    )
    parser.add_argument(
        "--authors", default="", help="comma-separated: compare only these authors' models (default: all)"
    )
    parser.add_argument(
        "--alpha", type=float, default=ALPHA, help=f"no verdict where p is above this (default: the study's {ALPHA})"
    )
    parser.add_argument(
        "--max-tokens",
        default=None,
        help="score each text's first N tokens, or `all` (default: the study's data.eval_max_tokens)",
    )
    parser.add_argument(
        "--calibration-tokens",
        default=None,
        help="score each held-out book's first N tokens, or `all`, for what calibrates a verdict (the held-out curve, "
        "the open-set bound, the likelihood ratio, the normalized score's reference; kept once computed); default: "
        "the study's data.eval_max_tokens, whatever --max-tokens",
    )
    parser.add_argument("--no-figures", action="store_true", help="tables and report only")
    add_question_options(parser)
    add_running_options(parser)
    return parser


def add_question_options(parser: CommandParser) -> None:
    """What is asked of each text beyond the lowest candidate: the score, how far to trust it, whether it is any of
    them, what the classical methods say, and where along the text."""
    parser.add_argument(
        "--score",
        choices=SCORES,
        default=LOSS,
        help="what the verdicts compare: each model's loss (the study's), or its loss minus its own mean loss on "
        "its seed's held-out books (normalized: a model better at English in general gains nothing)",
    )
    parser.add_argument(
        "--no-trust",
        dest="trust",
        action="store_false",
        help="skip the study's held-out accuracy at each text's length (computed once per study, then kept)",
    )
    parser.add_argument(
        "--no-lr",
        dest="likelihood_ratio",
        action="store_false",
        help="skip each candidate's likelihood ratio, calibrated on the study's held-out books (kept once computed)",
    )
    parser.add_argument(
        "--impostors",
        type=Path,
        default=None,
        help="a study of other writers (run dirs or an export), trained as the candidates were: their models join "
        "the likelihood ratio's reference, their held-out books its different-author trials",
    )
    parser.add_argument(
        "--closed-set",
        action="store_true",
        help='always name the best candidate: never "none of the candidates" (the open-set bound is off)',
    )
    parser.add_argument(
        "--false-rejection",
        type=float,
        default=FALSE_REJECTION,
        help="the open set's: the share of a candidate's own unseen text called none of the candidates, by the "
        f"likelihood ratio's threshold or the open-set bound (default {FALSE_REJECTION})",
    )
    parser.add_argument(
        "--baselines",
        action="store_true",
        help="also attribute every text with naive Bayes and Burrows' Delta, fitted per seed on each candidate "
        "model's training text",
    )
    parser.add_argument(
        "--rolling",
        action="store_true",
        help="also along each text: which candidate's models predict each window of it best, and where that changes",
    )
    parser.add_argument("--window", type=int, default=WINDOW, help=f"--rolling's window, in tokens (default {WINDOW})")
    parser.add_argument(
        "--stride", type=int, default=STRIDE, help=f"--rolling's step between windows, in tokens (default {STRIDE})"
    )


def add_running_options(parser: CommandParser) -> None:
    """Where and how the models run, and where the study's inputs are if they have moved."""
    parser.add_argument("--device", default="auto", help="auto (cuda, else mps, else cpu), cpu, cuda or mps")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="models scored at once (default: one per GPU x --jobs-per-gpu; on a CPU, 1)",
    )
    parser.add_argument("--jobs-per-gpu", type=int, default=1, help="models sharing one GPU (default 1)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="windows per batch (default: data.eval_batch_size)"
    )
    parser.add_argument("--corpus", type=Path, default=None, help="the study's corpus, if it has moved")
    parser.add_argument("--tokenizer", default=None, help="the study's tokenizer folder, if it has moved")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, checked: an AttributionError or ConfigError says what is wrong with it."""
    args = parser().parse_args(argv)
    args.excerpt_tokens = excerpt_lengths(args.excerpt_tokens)
    args.authors = [name for name in args.authors.split(",") if name]
    if args.device not in DEVICES:
        raise AttributionError(f"--device {args.device}: choose {', '.join(DEVICES[:-1])} or {DEVICES[-1]}")
    if not 0 < args.alpha < 1:
        raise AttributionError(f"--alpha {args.alpha}: choose a p threshold between 0 and 1, e.g. 0.001")
    if args.held_out and args.texts:
        raise AttributionError(
            "--held-out attributes the study's own held-out books: give it no texts (or drop --held-out)"
        )
    if args.held_out and args.baselines:
        raise AttributionError(
            "--baselines with --held-out: the held-out books' baselines are the analysis's "
            "(python -m stylometry.analyze <study> --baselines --attribution <this --out>)"
        )
    if args.impostors is not None and not args.likelihood_ratio:
        raise AttributionError("--impostors is the likelihood ratio's reference: drop --no-lr or --impostors")
    if not 0 < args.false_rejection < 1:
        raise AttributionError(f"--false-rejection {args.false_rejection}: choose a share between 0 and 1, e.g. 0.05")
    if args.rolling:
        check_window(args.window, args.stride)
    if not args.held_out and not args.texts:
        raise AttributionError(
            f"no texts: pass .txt files, folders or globs after the study dir, or --held-out ({USAGE})"
        )
    for key in ("jobs", "batch_size"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            raise AttributionError(f"--{key.replace('_', '-')} must be at least 1")
    if args.out.exists() and not args.out.is_dir():
        raise AttributionError(f"--out {args.out} is a file: pass a dir (made if missing)")
    return args


def request_of(args: argparse.Namespace) -> Request:
    """What to attribute: every option but where to write (--out) and what (--no-figures)."""
    return Request(**{key: value for key, value in vars(args).items() if key not in ("out", "no_figures")})


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    command = "python -m stylometry.attribute " + " ".join(shlex.quote(a) for a in argv)
    try:
        args = parse_args(argv)
        result = attribute(request_of(args))
    except SystemExit as exit:  # argparse's: --help (0), or a bad command line, its one line printed (2)
        return exit.code
    except KeyboardInterrupt:
        return 130
    except (AttributionError, StudyError, ConfigError, BaselineError) as error:
        print(f"error: {first_line(error)}", file=sys.stderr)
        return 2
    from stylometry.attribution.report import summary_lines, write_outputs

    write_outputs(result, args.out, command, not args.no_figures)
    print("\n".join(summary_lines(result)))
    print(f"report: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
