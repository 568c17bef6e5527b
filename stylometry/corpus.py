"""Know a corpus before training on it: per author its books and tokens, the training tokens the study's rule gives
(data.n_train_tokens) and which author sets it, and what would hurt an attribution.

    python -m stylometry.corpus /path/to/mycorpus
    python -m stylometry.corpus                         # data.root's default: STYLOMETRY_DATA, else the demo corpus
    python -m stylometry.corpus ../shared/corpus --cache-dir /tmp/corpus-cache

Flags, each naming its file or author: an author far smaller than the others, Project Gutenberg's header or licence
left in a book, a text under two authors, a short, empty or non-UTF-8 book, an author folder with fewer than two
books. A corpus whose rule gives few training tokens gets a suggestion of a preset for small corpora.

Exit code 0 when the report is printed, flags or none; 2 with one line `error: ...` for a folder that is not a
corpus (missing, or fewer than two author folders) or a bad command line. The defaults of --not-authors,
--tokenizer and --cache-dir are training's (data.not_authors, data.tokenizer, data.cache_dir), so the tokens counted
are the ones a study trains on, and its training finds them in the cache.

The work is stylometry.data.corpus_report's; this module parses the command line, calls it, and prints.
"""

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from stylometry.config.arguments import CommandParser
from stylometry.config.schema import DEMO_CORPUS, ConfigError, CorpusDataConfig, first_line
from stylometry.data.corpus import demo_corpus_note
from stylometry.data.corpus_report import report_lines, survey

USAGE = (
    "usage: python -m stylometry.corpus [<corpus folder>] [--not-authors a,b] [--tokenizer <folder>] "
    "[--cache-dir <folder>]"
)


def parser() -> CommandParser:
    data = CorpusDataConfig()  # the schema's defaults, as training has them
    # conf/data/corpus.yaml reads the tokenizer from STYLOMETRY_TOKENIZER before the schema's default: so does this
    tokenizer = os.environ.get("STYLOMETRY_TOKENIZER") or data.tokenizer
    parser = CommandParser(
        prog="python -m stylometry.corpus",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage_line=USAGE,
    )
    # The corpus's default is training's data.root (conf/data/corpus.yaml): STYLOMETRY_DATA, else the demo corpus.
    root = os.environ.get("STYLOMETRY_DATA") or DEMO_CORPUS
    parser.add_argument(
        "root",
        type=Path,
        nargs="?",
        default=Path(root),
        help=f"the corpus: one folder of .txt books per author (default: STYLOMETRY_DATA, else {DEMO_CORPUS})",
    )
    parser.add_argument(
        "--not-authors",
        default=",".join(data.not_authors),
        help=f"comma-separated folders that are not authors (default: data.not_authors, {','.join(data.not_authors)})",
    )
    parser.add_argument(
        "--tokenizer",
        default=tokenizer,
        help=f"a tokenizer folder (default: STYLOMETRY_TOKENIZER, else {data.tokenizer})",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(data.cache_dir), help=f"the token cache (default: {data.cache_dir})"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser().parse_args(argv)
        not_authors = [name for name in args.not_authors.split(",") if name]
        if demo_corpus_note(args.root):
            print(demo_corpus_note(args.root), file=sys.stderr)
        report = survey(args.root, not_authors, args.tokenizer, args.cache_dir)
    except SystemExit as exit:  # argparse's: --help (0), or a bad command line, its one line printed (2)
        return exit.code
    except KeyboardInterrupt:
        return 130
    except ConfigError as error:
        print(f"error: {first_line(error)}", file=sys.stderr)
        return 2
    print("\n".join(report_lines(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
