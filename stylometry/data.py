"""The study's data: held-out books, a model's training text, its evaluation texts, the windows.

Semantics (the study's): for each seed, one held-out book per author is drawn, the same for every
model of that seed. A model of author A trains on A's other books, shuffled by the seed, from which
`n_train_tokens` tokens are taken, each book one contiguous segment in proportion to its length. An
epoch is len(training text) // n_positions windows at random offsets. Every model is evaluated on
each author's held-out book and on its author's extra sets, in consecutive windows.

Books are tokenized once per (book content, variant, tokenizer) and cached as .npy files, written
atomically, so every job of a sweep reads the same arrays and a crash never leaves half a file.
"""

import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import torch

from stylometry.atomic import atomic_file
from stylometry.config import ConfigError, DataConfig

# Seed streams: independent draws from one seed, so that changing one does not shift the others.
_HELD_OUT_STREAM, _TRAIN_TEXT_STREAM, WINDOW_STREAM = 0, 1, 2


@dataclass
class Book:
    path: Path
    sha256: str  # of the file's bytes: the cache key, and the manifest's record of what was used
    tokens: np.ndarray


@dataclass
class StudyData:
    train_tokens: np.ndarray  # the model's training text, one segment of each training book
    train_books: List[str]  # file names, in the order their segments were taken
    held_out_books: Dict[str, str]  # author -> file name of that author's held-out book for this seed
    eval_texts: Dict[str, List[np.ndarray]]  # evaluation set -> its books' tokens (windows never span books)
    corpus_sha256: str  # one hash over every file this job read


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    path = Path(name).expanduser()
    if name.startswith((".", "/", "~")) and not path.is_dir():
        raise ConfigError(f"data.tokenizer={name}: no such folder; point it at a tokenizer folder (vocab.json, merges.txt)")
    try:
        return AutoTokenizer.from_pretrained(str(path) if path.is_dir() else name)
    except OSError as error:
        raise ConfigError(
            f"data.tokenizer={name}: cannot load a tokenizer ({str(error).splitlines()[0]}); "
            "set data.tokenizer (or STYLOMETRY_TOKENIZER) to a local tokenizer folder"
        ) from None


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of the tokenizer's vocabulary and rules, so cached tokens follow the tokenizer, not its name."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    spec = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def encode(tokenizer, text: str) -> List[int]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # the Rust tokenizer directly: no length warnings, no special tokens
        return backend.encode(text, add_special_tokens=False).ids
    return tokenizer.encode(text, add_special_tokens=False)


def list_books(folder: Path) -> List[Path]:
    if not folder.is_dir():
        raise ConfigError(f"no corpus folder {folder}: set data.root (or STYLOMETRY_DATA) to the corpus root")
    books = sorted(folder.glob("*.txt"))
    if not books:
        raise ConfigError(f"{folder} holds no .txt books: add books or remove this author from data.authors")
    return books


def held_out_book(books: List[Path], author: str, seed: int) -> Path:
    """The author's held-out book for this seed: the same draw in every job of the seed."""
    rng = np.random.default_rng([seed, _HELD_OUT_STREAM, zlib.crc32(author.encode())])
    return books[rng.integers(len(books))]


class BookReader:
    """Reads books as token arrays through the on-disk cache; holds no state beyond one job."""

    def __init__(self, cfg: DataConfig, tokenizer, transform: Callable[[str], str], transform_key: str):
        self.tokenizer = tokenizer
        self.transform = transform
        self.cache = Path(cfg.cache_dir).expanduser() / "tokens" / tokenizer_fingerprint(tokenizer) / transform_key
        self.dtype = np.uint16 if len(tokenizer) <= 2**16 else np.int32

    def read(self, path: Path) -> Book:
        raw = path.read_bytes()
        sha = hashlib.sha256(raw).hexdigest()
        cached = self.cache / f"{sha[:32]}.npy"
        if cached.exists():
            try:
                return Book(path, sha, np.load(cached, allow_pickle=False))
            except (OSError, ValueError):
                pass  # an unreadable cache entry is rebuilt below
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ConfigError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start}): convert or remove it") from None
        tokens = np.asarray(encode(self.tokenizer, self.transform(text)), dtype=self.dtype)
        with atomic_file(cached, "wb") as f:  # jobs building the same entry at once each write it whole
            np.save(f, tokens)
        return Book(path, sha, tokens)


def split_train_tokens(books: List[Book], n_train_tokens: int, rng: np.random.Generator) -> np.ndarray:
    """n_train_tokens tokens, each book one contiguous segment in proportion to its length."""
    lengths = np.array([len(book.tokens) for book in books], dtype=np.int64)
    total = int(lengths.sum())
    if n_train_tokens > total:
        raise ConfigError(f"data.n_train_tokens={n_train_tokens} exceeds the {total} tokens of the training books: lower it")
    exact = n_train_tokens * lengths / total
    quotas = np.floor(exact).astype(np.int64)
    # Hand the tokens lost to rounding to the books with the largest remainders (ties: book order).
    shortfall = n_train_tokens - int(quotas.sum())
    quotas[np.argsort(-(exact - quotas), kind="stable")[:shortfall]] += 1
    segments = []
    for book, quota in zip(books, quotas):
        start = int(rng.integers(len(book.tokens) - quota + 1))
        segments.append(book.tokens[start : start + quota])
    return np.concatenate(segments)


def corpus_root(cfg: DataConfig) -> Path:
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"data.root={cfg.root}: no such folder; point data.root (or STYLOMETRY_DATA) at the corpus")
    return root


def load_study_data(cfg: DataConfig, author: str, extra_eval_sets: List[str], seed: int, reader: BookReader) -> StudyData:
    root = corpus_root(cfg)
    used: List[Book] = []

    held_out: Dict[str, str] = {}
    eval_texts: Dict[str, List[np.ndarray]] = {}
    own_books: List[Path] = []
    for name in cfg.authors:
        books = list_books(root / name)
        chosen = held_out_book(books, name, seed)
        held_out[name] = chosen.name
        eval_texts[name] = [_eval_book(reader, chosen, used)]
        if name == author:
            own_books = [book for book in books if book != chosen]
    if not own_books:
        raise ConfigError(f"author {author} has a single book, which is held out: it needs at least two books")
    for folder in extra_eval_sets:
        eval_texts[folder] = [_eval_book(reader, path, used) for path in list_books(root / folder)]
    for name, texts in eval_texts.items():
        eval_texts[name] = _cap(texts, cfg.eval_max_tokens)

    rng = np.random.default_rng([seed, _TRAIN_TEXT_STREAM, zlib.crc32(author.encode())])
    train_books = [reader.read(own_books[i]) for i in rng.permutation(len(own_books))]
    used += train_books
    train_tokens = split_train_tokens(train_books, cfg.n_train_tokens, rng)

    digest = hashlib.sha256()
    for book in sorted(used, key=lambda b: str(b.path)):
        digest.update(f"{book.path.relative_to(root)}:{book.sha256}\n".encode())
    return StudyData(
        train_tokens=train_tokens,
        train_books=[book.path.name for book in train_books],
        held_out_books=held_out,
        eval_texts=eval_texts,
        corpus_sha256=digest.hexdigest(),
    )


def _eval_book(reader: BookReader, path: Path, used: List[Book]) -> np.ndarray:
    book = reader.read(path)
    if len(book.tokens) < 2:
        raise ConfigError(f"{path} holds fewer than two tokens, too few to evaluate on: remove it or add text")
    used.append(book)
    return book.tokens


def _cap(texts: List[np.ndarray], max_tokens) -> List[np.ndarray]:
    """The first max_tokens tokens of an evaluation set (its books in order)."""
    if max_tokens is None:
        return texts
    capped, left = [], max_tokens
    for tokens in texts:
        if left < 2:
            break
        capped.append(tokens[:left])
        left -= len(capped[-1])
    return capped


def sample_windows(train_tokens: torch.Tensor, n_positions: int, rng: np.random.Generator) -> torch.Tensor:
    """One epoch: len // n_positions windows at random offsets, as a (windows, n_positions) index tensor."""
    n_windows = len(train_tokens) // n_positions
    if n_windows < 1:
        raise ConfigError(f"data.n_train_tokens={len(train_tokens)} is shorter than one window (model.n_positions={n_positions})")
    offsets = torch.from_numpy(rng.integers(0, len(train_tokens) - n_positions + 1, size=n_windows))
    return offsets[:, None] + torch.arange(n_positions)


@dataclass
class EvalBatches:
    input_ids: torch.Tensor  # (windows, n_positions), padded with token 0 past each window's end
    labels: torch.Tensor  # the same ids, -100 on padding, so padding is never counted
    n_predicted: int  # tokens whose loss is averaged: each window predicts all but its first token


def eval_windows(texts: List[np.ndarray], n_positions: int) -> EvalBatches:
    """Consecutive non-overlapping windows over each book; a last window shorter than 2 tokens predicts nothing."""
    rows = []
    for tokens in texts:
        for start in range(0, len(tokens), n_positions):
            window = tokens[start : start + n_positions]
            if len(window) >= 2:
                rows.append(torch.from_numpy(window.astype(np.int64)))
    input_ids = torch.zeros(len(rows), n_positions, dtype=torch.long)
    labels = torch.full((len(rows), n_positions), -100, dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = row
        labels[i, : len(row)] = row
    return EvalBatches(input_ids, labels, n_predicted=sum(len(row) - 1 for row in rows))
