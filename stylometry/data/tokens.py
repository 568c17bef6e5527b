"""Books as token arrays: each book tokenized once per (book content, variant, tokenizer) and cached as an .npy
file, written atomically, so every job of a sweep reads the same arrays and a crash never leaves half a file."""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Union

import numpy as np

from stylometry.config.schema import ConfigError, DataConfig
from stylometry.data.tokenizer import encode, tokenizer_fingerprint
from stylometry.files.atomic import atomic_file


@dataclass
class Book:
    path: Path
    sha256: str  # of the file's bytes: the cache key, and the manifest's record of what was used
    tokens: np.ndarray


class BookReader:
    """Reads books as token arrays through the on-disk cache; holds no state beyond its user (one job).

    remember: keep every book read, each read and hashed once however many jobs' data it is part of (`status
    --plan` checks every job of a sweep with one reader); a book changed meanwhile is not read again."""

    def __init__(
        self,
        cfg: Union[DataConfig, Path],
        tokenizer,
        transform: Callable[[str], str],
        transform_key: str,
        remember: bool = False,
    ):
        self.cache_dir = cfg if isinstance(cfg, Path) else Path(cfg.cache_dir).expanduser()
        self.tokenizer = tokenizer
        self.transform = transform
        self.cache = self.cache_dir / "tokens" / tokenizer_fingerprint(tokenizer) / transform_key
        self.dtype = np.uint16 if len(tokenizer) <= 2**16 else np.int32
        self.remembered: Optional[Dict[Path, Book]] = {} if remember else None
        self.written_reader: Optional["BookReader"] = None

    @classmethod
    def of_run(cls, cfg, tokenizer, remember: bool = False) -> "BookReader":
        """The reader of a run's books (cfg: a TrainConfig): its tokenizer, its variant's transform, its cache."""
        from stylometry.data.variants import build_transform, transform_key

        return cls(cfg.data, tokenizer, build_transform(cfg.variant), transform_key(cfg.variant), remember)

    def as_written(self) -> "BookReader":
        """A reader of the books as written (no variant transform), sharing this one's tokenizer and cache."""
        from stylometry.data.variants import IDENTITY_KEY

        if self.written_reader is None:
            remember = self.remembered is not None
            self.written_reader = BookReader(self.cache_dir, self.tokenizer, lambda text: text, IDENTITY_KEY, remember)
        return self.written_reader

    def read(self, path: Path) -> Book:
        if self.remembered is None:
            return self._read(path)
        if path not in self.remembered:
            self.remembered[path] = self._read(path)
        return self.remembered[path]

    def _read(self, path: Path) -> Book:
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
            raise ConfigError(
                f"{path} is not UTF-8 text ({error.reason} at byte {error.start}): convert or remove it"
            ) from None
        tokens = np.asarray(encode(self.tokenizer, self.transform(text)), dtype=self.dtype)
        with atomic_file(cached, "wb") as f:  # jobs building the same entry at once each write it whole
            np.save(f, tokens)
        return Book(path, sha, tokens)
