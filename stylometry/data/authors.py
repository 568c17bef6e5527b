"""The corpus's folders as options of the `author` group: a command line made ready for Hydra.

    python -m stylometry.train -m 'author=glob(*)' 'seed=range(3)' data.root=/path/to/corpus

A corpus's authors are its folders (stylometry/data/corpus.py), and need no YAML. Before Hydra composes a
command's config, `prepare_overrides` makes `author=<folder>` an option of the `author` group for every author
folder of data.root (a `conf/author/<name>.yaml`, where one exists, still wins: it holds an author's settings,
such as its extra evaluation sets) and expands `author=glob(...)` over the corpus's folders only. Every command
that takes a study's overrides calls it first: train (prepare_argv), status --plan, bench. Only Hydra, OmegaConf
and folders: a command's answer does not wait for torch.
"""

from pathlib import Path
from typing import Iterable, List, Optional

from omegaconf import OmegaConf

from stylometry.config.compose import CONF_DIR, compose, hydra_args, parse_overrides, root_not_set
from stylometry.config.schema import AuthorConfig, ConfigError
from stylometry.data.corpus import author_folders


def register_authors(names: Iterable[str]) -> None:
    """Each name an option of the `author` group, unless conf/author/<name>.yaml holds that author's settings.

    A side effect on Hydra's ConfigStore, kept on purpose: Hydra finds a group's options on its search path
    (conf/) or in its ConfigStore, and the store is the one of the two a program can add to. The compositions
    that follow read it there: this process's, and a launcher's jobs in other processes (Hydra sends them the
    store with its singleton state)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name in names:
        if not (CONF_DIR / "author" / f"{name}.yaml").exists():
            store.store(group="author", name=name, node=AuthorConfig(name=name))


def prepare_argv(argv: List[str]) -> List[str]:
    """A `python -m stylometry.train` command line (without the program) made ready for Hydra: see
    prepare_overrides. Hydra's own flags (-m, --cfg job, ...) pass through; --help composes nothing."""
    args = hydra_args(argv)
    if args.help or args.hydra_help:
        return argv
    prepared = prepare_overrides(args.overrides)
    swap = dict(zip(args.overrides, prepared))
    return [swap.get(arg, arg) for arg in argv]


def prepare_overrides(overrides: List[str]) -> List[str]:
    """The command's overrides with `author=glob(...)` expanded over the corpus's author folders, after
    registering every folder as an `author` option; ConfigError of one line for an override Hydra's grammar
    rejects, for any other override that cannot compose (before an author it would call unknown), and for a
    data.root that is not set or not a folder where a requested author needs it. Unchanged for data=text."""
    from hydra.core.override_parser.types import Glob

    parsed = parse_overrides(overrides)
    author = next((o for o in parsed if o.key_or_group == "author" and not o.is_delete()), None)
    data = _data_config(
        [
            o.input_line
            for o in parsed
            if not _sets_author(o) and not o.is_sweep_override() and not o.key_or_group.startswith("hydra")
        ]
    )
    if data is None or data.get("kind") != "corpus":
        return overrides
    if not data.get("root") or not Path(str(data["root"])).expanduser().is_dir():
        _check_root_needed(author, data.get("root"))
        return overrides  # the authors of conf/author/ compose without it; the job names the missing folder
    root = Path(str(data["root"])).expanduser()
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
    if not author.is_sweep_override() or author.is_discrete_sweep():  # interval(): composition says what is wrong
        _check_named(author, names, root)
    return overrides


def _sets_author(override) -> bool:
    """`author=...`, `author.extra_eval_sets=...`: left out of the composition that finds data.root, which has no
    author yet (before its folders are options, the author may not compose)."""
    return override.key_or_group == "author" or override.key_or_group.startswith("author.")


def _check_root_needed(author, root) -> None:
    """A requested author that only data.root can make an option (no conf/author/<name>.yaml, or a glob over the
    folders) needs data.root set, and a folder: said as such, not as an unknown author."""
    from hydra.core.override_parser.types import Glob

    if author is None or (author.is_sweep_override() and not author.is_discrete_sweep()):
        return
    if isinstance(author.value(), Glob):
        needs_root = True
    else:
        requested = list(author.sweep_string_iterator()) if author.is_sweep_override() else [str(author.value())]
        needs_root = any(not (CONF_DIR / "author" / f"{name}.yaml").exists() for name in requested)
    if needs_root and not root:
        raise ConfigError(root_not_set("corpus"))
    if needs_root:
        author_folders(Path(str(root)).expanduser(), ())  # a ConfigError naming the missing folder


def _check_named(author, names: List[str], root: Path) -> None:
    """Every author an `author=a` or `author=a,b` override names is one of the corpus's folders."""
    requested = list(author.sweep_string_iterator()) if author.is_sweep_override() else [str(author.value())]
    unknown = [name for name in requested if name not in names]
    if unknown:
        raise ConfigError(
            f"author={unknown[0]}: data.root={root} has no author folder {unknown[0]}; "
            f"its authors are {', '.join(names) or 'none'}"
        )


def _data_config(overrides: List[str]) -> Optional[dict]:
    """data.kind, data.root and data.not_authors as the command composes them (None inside a Hydra app); the
    composition's ConfigError (a misspelt key, a wrong value), which the command's own would raise too, at once."""
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside a Hydra app, whose Hydra composing again would clear
        return None
    cfg = compose("train", overrides)
    return {
        key: OmegaConf.select(cfg, f"data.{key}", throw_on_resolution_failure=False)
        for key in ("kind", "root", "not_authors")
    }
