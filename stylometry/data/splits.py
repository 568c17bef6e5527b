"""The data a job trains and evaluates on: the study's (data=corpus) or any folder of text (data=text).

Semantics (the study's): for each seed, one held-out book per author is drawn, the same for every
model of that seed. A model of author A trains on A's other books, shuffled by the seed, from which
`n_train_tokens` tokens are taken, each book one contiguous segment in proportion to its length. An
epoch is len(training text) // n_positions windows at random offsets. Every model is evaluated on
each author's held-out book and on its author's extra sets, in consecutive windows.

A text corpus (data=text) is any folder (or list) of .txt files, split into training and validation
text by a fraction of each file, by whole files, or by given files; its validation set is named `val`.
"""

import dataclasses
import glob
import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np

from stylometry.config.schema import BACKGROUND_RUN, ConfigError, DataConfig, TrainConfig
from stylometry.data.corpus import author_folders, books, check_corpus, corpus_sha256
from stylometry.data.tokens import Book, BookReader
from stylometry.data.windows import num_windows

# Seed streams: independent draws from one seed, so that changing one does not shift the others.
_HELD_OUT_STREAM, _TRAIN_TEXT_STREAM, WINDOW_STREAM, _VAL_FILES_STREAM = 0, 1, 2, 3
VALIDATION = "val"  # the evaluation set of a data=text run


@dataclass
class StudyData:
    train_tokens: np.ndarray  # the model's training text, one segment of each training book
    train_books: List[str]  # file names, in the order their segments were taken
    held_out_books: Dict[str, str]  # author -> file name of that author's held-out book for this seed
    eval_texts: Dict[str, List[np.ndarray]]  # evaluation set -> its books' tokens (windows never span books)
    files_sha256: str  # one hash over every file this job read: part of the run's identity
    corpus_sha256: str  # one hash over the whole corpus (every author folder and data.not_authors folder)
    authors: List[str]  # data.authors as resolved: every author folder of the corpus unless listed
    n_train_tokens: int  # data.n_train_tokens as resolved: the study's rule on this corpus unless set

    def manifest(self) -> Dict:
        return {"held_out_books": self.held_out_books, "train_books": self.train_books}


@dataclass
class TextData:
    train_tokens: np.ndarray  # the training parts of the files, joined by the end-of-text token
    train_files: List[str]  # paths under data.root
    val_files: List[str]  # the files (or, with val_split=fraction, the files whose tails) in `val`
    eval_texts: Dict[str, List[np.ndarray]] = field(default_factory=dict)  # {"val": one array per file}
    files_sha256: str = ""  # one hash over every file this job read
    corpus_sha256: str = ""  # the same: a text run reads all of its corpus

    def manifest(self) -> Dict:
        return {"train_files": self.train_files, "val_files": self.val_files}


def list_books(folder: Path, key: str = "data.authors") -> List[Path]:
    """The folder's .txt books; `key` names the setting that asked for the folder, for the error message."""
    if not folder.is_dir():
        raise ConfigError(
            f"{key} names {folder.name}, but data.root={folder.parent} has no folder {folder.name}: "
            f"its folders are {', '.join(author_folders(folder.parent, ())) or 'none'}"
        )
    found = books(folder)
    if not found:
        raise ConfigError(f"{folder} holds no .txt books: add books or remove this author from data.authors")
    return found


def held_out_book(books: List[Path], author: str, seed: int) -> Path:
    """The author's held-out book for this seed: the same draw in every job of the seed."""
    rng = np.random.default_rng([seed, _HELD_OUT_STREAM, zlib.crc32(author.encode())])
    return books[rng.integers(len(books))]


def held_out_books(cfg: DataConfig, seed: int) -> Dict[str, str]:
    """Every author's held-out book for the seed (author -> file name), from the corpus's folders alone (no book is
    read): what every job of the seed holds out. None for a text corpus, which holds out validation files."""
    if cfg.kind == "text":
        return {}
    root = corpus_root(cfg)
    authors = list(cfg.authors) or author_folders(root, cfg.not_authors)
    return {name: held_out_book(list_books(root / name), name, seed).name for name in authors}


def split_train_tokens(books: List[Book], n_train_tokens: int, rng: np.random.Generator) -> np.ndarray:
    """n_train_tokens tokens, each book one contiguous segment in proportion to its length."""
    lengths = np.array([len(book.tokens) for book in books], dtype=np.int64)
    total = int(lengths.sum())
    if n_train_tokens > total:
        raise ConfigError(
            f"data.n_train_tokens={n_train_tokens} exceeds the {total} tokens of the training books: lower it"
        )
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


def load_study_data(
    cfg: DataConfig, author: str, extra_eval_sets: List[str], seed: int, reader: BookReader
) -> StudyData:
    root = corpus_root(cfg)
    authors = list(cfg.authors) or author_folders(root, cfg.not_authors)
    check_corpus(root, authors, cfg.not_authors)
    if author not in authors:
        raise ConfigError(
            f"author={author} is not in data.authors {authors}: add it there, or leave data.authors "
            "empty for every author folder"
        )
    used: List[Book] = []

    held_out = held_out_books(cfg, seed)
    eval_texts = {name: [_eval_book(reader, root / name / book, used)] for name, book in held_out.items()}
    own_books = [book for book in list_books(root / author) if book.name != held_out[author]]
    for folder in extra_eval_sets:
        eval_texts[folder] = [
            _eval_book(reader, path, used)
            for path in list_books(root / folder, key=f"author {author}'s extra_eval_sets")
        ]
    for name, texts in eval_texts.items():
        eval_texts[name] = _cap(texts, cfg.eval_max_tokens)

    rng = np.random.default_rng([seed, _TRAIN_TEXT_STREAM, zlib.crc32(author.encode())])
    train_books = [reader.read(own_books[i]) for i in rng.permutation(len(own_books))]
    used += train_books
    n_train_tokens = cfg.n_train_tokens
    if n_train_tokens is None or n_train_tokens > sum(len(book.tokens) for book in train_books):
        largest = largest_train_tokens(root, authors, reader.as_written())
        if n_train_tokens is not None:
            raise ConfigError(
                f"data.n_train_tokens={n_train_tokens} exceeds the training books of author {author} "
                f"for seed {seed}: the largest value every author's models hold is {largest}"
            )
        n_train_tokens = min(largest, cfg.max_train_tokens or largest)
    train_tokens = split_train_tokens(train_books, n_train_tokens, rng)

    digest = hashlib.sha256()
    for book in sorted(used, key=lambda b: str(b.path)):
        digest.update(f"{book.path.relative_to(root)}:{book.sha256}\n".encode())
    return StudyData(
        train_tokens=train_tokens,
        train_books=[book.path.name for book in train_books],
        held_out_books=held_out,
        eval_texts=eval_texts,
        files_sha256=digest.hexdigest(),
        corpus_sha256=corpus_sha256(root, [*authors, *(f for f in cfg.not_authors if (root / f).is_dir())]),
        authors=authors,
        n_train_tokens=n_train_tokens,
    )


def author_train_tokens(book_lengths: List[int]) -> int:
    """The most training tokens an author's models hold whichever of its books is held out: all but the longest."""
    return sum(book_lengths) - max(book_lengths, default=0)


def largest_train_tokens(root: Path, authors: List[str], reader: BookReader) -> int:
    """The study's rule for data.n_train_tokens: the most tokens that every author's training text holds
    (author_train_tokens, the smallest over authors). Counted on the books as written (no variant), so every
    variant of a study trains on as many tokens; the study's corpus gives 643,041 (Fitzgerald's)."""
    return min(
        author_train_tokens([len(reader.read(path).tokens) for path in list_books(root / name)]) for name in authors
    )


def load_text_data(cfg: DataConfig, seed: int, reader: BookReader, end_of_text: Optional[int]) -> TextData:
    """A folder (or list) of .txt files as training text and a validation set, split as data.val_split says."""
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"data.root={cfg.root}: no such folder; point data.root at a folder of .txt files")
    files = _match(root, cfg.files, "data.files") if cfg.files else sorted(root.rglob("*.txt"))
    if not files:
        raise ConfigError(f"data.root={cfg.root} holds no .txt files: add some, or list them in data.files")
    train_paths, val_paths = _split_files(cfg, root, files, seed)
    books = {path: reader.read(path) for path in dict.fromkeys([*train_paths, *val_paths])}
    train_parts, val_texts = [], []
    for path in train_paths:
        tokens = books[path].tokens
        train_parts.append(
            tokens[: len(tokens) - int(len(tokens) * cfg.val_fraction)] if cfg.val_split == "fraction" else tokens
        )
    for path in val_paths:
        tokens = books[path].tokens
        val_texts.append(
            tokens[len(tokens) - int(len(tokens) * cfg.val_fraction) :] if cfg.val_split == "fraction" else tokens
        )
    val_texts = _cap([text for text in val_texts if len(text) >= 2], cfg.eval_max_tokens)
    if not val_texts:
        raise ConfigError(
            f"data.val_fraction={cfg.val_fraction} leaves no validation text (too few tokens): raise it or add text"
        )
    separator = [] if end_of_text is None else [np.array([end_of_text], dtype=train_parts[0].dtype)]
    joined = [piece for part in train_parts if len(part) for piece in (part, *separator)]
    train_tokens = np.concatenate(joined[: len(joined) - len(separator)]) if joined else np.zeros(0, dtype=np.int64)
    if cfg.n_train_tokens is not None:
        if cfg.n_train_tokens > len(train_tokens):
            raise ConfigError(
                f"data.n_train_tokens={cfg.n_train_tokens} exceeds the {len(train_tokens)} training tokens: "
                "lower it, or null"
            )
        train_tokens = train_tokens[: cfg.n_train_tokens]

    digest = hashlib.sha256()
    for path, book in sorted(books.items()):
        digest.update(f"{path.relative_to(root)}:{book.sha256}\n".encode())
    return TextData(
        train_tokens=train_tokens,
        train_files=[str(path.relative_to(root)) for path in train_paths],
        val_files=[str(path.relative_to(root)) for path in val_paths],
        eval_texts={VALIDATION: val_texts},
        files_sha256=digest.hexdigest(),
        corpus_sha256=digest.hexdigest(),
    )


def _split_files(cfg: DataConfig, root: Path, files: List[Path], seed: int):
    """(training files, validation files) as data.val_split says: given, drawn by the seed, or every file (a
    fraction of each)."""
    if cfg.val_split == "given":
        val_paths = _match(root, cfg.val_files, "data.val_files")
        train_paths = [path for path in files if path not in set(val_paths)]
    elif cfg.val_split == "files":
        if len(files) < 2:
            raise ConfigError(
                f"data.val_split=files needs at least two files, {root} has {len(files)}: use val_split=fraction"
            )
        n_val = min(len(files) - 1, max(1, round(cfg.val_fraction * len(files))))
        rng = np.random.default_rng([seed, _VAL_FILES_STREAM])
        chosen = set(rng.choice(len(files), size=n_val, replace=False).tolist())
        val_paths = [path for i, path in enumerate(files) if i in chosen]
        train_paths = [path for i, path in enumerate(files) if i not in chosen]
    else:
        val_paths, train_paths = files, files
    if not train_paths:
        raise ConfigError(f"data.val_split={cfg.val_split} leaves no training files: list fewer in data.val_files")
    return train_paths, val_paths


def load_data(cfg: DataConfig, author, seed: int, reader: BookReader) -> Union[StudyData, TextData]:
    """The job's data: the study's for data=corpus (author: an AuthorConfig; the background model's pools every
    author's), or a text corpus's for data=text."""
    if cfg.kind == "text":
        return load_text_data(cfg, seed, reader, reader.tokenizer.eos_token_id)
    if author.name == BACKGROUND_RUN:
        return load_background_data(cfg, seed, reader)
    return load_study_data(cfg, author.name, author.extra_eval_sets, seed, reader)


def load_background_data(cfg: DataConfig, seed: int, reader: BookReader) -> StudyData:
    """The background model's data for a seed (init=background): every author's training text of that seed, exactly
    as that author's own model gets it (its held-out book left out, data.n_train_tokens of it), joined; evaluated
    on every author's held-out book, as the authors' models are. No book any model of the seed holds out is in it."""
    root = corpus_root(cfg)
    authors = list(cfg.authors) or author_folders(root, cfg.not_authors)
    parts = [load_study_data(cfg, author, [], seed, reader) for author in authors]
    digest = hashlib.sha256("".join(part.files_sha256 for part in parts).encode())
    return StudyData(
        train_tokens=np.concatenate([part.train_tokens for part in parts]),
        train_books=[f"{author}/{book}" for author, part in zip(authors, parts) for book in part.train_books],
        held_out_books=parts[0].held_out_books,
        eval_texts=parts[0].eval_texts,
        files_sha256=digest.hexdigest(),
        corpus_sha256=parts[0].corpus_sha256,
        authors=authors,
        n_train_tokens=parts[0].n_train_tokens,
    )


def load_job_data(cfg: TrainConfig, reader: BookReader, num_processes: int = 1) -> Union[StudyData, TextData]:
    """A job's data, checked as training needs it: the tokenizer fits the model, the training text holds an epoch's
    windows for each of the job's processes, and its batches split over them; else a ConfigError naming what to
    change. The trainer reads its data here, and `status --plan` checks every job of a sweep with it."""
    if len(reader.tokenizer) > cfg.model.vocab_size:
        raise ConfigError(
            f"model.vocab_size={cfg.model.vocab_size} is smaller than the tokenizer's {len(reader.tokenizer)} tokens"
        )
    data = load_data(cfg.data, cfg.author, cfg.seed, reader)
    num_windows(len(data.train_tokens), cfg.model.n_positions, num_processes)
    if cfg.data.batch_size % num_processes:
        raise ConfigError(
            f"data.batch_size={cfg.data.batch_size} must be a multiple of the job's {num_processes} processes"
        )
    return data


def resolved_config(cfg: TrainConfig, data: Union[StudyData, TextData]) -> TrainConfig:
    """The config with data.authors and data.n_train_tokens as the corpus resolved them (a study's data): what
    the run's identity and its config.yaml hold."""
    if cfg.data.kind != "corpus":
        return cfg
    return dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, authors=data.authors, n_train_tokens=data.n_train_tokens)
    )


def _match(root: Path, patterns: List[str], key: str) -> List[Path]:
    """Files named by paths or globs under root (or absolute), each pattern matching at least one .txt file."""
    found = []
    for pattern in patterns:
        full = Path(pattern).expanduser()
        full = full if full.is_absolute() else root / full
        matches = sorted(Path(p) for p in glob.glob(str(full), recursive=True) if Path(p).is_file())
        if not matches:
            raise ConfigError(f"{key}: {pattern!r} matches no file under {root}")
        found += [path for path in matches if path not in found]
    return found


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
