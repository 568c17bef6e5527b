"""Know a corpus before training on it: per author its books and tokens, the training tokens the study's rule gives,
and what would hurt an attribution.

    python -m stylometry.corpus /path/to/mycorpus

Tokens are counted on the books as written (no variant), with the tokenizer a study trains with, through the
training's token cache (stylometry.data.tokens.BookReader): a later training reads them from there. The rule for
`data.n_train_tokens` is the study's (splits.largest_train_tokens, splits.author_train_tokens): each author's tokens
minus its longest book (the held-out book can be any of them), the smallest over authors; here it is counted on the
usable books, so that one flagged book does not hide the rest. The flags, each naming its file or author:

- a small author: under SMALL_AUTHOR_SHARE of the median author's tokens;
- Project Gutenberg's header or licence left in a book (GUTENBERG_LINE): its file and first such line;
- shared text: a book with at least overlap.FROM_BOOK_SHARE of its token runs in another author's book;
- a short book (under SHORT_BOOK_TOKENS), and an unusable one (empty, or not UTF-8: corpus.check_book's refusals);
- too few books: an author folder with fewer than 2 (one is held out).

Flags are reported, never raised: the report is for fixing them. Only a folder that is not a corpus at all (missing,
or fewer than 2 author folders) raises ConfigError.
"""

import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import numpy as np

from stylometry.config.schema import ConfigError
from stylometry.data.corpus import author_folders, books, check_book
from stylometry.data.overlap import FROM_BOOK_SHARE, SHINGLE, shares_in_books
from stylometry.data.splits import author_train_tokens
from stylometry.data.tokenizer import load_tokenizer
from stylometry.data.tokens import BookReader
from stylometry.data.variants import IDENTITY_KEY

# Every author's models train on as many tokens as the smallest author's training text holds (the study's rule), so
# an author far below the others cuts everyone's training text to its size, and its own models learn its style from
# little. A third of the median: in the study's corpus the smallest author (Thompson, 708,249 GPT-2 tokens) holds three
# quarters of the median author's (935,516), so an author under a third is well outside what the study measured.
SMALL_AUTHOR_SHARE = 1 / 3
# A held-out book is scored in windows of model.n_positions tokens (1,024 in the study): a book under half a window
# gives its author's models one short, noisy loss to be judged by.
SHORT_BOOK_TOKENS = 500
# The study's model (the paper preset, 8.1 M parameters) trained on 643,041 tokens per model; under 200,000 (under a
# third of that) it has over 40 parameters per training token, far from the setting the study measured.
SMALL_CORPUS_TRAIN_TOKENS = 200_000
SMALL_CORPUS_SUGGESTION = "train with experiment=small, the preset for small corpora"
# Project Gutenberg's header and licence (the cleaned corpus is lower case, so case is ignored): not the author's text.
GUTENBERG_LINE = re.compile(
    r"\*\*\*\s*(start|end) of|project gutenberg|gutenberg\.org|this ebook is for the use of anyone", re.IGNORECASE
)
QUOTED_CHARACTERS = 60  # of an offending line, enough to recognise it

# The flags' kinds, in the order the report lists them.
SMALL_AUTHOR, TOO_FEW_BOOKS, UNUSABLE_BOOK, SHORT_BOOK, GUTENBERG, SHARED_TEXT = (
    "small author",
    "too few books",
    "unusable book",
    "short book",
    "gutenberg text",
    "shared text",
)
KINDS = (SMALL_AUTHOR, TOO_FEW_BOOKS, UNUSABLE_BOOK, SHORT_BOOK, GUTENBERG, SHARED_TEXT)


@dataclass(frozen=True)
class Flag:
    kind: str  # one of KINDS
    subject: str  # the author, or the book's path relative to the corpus
    detail: str  # what is wrong, and why it hurts

    def line(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


@dataclass
class AuthorCount:
    name: str
    num_books: int  # its .txt files, usable or not
    book_tokens: List[int]  # of each usable book

    @property
    def tokens(self) -> int:
        return sum(self.book_tokens)

    @property
    def train_tokens(self) -> int:
        return author_train_tokens(self.book_tokens)


@dataclass
class CorpusReport:
    root: Path
    tokenizer: str  # as given
    authors: List[AuthorCount]
    not_authors: List[str]  # the corpus's folders left out as not authors
    flags: List[Flag] = field(default_factory=list)

    @property
    def n_train_tokens(self) -> int:
        """The study's rule on this corpus (its usable books): the smallest author's training tokens."""
        return self.smallest.train_tokens

    @property
    def smallest(self) -> AuthorCount:
        """The author that sets n_train_tokens (the first by name on a tie)."""
        return min(self.authors, key=lambda author: author.train_tokens)

    @property
    def small(self) -> bool:
        return self.n_train_tokens < SMALL_CORPUS_TRAIN_TOKENS


def corpus_authors(root: Path, not_authors: Iterable[str]) -> List[str]:
    """The corpus's author folders; a ConfigError for a folder that is not a corpus (missing, or under 2 authors)."""
    if not root.is_dir():
        raise ConfigError(f"{root}: no such folder; pass the corpus, a folder of author folders of .txt books")
    names = author_folders(root, not_authors)
    if len(names) < 2:
        raise ConfigError(
            f"{root} holds {len(names)} author folder(s) ({', '.join(names) or 'none'}): attribution needs at least "
            "two, one folder of .txt books per author (--not-authors lists the folders that are not authors)"
        )
    return names


def survey(root: Path, not_authors: List[str], tokenizer: str, cache_dir: Path) -> CorpusReport:
    """The corpus's report: its authors' counts and every flag. The folders are checked before the tokenizer loads,
    so a wrong folder fails at once."""
    names = corpus_authors(root, not_authors)
    reader = BookReader(cache_dir.expanduser(), load_tokenizer(tokenizer), lambda text: text, IDENTITY_KEY)
    flags: List[Flag] = []
    authors, tokens = count_books(root, names, reader, flags)
    report = CorpusReport(
        root,
        tokenizer,
        authors,
        sorted(path.name for path in root.iterdir() if path.is_dir() and path.name in set(not_authors)),
    )
    flags += author_flags(report)
    flags += shared_texts(tokens, root)
    report.flags = sorted(flags, key=lambda flag: (KINDS.index(flag.kind), flag.subject))
    return report


def count_books(
    root: Path, names: List[str], reader: BookReader, flags: List[Flag]
) -> Tuple[List[AuthorCount], Dict[Path, np.ndarray]]:
    """Each author's count, and the tokens of every usable book; the books' own flags added to `flags`."""
    authors, tokens = [], {}
    for name in names:
        paths = books(root / name)
        for path in paths:
            subject = str(path.relative_to(root))
            try:
                check_book(path)
            except ConfigError as error:  # check_book's message starts with the path, which the flag names
                flags.append(
                    Flag(UNUSABLE_BOOK, subject, f"{str(error).removeprefix(f'{path} ')} (training refuses it)")
                )
                continue
            tokens[path] = reader.read(path).tokens
            flags += book_flags(subject, path.read_text(encoding="utf-8"), len(tokens[path]))
        authors.append(AuthorCount(name, len(paths), [len(tokens[path]) for path in paths if path in tokens]))
    return authors, tokens


def book_flags(subject: str, text: str, num_tokens: int) -> List[Flag]:
    """A usable book's flags: short, and Project Gutenberg's lines (the first one, by line number from 1)."""
    flags = []
    if num_tokens < SHORT_BOOK_TOKENS:
        flags.append(
            Flag(
                SHORT_BOOK,
                subject,
                f"{num_tokens:,} tokens (under {SHORT_BOOK_TOKENS}): held out, it is a short, noisy test of its "
                "author's models",
            )
        )
    found = GUTENBERG_LINE.search(text)
    if found:
        start = text.rfind("\n", 0, found.start()) + 1
        end = text.find("\n", found.start())
        line = text[start : end if end >= 0 else len(text)].strip()[:QUOTED_CHARACTERS]
        flags.append(
            Flag(
                GUTENBERG,
                subject,
                f"line {text.count(chr(10), 0, found.start()) + 1}: {line!r}: Project Gutenberg's header or licence, "
                "not the author's text: remove it",
            )
        )
    return flags


def author_flags(report: CorpusReport) -> List[Flag]:
    """Authors with too few books to hold one out, and authors far smaller than the median author."""
    flags = []
    median = statistics.median(author.tokens for author in report.authors)
    for author in report.authors:
        if author.num_books < 2:
            flags.append(
                Flag(
                    TOO_FEW_BOOKS,
                    author.name,
                    f"{author.num_books} book(s): one is held out for evaluation, so an author needs at least 2 "
                    "(training refuses it)",
                )
            )
        if author.tokens < SMALL_AUTHOR_SHARE * median:
            flags.append(
                Flag(
                    SMALL_AUTHOR,
                    author.name,
                    f"{author.tokens:,} tokens, under {SMALL_AUTHOR_SHARE:.0%} of the median author's {median:,.0f}: "
                    f"the study's rule gives every author's models at most its {author.train_tokens:,} training tokens",
                )
            )
    return flags


def shared_texts(tokens: Dict[Path, np.ndarray], root: Path) -> List[Flag]:
    """Each pair of books of two authors where one has at least FROM_BOOK_SHARE of its token runs in the other
    (overlap.py's test for a text taken from a book), flagged once, on the book with the larger share."""
    best: Dict[frozenset, Tuple[float, Path, Path]] = {}
    for path, shares in zip(tokens, shares_in_books(list(tokens.values()), tokens)):
        for other, share in shares.items():
            if other.parent == path.parent:
                continue  # a flag is a text under two authors
            pair = frozenset((path, other))
            if share >= FROM_BOOK_SHARE and share > best.get(pair, (0.0,))[0]:
                best[pair] = (share, path, other)
    return [
        Flag(
            SHARED_TEXT,
            str(path.relative_to(root)),
            f"{share:.0%} of its {SHINGLE}-token runs are in {other.relative_to(root)}: the same text under two "
            "authors: the models trained on one copy score the other as their own author's",
        )
        for share, path, other in best.values()
    ]


def report_lines(report: CorpusReport) -> List[str]:
    """The report as printed: a summary, a table of the authors, the rule's n_train_tokens, the flags, a suggestion."""
    num_books = sum(author.num_books for author in report.authors)
    lines = [
        f"corpus {report.root}: {len(report.authors)} authors, {num_books} books, "
        f"{sum(author.tokens for author in report.authors):,} tokens (tokenizer {report.tokenizer})"
    ]
    if report.not_authors:
        lines.append(f"not authors (--not-authors): {', '.join(report.not_authors)}")
    rows = [("author", "books", "tokens", "train tokens")] + [
        (author.name, str(author.num_books), f"{author.tokens:,}", f"{author.train_tokens:,}")
        for author in report.authors
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines += [
        "",
        *(
            "  ".join([row[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:]))])
            for row in rows
        ),
        "",
        f"n_train_tokens: {report.n_train_tokens:,}, set by {report.smallest.name} (the study's rule: the least over "
        "authors of their tokens minus their longest book)",
        f"flags: {len(report.flags) or 'none'}",
        *(f"  {flag.line()}" for flag in report.flags),
    ]
    if report.small:
        lines.append(
            f"a small corpus (under {SMALL_CORPUS_TRAIN_TOKENS:,} training tokens per author): "
            f"{SMALL_CORPUS_SUGGESTION}"
        )
    return lines
