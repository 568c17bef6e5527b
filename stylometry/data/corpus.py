"""A corpus is a folder of author folders of .txt books: its authors are its folders, no YAML needed.

    python -m stylometry.train -m 'author=glob(*)' 'seed=range(3)' data.root=/path/to/corpus

Every folder under `data.root` is an author, except the folders listed in `data.not_authors` (extra
evaluation texts such as the study's `contested/`, and the study's variant folders): they are declared,
never guessed. Hidden files and folders (a leading `.`) and files that are not `.txt` are ignored.

This module reads folders and bytes only (no torch, no tokenizer), so a command's start stays
fast. The folders as options of Hydra's `author` group, before a command composes its config:
stylometry/data/authors.py.
"""

import functools
import hashlib
from pathlib import Path
from typing import Iterable, List, Sequence

from stylometry.config.schema import DEMO_CORPUS, ConfigError, check_name


def books(folder: Path) -> List[Path]:
    """The folder's books: its .txt files, hidden ones left out, in name order."""
    return sorted(path for path in folder.glob("*.txt") if not path.name.startswith(".") and path.is_file())


def demo_corpus_note(root) -> str | None:
    """The line a command says when the corpus it reads is the demo corpus bundled with the package (data.root's
    default); None for any other corpus."""
    if Path(str(root)).expanduser().resolve() != DEMO_CORPUS:
        return None
    return (
        f"data.root: the demo corpus bundled with stylometry ({DEMO_CORPUS}: the study's books, each cut to its "
        "opening); point data.root=<folder> (or STYLOMETRY_DATA) at the study's corpus or yours"
    )


def author_folders(root: Path, not_authors: Iterable[str]) -> List[str]:
    """The corpus's authors: every visible folder under root but those declared not to be authors."""
    if not root.is_dir():
        raise ConfigError(f"data.root={root}: no such folder; point data.root (or STYLOMETRY_DATA) at the corpus")
    skipped = set(not_authors)
    return sorted(
        path.name
        for path in root.iterdir()
        if path.is_dir() and not path.name.startswith(".") and path.name not in skipped
    )


def check_corpus(root: Path, authors: Sequence[str], not_authors: Iterable[str]) -> None:
    """One line for a corpus no study can run on, before any training: raises ConfigError.

    `authors`: the authors a job reads (data.authors, resolved); `not_authors`: data.not_authors."""
    found = author_folders(root, not_authors)
    if len(found) < 2:
        raise ConfigError(
            f"data.root={root} holds {len(found)} author folder(s) ({', '.join(found) or 'none'}): "
            "attribution needs at least two, one folder of .txt books per author"
        )
    for name in authors:
        check_name("author folder", name)
        folder = root / name
        if not folder.is_dir():
            raise ConfigError(
                f"data.authors lists {name}, but data.root={root} has no folder {name}: "
                f"its author folders are {', '.join(author_folders(root, ()))}"
            )
        found_books = books(folder)
        if len(found_books) < 2:
            raise ConfigError(
                f"{folder} holds {len(found_books)} .txt book(s): an author needs at least two "
                "(one is held out); add books, or list the folder in data.not_authors"
            )
        for book in found_books:
            check_book(book)


def _once_per_file_version(read):
    """read(path), done once per process while the file's inode, size and modification time stay the same (git's
    index rule); a call that raises is not kept, so a bad file is read again. `status --plan` over the study's 80
    jobs read every book 80 times for its hash (4.7 of 17 s) and again for its UTF-8 check (2.4 of 24 s profiled)."""
    kept = functools.lru_cache(maxsize=4096)(lambda path, inode, size, mtime_ns: read(path))

    @functools.wraps(read)
    def once(path: Path):
        stat = path.stat()
        return kept(path, stat.st_ino, stat.st_size, stat.st_mtime_ns)

    return once


@_once_per_file_version
def check_book(path: Path) -> None:
    """ConfigError for a book no job can read: empty, or not UTF-8."""
    raw = path.read_bytes()
    if not raw.strip():
        raise ConfigError(f"{path} is empty: remove it or add its text")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start}): "
            "convert it (e.g. iconv -t UTF-8) or remove it"
        ) from None


def corpus_sha256(root: Path, folders: Iterable[str]) -> str:
    """One hash of every .txt file under the given folders of root (path and bytes): the study's corpus."""
    digest = hashlib.sha256()
    for folder in sorted(set(folders)):
        for path in sorted((root / folder).rglob("*.txt")):
            if any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            digest.update(f"{path.relative_to(root)}:{_file_sha256(path)}\n".encode())
    return digest.hexdigest()


@_once_per_file_version
def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
