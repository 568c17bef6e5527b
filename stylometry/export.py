"""Export a trained study to share it: one folder per complete model that transformers loads alone (weights, config,
the run's tokenizer), each with a Hugging Face model card, and the study's card listing them.

    python -m stylometry.export multirun/corpus/paper --out exports/paper

Each model's card states its author, seed, variant, init (with its starting weights' hash), training books and
tokens, held-out book, why it stopped, its final losses and the study's held-out accuracy; the study's card, every
model and the study's identity. Nothing is uploaded: publishing a folder is one huggingface_hub call, shown in the
study's card. Exit code 2 with one line `error: ...` for a study that cannot be exported or an --out that exists.

The layout and the cards: stylometry.runs.export; the study's models: stylometry.runs.study.
"""

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from stylometry.config.arguments import CommandParser
from stylometry.config.schema import ConfigError, first_line
from stylometry.runs.export import CARD, ExportError, StudyFacts, export_study, refuse_existing
from stylometry.runs.study import StudyError, load_study

USAGE = "usage: python -m stylometry.export <study dir> --out <new folder> [--license mit]"


def parser() -> CommandParser:
    parser = CommandParser(
        prog="python -m stylometry.export",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage_line=USAGE,
    )
    parser.add_argument("study_dir", type=Path, help="the study: a sweep dir, or any folder of run dirs")
    parser.add_argument("--out", type=Path, required=True, help="a new folder for the export (never one that exists)")
    parser.add_argument("--license", default="mit", help="the cards' licence, a Hub licence id (default: mit)")
    return parser


def held_out_accuracy(study_dir: Path) -> dict:
    """seed (and "all") -> (books named, books): each author's held-out book of a seed named by the lowest loss
    among that seed's models at each model's final epoch, as `analyze` reports it (stylometry.analysis.stats)."""
    from stylometry.analysis import stats
    from stylometry.analysis.load import load_sweeps

    losses = load_sweeps([study_dir]).losses
    table = stats.accuracy(stats.lowest_loss_author(stats.books(stats.at_epoch(losses, stats.OWN_FINAL))))
    return {
        ("all" if row.seed is None or str(row.seed) == "<NA>" else int(row.seed)): (row.num_correct, row.num_books)
        for row in table.itertuples()
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = "python -m stylometry.export " + " ".join(shlex.quote(a) for a in argv)
    try:
        args = parser().parse_args(argv)
        refuse_existing(args.out)  # before the study is read: a refusal need not wait for it
        study = load_study(args.study_dir)
        cfg = study.cfg
        facts = StudyFacts(
            cfg.study,
            cfg.experiment_name,
            cfg.variant.name,
            str(args.study_dir),
            held_out_accuracy(args.study_dir),
            command,
            args.license,
        )
        folders = export_study(study, facts, args.out)
    except SystemExit as exit:  # argparse's: --help (0), or a bad command line, its one line printed (2)
        return exit.code
    except KeyboardInterrupt:
        return 130
    except (ConfigError, ExportError, StudyError, OSError) as error:
        print(f"error: {first_line(error)}", file=sys.stderr)
        return 2
    print(f"exported {len(folders)} models to {args.out} (the study's card: {args.out / CARD})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
