"""A corpus is a folder of author folders of .txt books: its authors are its folders, no YAML needed.

    python -m stylometry.train -m 'author=glob(*)' 'seed=range(3)' data.root=/path/to/corpus

Every folder under `data.root` is an author, except the folders listed in `data.not_authors` (extra
evaluation texts such as the study's `contested/`, and the study's variant folders): they are declared,
never guessed. Hidden files and folders (a leading `.`) and files that are not `.txt` are ignored.

Before Hydra composes a command's config, `prepare_overrides` makes `author=<folder>` an option of the
`author` group for every author folder (a `conf/author/<name>.yaml`, where one exists, still wins: it
holds an author's settings, such as its extra evaluation sets) and expands `author=glob(...)` over the
corpus's folders only. This module reads folders and bytes only (no torch, no tokenizer), so a
command's start stays fast.
"""

import hashlib
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

from stylometry.config.compose import CONF_DIR
from stylometry.config.schema import AuthorConfig, ConfigError, check_name


def books(folder: Path) -> List[Path]:
    """The folder's books: its .txt files, hidden ones left out, in name order."""
    return sorted(path for path in folder.glob("*.txt") if not path.name.startswith(".") and path.is_file())


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


def check_book(path: Path) -> None:
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
            digest.update(f"{path.relative_to(root)}:{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


def register_authors(names: Iterable[str]) -> None:
    """Each name an option of the `author` group, unless conf/author/<name>.yaml holds that author's settings."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name in names:
        if not (CONF_DIR / "author" / f"{name}.yaml").exists():
            store.store(group="author", name=name, node=AuthorConfig(name=name))


def prepare_argv(argv: List[str]) -> List[str]:
    """A `python -m stylometry.train` command line (without the program) made ready for Hydra: see
    prepare_overrides. Hydra's own flags (-m, --cfg job, ...) pass through; --help composes nothing."""
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help:
        return argv
    prepared = prepare_overrides(args.overrides)
    swap = dict(zip(args.overrides, prepared))
    return [swap.get(arg, arg) for arg in argv]


def prepare_overrides(overrides: List[str]) -> List[str]:
    """The command's overrides with `author=glob(...)` expanded over the corpus's author folders, after
    registering every folder as an `author` option. Unchanged for data=text or where data.root is unknown
    (composition then fails with its own message)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Glob

    parser = OverridesParser.create()
    parsed = parser.parse_overrides(overrides)
    author = next((o for o in parsed if o.key_or_group == "author" and not o.is_delete()), None)
    data = _data_config(
        [
            o.input_line
            for o in parsed
            if o.key_or_group != "author" and not o.is_sweep_override() and not o.key_or_group.startswith("hydra")
        ]
    )
    if data is None or data.get("kind") != "corpus" or not data.get("root"):
        return overrides
    root = Path(str(data["root"])).expanduser()
    if not root.is_dir():
        return overrides  # the trainer names the missing folder
    names = author_folders(root, data.get("not_authors") or ())
    register_authors(names)
    if author is None:
        return overrides
    if isinstance(author.value(), Glob):
        chosen = author.value().filter(names)
        if not chosen:
            raise ConfigError(
                f"{author.input_line} matches no author folder of data.root={root} ({', '.join(names) or 'none'})"
            )
        return [f"author={','.join(chosen)}" if o == author.input_line else o for o in overrides]
    requested = list(author.sweep_string_iterator()) if author.is_sweep_override() else [str(author.value())]
    unknown = [name for name in requested if name not in names]
    if unknown:
        raise ConfigError(
            f"author={unknown[0]}: data.root={root} has no author folder {unknown[0]}; "
            f"its authors are {', '.join(names) or 'none'}"
        )
    return overrides


def _data_config(overrides: List[str]) -> Optional[dict]:
    """data.kind, data.root and data.not_authors as the command composes them (None if they do not resolve)."""
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from stylometry.config.compose import compose

    if GlobalHydra.instance().is_initialized():  # inside a Hydra app, whose Hydra composing again would clear
        return None
    try:
        cfg = compose("train", overrides)
    except ConfigError:
        return None  # the command's own composition says what is wrong
    return {
        key: OmegaConf.select(cfg, f"data.{key}", throw_on_resolution_failure=False)
        for key in ("kind", "root", "not_authors")
    }
