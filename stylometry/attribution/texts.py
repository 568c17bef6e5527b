"""The texts an attribution scores: found from the command line's files, folders and globs (or the study's
held-out books), read as the study's models read their books, each with the seeds whose models may score it.

    python -m stylometry.attribute multirun/corpus/paper letter.txt chapters/ 'essays/*.txt' --out attribution/a

A text is never scored by a model that trained on it (stylometry.data.overlap): a text taken from one of the
study's books is scored only by the seeds whose models did not train on that book.
"""

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylometry.config.schema import ConfigError
from stylometry.data.overlap import FROM_BOOK_SHARE, shares_in_books
from stylometry.runs.layout import MANIFEST
from stylometry.runs.study import Study


class AttributionError(ValueError):
    """Bad input; the message says what to do."""


@dataclass
class Text:
    name: str
    path: Path
    tokens: np.ndarray  # as the study's models see it: tokenizer, variant, the first --max-tokens tokens
    num_tokens: int  # before the cap
    author: str | None = None  # a held-out book's author
    seeds: frozenset[int] | None = None  # the seeds whose models may score it; None: every seed
    note: str = ""  # why some seeds are left out


def find_texts(patterns: Sequence[str]) -> list[Path]:
    """Files, folders (their .txt files, at any depth) and globs, in the order given, each once."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*.txt") if p.is_file())
            if not matches:
                raise AttributionError(f"{pattern} holds no .txt file: pass .txt files, or a folder of them")
        elif path.is_file():
            matches = [path]
        elif glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            if not matches:
                raise AttributionError(
                    f"{pattern} matches no file: check the pattern (quote it so the shell leaves it alone)"
                )
        else:
            raise AttributionError(f"no such text file {pattern}: pass .txt files, folders of them, or globs")
        found += [match for match in matches if match not in found]
    return found


def read_texts(paths: list[Path], reader, max_tokens: int | None, variant_name: str) -> list[Text]:
    """Each file as the study's models see their books (tokenizer and variant, through the token cache)."""
    from stylometry.data.corpus import check_book

    names = _text_names(paths)
    texts = []
    for path, name in zip(paths, names):
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise AttributionError(f"cannot read {path} ({error.strerror}): pass a readable .txt file") from None
        if b"\0" in raw:
            raise AttributionError(f"{path} is binary, not text: pass UTF-8 .txt files")
        try:
            check_book(path)  # empty, or not UTF-8: the corpus's own rules for a book
        except ConfigError as error:
            raise AttributionError(str(error)) from None
        tokens = reader.read(path).tokens
        if len(tokens) < 2:
            raise AttributionError(
                f"{path} is {len(tokens)} token(s) long as the study's models read it "
                f"(variant {variant_name}): a text needs at least 2 tokens, one to predict"
            )
        texts.append(Text(name, path, tokens[:max_tokens], len(tokens)))
    return texts


def _text_names(paths: list[Path]) -> list[str]:
    """File names where they are unique; otherwise the paths as given."""
    names = [path.name for path in paths]
    return [path.name if names.count(path.name) == 1 else str(path) for path in paths]


def held_out_texts(study: Study, reader, max_tokens: int | None, every_author: bool = False) -> list[Text]:
    """Each seed's held-out book of each author with models in that seed, to be scored by that seed's models only;
    every_author: of the other authors of the study too (those its runs recorded), where the corpus has it."""
    texts = []
    for seed in study.seeds:
        authors = sorted({m.author for m in study.models if m.seed == seed})
        others = sorted(set(study.held_out_books[seed]) - set(authors)) if every_author else []
        for author in [*others, *authors]:
            book = study.held_out_books[seed].get(author)
            if author in others and not study.book_path(author, book).is_file():
                continue  # another author's book only serves as a reference: used where the corpus has it
            if book is None:
                raise AttributionError(
                    f"the runs of seed {seed} record no held-out book of {author} ({MANIFEST}): "
                    f"their models were not evaluated on {author}'s books; leave --held-out out"
                )
            path = study.book_path(author, book)
            if not path.is_file():
                raise AttributionError(
                    f"seed {seed}'s held-out book of {author} ({path}) is not in the corpus: "
                    "pass the study's corpus with --corpus <dir>"
                )
            tokens = reader.read(path).tokens
            texts.append(
                Text(f"{author}/{book}", path, tokens[:max_tokens], len(tokens), author=author, seeds=frozenset([seed]))
            )
    return texts


def leave_out_trained_seeds(texts: list[Text], study: Study, reader) -> None:
    """Sets each text's seeds to those whose models trained on no book the text was taken from (data/overlap.py)."""
    books: dict[Path, list[int]] = {}  # a training book -> the seeds in which some model trained on it
    for (author, seed), names in study.train_books.items():
        for name in names:
            books.setdefault(study.book_path(author, name), []).append(seed)
    baseline = reader.as_written()
    book_tokens = {}
    for path in sorted(books):
        if not path.is_file():
            raise AttributionError(
                f"the study's training book {path} is not in its corpus: pass the study's corpus with --corpus <dir>"
            )
        book_tokens[path] = baseline.read(path).tokens
    text_tokens = [baseline.read(text.path).tokens for text in texts]
    for text, shares in zip(texts, shares_in_books(text_tokens, book_tokens)):
        sources = {path: share for path, share in shares.items() if share >= FROM_BOOK_SHARE}
        if not sources:
            continue
        trained = {seed for path in sources for seed in books[path]}
        before = frozenset(study.seeds) if text.seeds is None else text.seeds
        allowed = before - trained
        if allowed == before:
            continue  # a held-out book: its seed's models never trained on it
        text.seeds = allowed
        named = ", ".join(f"{path.parent.name}/{path.name} ({share:.0%} of it)" for path, share in sources.items())
        text.note = (
            f"taken from {named}, which the models of seed(s) {', '.join(map(str, sorted(trained)))} "
            f"trained on: scored by the models of seed(s) {', '.join(map(str, sorted(allowed))) or 'none'}"
        )
