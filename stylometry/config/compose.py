"""Composing a command's config from conf/, and every error of a command line as one line that says what to do.

    python -m stylometry.status --plan -m 'author=glob(*)' 'seed=range(10)'    # compose_jobs: every job, checked

Every command that reads conf/ composes here: `stylometry.train` checks all the jobs of a command before Hydra
creates anything, `stylometry.status --plan` lists them, `stylometry.generate`, `stylometry.bench` and
`stylometry.variants` read their settings. Hydra's own messages run over several lines (a traceback, for an
override its grammar rejects) and answer a misspelt key with "To append to your config use +key=..." (which the
typed config refuses anyway); here each is a ConfigError of one line naming the override and what to write
instead. Hydra's public API only (but for its command-line parser: hydra_args), and its errors read from the
exceptions' fields, never from their text. Only Hydra and OmegaConf are imported: a command answers in about a
second.
"""

import copy
import difflib
import itertools
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf, open_dict

from stylometry.config.schema import ConfigError, TrainConfig, first_line, register_configs, to_run_config

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
SWEEP_NEEDS_M = "a sweep (a,b or range() or glob()) needs -m; for a list write key=[a,b], for a comma in text key='a,b'"
_CLOSING = {"(": ")", "[": "]", "{": "}"}


@dataclass
class Job:
    """One job of a command: its overrides, the run dir Hydra will give it, and its config."""

    overrides: List[str]
    run_dir: Path
    config: TrainConfig
    launcher: str  # the hydra/launcher option (basic, joblib, local, slurm, ...)
    launcher_target: str  # its class, e.g. hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher
    sweep_dir: Optional[Path] = None  # a sweep's job: the sweep's dir (its summary.csv), which its run dir is below


def compose(config_name: str, overrides: Sequence[str], with_hydra: bool = False) -> DictConfig:
    """conf/<config_name>.yaml with the overrides, as Hydra composes it for a command; ConfigError if it cannot be."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    parsed = parse_overrides(overrides)
    refuse_sweeps(parsed)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return hydra_compose(config_name, overrides=list(overrides), return_hydra_config=with_hydra)
    except Exception as error:
        raise composition_error(error, parsed) from None
    finally:
        GlobalHydra.instance().clear()


def compose_jobs(overrides: Sequence[str], multirun: bool) -> List[Job]:
    """Every job of `python -m stylometry.train [-m] <overrides>`, composed, typed and checked; ConfigError for the
    first that cannot run.

    A sweep is expanded as Hydra's basic sweeper does (`a,b`, `range()`, `glob()`), and each job composed as Hydra
    will compose it, except that the config is composed once per distinct choice of config-group options and the
    swept values (`seed=range(10)`) are then set on it as Hydra sets them after composing: 8 compositions rather
    than 80 for the study's grid (0.15-0.3 s each)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    GlobalHydra.instance().clear()
    parsed, jobs, composed = [], [], {}
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()
            parsed = parse_overrides(overrides, loader)
            if not multirun:
                refuse_sweeps(parsed)
            # Swept values (not groups) of plain `key=value` overrides are set on a composed config; a swept
            # `+key`, `~key` or group is composed with each job.
            swept = {o.key_or_group for o in parsed if o.is_sweep_override() and _is_plain_value(loader, o)}
            for job_overrides in sweep_jobs(parsed) if multirun else [list(overrides)]:
                jobs.append(_compose_job(job_overrides, swept, composed, multirun))
    except ConfigError:
        raise
    except Exception as error:
        raise composition_error(error, parsed) from None
    finally:
        GlobalHydra.instance().clear()
    return jobs


def _compose_job(overrides: List[str], swept: set, composed: Dict[Tuple, Tuple], multirun: bool) -> Job:
    """One job: its config composed once per distinct rest of the command line (cached in `composed`), its swept
    values set on that composition in place (every job of one composition sets the same keys: no copy per job)."""
    from hydra import compose as hydra_compose

    fixed = tuple(o for o in overrides if override_key(o) not in swept)
    if fixed not in composed:
        cfg = hydra_compose("train", overrides=list(fixed), return_hydra_config=True)
        composed[fixed] = cfg, _without_hydra(cfg)
    cfg, app = composed[fixed]
    for override in parse_overrides([o for o in overrides if override_key(o) in swept]):
        set_value(cfg, override)
        if not override.is_hydra_override():
            set_value(app, override)
    check_required(app)
    return Job(
        overrides,
        _run_dir(cfg, multirun),
        to_run_config(app),
        str(cfg.hydra.runtime.choices.get("hydra/launcher", "")),
        str(cfg.hydra.launcher.get("_target_", "")),
        Path(cfg.hydra.sweep.dir) if multirun else None,  # resolved by _run_dir already
    )


def hydra_args(argv: Sequence[str]):
    """A command line (without the program) as @hydra.main reads it: `.overrides`, `.multirun`, `.help`, ...

    Hydra's own parser, which is private (Hydra has no public one): kept, so that the overrides are told from the
    flags and their values exactly as @hydra.main will tell them."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_args(list(argv))


def parse_overrides(overrides: Sequence[str], config_loader=None) -> list:
    """The overrides as Hydra's grammar reads them (its public OverridesParser); for the first it rejects, a
    ConfigError of one line (never Hydra's traceback): the override, what is wrong, what to write instead."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        return OverridesParser.create(config_loader=config_loader).parse_overrides(list(overrides))
    except OverrideParseException as error:
        raise ConfigError(grammar_error(error.override, first_line(error))) from None


def grammar_error(override: str, reason: str) -> str:
    """`<override>: <what is wrong>; <what to write>` for an override Hydra's grammar rejects. `reason` (the
    grammar's own words, e.g. "mismatched input '=' expecting <EOF>") is said only where nothing plainer fits. An
    override holding a newline or another unprintable character is shown escaped, so that the message is one line."""
    if not override.isprintable():
        override = override.encode("unicode_escape").decode("ascii")
    key, equals, value = override.partition("=")
    if not equals:
        return f"{override}: not an override; write key=value, group=option, or ~key to delete a key"
    unclosed = _unclosed(value)
    if unclosed:
        return f"{override}: the {unclosed} is never closed; close it, or quote a value that is text ({key}='...')"
    if value.startswith(",") or value.endswith(",") or ",," in value:
        return (
            f"{override}: a list with an empty item (a ',' too many); remove the ',', "
            f"or quote a value that holds a comma ({key}='...')"
        )
    if "=" in value or any(char.isspace() for char in value):
        what = "'='" if "=" in value else "spaces"
        return f"{override}: a value holding {what} must be quoted; write {quoted_override(key, value)}"
    if reason.startswith("LexerNoViableAltException"):
        reason = "a character the grammar takes only in quotes"
    return f"{override}: {reason}; quote a value that holds brackets, commas, '=' or spaces ({key}='...')"


def _unclosed(value: str) -> str:
    """The first quote or bracket of the value that is never closed ('' if none), e.g. "'('"."""
    stack, quote = [], ""
    for char in value:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _CLOSING:
            stack.append(char)
        elif char in _CLOSING.values() and stack and _CLOSING[stack[-1]] == char:
            stack.pop()
    if quote:
        return f"quote {quote}"
    return f"'{stack[0]}'" if stack else ""


def quoted_override(key: str, value: str) -> str:
    """`key='value'` quoted for Hydra (the value verbatim), and for the shell: "hydra.run.dir='/x/seed=0'"."""
    hydra_quote = "'" if "'" not in value else '"'
    override = f"{key}={hydra_quote}{value.replace(hydra_quote, chr(92) + hydra_quote)}{hydra_quote}"
    return f'"{override}"' if not set(override) & set('"$`\\!') else shlex.quote(override)


def refuse_sweeps(parsed: list) -> None:
    """A sweep without -m: one line, before Hydra's "Ambiguous value" (which runs over four)."""
    sweep = next((o for o in parsed if o.is_sweep_override()), None)
    if sweep is not None:
        raise ConfigError(f"{sweep.input_line}: {SWEEP_NEEDS_M}")


def sweep_jobs(parsed: list) -> List[List[str]]:
    """Every job's overrides as Hydra's basic sweeper expands them (its `split_arguments`, written here with the
    public Override API): the product of every sweep's values, in command-line order, a key given twice keeping
    the place of its first and the values of its last."""
    choices: Dict[str, List[str]] = {}
    for override in parsed:
        key = override.get_key_element()
        if not override.is_sweep_override():
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            raise ConfigError(f"{override.input_line}: the basic sweeper takes a,b, range() or glob(), not interval()")
    return [list(job) for job in itertools.product(*choices.values())]


def set_value(cfg: DictConfig, override) -> None:
    """A `key=value` override set on a composed config as Hydra sets it after composing (OmegaConf.update, merging
    a dict); a ConfigError of one line naming the override."""
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    try:
        OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
    except (ConfigAttributeError, ConfigKeyError) as error:
        raise ConfigError(unknown_key(error)) from None
    except OmegaConfBaseException as error:
        raise ConfigError(f"{override.input_line}: {first_line(error)}") from None


def override_key(override: str) -> str:
    """The key or group an override sets: `~+foo.bar=1` -> `foo.bar`."""
    return override.split("=", 1)[0].lstrip("~+")


def _is_plain_value(loader, override) -> bool:
    """`key=value`: not a config group, not `+key`, `++key` or `~key`, no `@package`."""
    parent, _, name = override.key_or_group.rpartition("/")
    plain = not (override.is_add() or override.is_force_add() or override.is_delete() or override.package)
    return plain and name not in loader.list_groups(parent)


def _without_hydra(cfg: DictConfig) -> DictConfig:
    app = copy.deepcopy(cfg)
    with open_dict(app):
        del app["hydra"]
    return app


def _run_dir(cfg: DictConfig, multirun: bool) -> Path:
    try:
        hydra = cfg.hydra
        return Path(hydra.sweep.dir) / str(hydra.sweep.subdir) if multirun else Path(hydra.run.dir)
    except Exception as error:  # an interpolation of the run dir's template that does not resolve
        raise ConfigError(f"the run dir: {first_line(error)}") from None


def check_required(cfg: DictConfig) -> None:
    """The values a run cannot start without, named before anything else is resolved."""
    kind = OmegaConf.select(cfg, "data.kind", default=None)
    if kind == "corpus" and OmegaConf.select(cfg, "author", default=None) is None:
        raise ConfigError(
            "author is not set: name one author folder of data.root with author=<folder>, or sweep "
            "them all with -m 'author=glob(*)' (or train on any text with data=text)"
        )
    root = OmegaConf.select(cfg, "data.root", default=None, throw_on_resolution_failure=False)
    if root is None:
        raise ConfigError(root_not_set(kind))


def root_not_set(kind: Optional[str]) -> str:
    what = "the corpus (one folder of .txt books per author)" if kind == "corpus" else "the folder of .txt files"
    return f"data.root is not set: point data.root=<folder> (or STYLOMETRY_DATA) at {what}"


def composition_error(error: Exception, overrides: Sequence = ()) -> ConfigError:
    """Hydra's error for a command line as one line naming the override and what to do instead, read from the
    exceptions' fields (MissingConfigException's `missing_cfg_file` and `options`, OmegaConf's `full_key`).
    `overrides`: the command's, parsed, to name the one a wrong value came from."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    cause = error.__cause__
    if isinstance(error, MissingConfigException) and "/" in (error.missing_cfg_file or ""):
        group, _, option = error.missing_cfg_file.rpartition("/")
        if group == "author":  # the author options are the folders of data.root (stylometry/data/authors.py)
            return ConfigError(
                f"author={option}: no conf/author/{option}.yaml, and no author folder {option} known: point "
                "data.root (or STYLOMETRY_DATA) at the corpus whose folders are the authors"
            )
        return ConfigError(f"{group}={option}: no such option; choose one of {', '.join(error.options or [])}")
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        return ConfigError(unknown_key(cause))
    if isinstance(cause, OmegaConfBaseException) and cause.full_key:
        override = _override_of(cause.full_key, overrides)
        return ConfigError(f"{override or cause.full_key}: {first_line(cause)}")
    return ConfigError(first_line(error) + (f": {first_line(cause)}" if cause is not None else ""))


def _override_of(key: str, overrides: Sequence) -> Optional[str]:
    """The command line's override that set `key` (or a dict above it), as typed."""
    found = [o.input_line for o in overrides if key == o.key_or_group or key.startswith(f"{o.key_or_group}.")]
    return found[-1] if found else None


def unknown_key(error) -> str:
    """`<key> is not a setting; did you mean <nearest>?`, the nearest among the keys beside it (never Hydra's
    advice to add it with `+key=`, which the typed config refuses). `error`: OmegaConf's ConfigAttributeError or
    ConfigKeyError, whose `full_key` is the first key of the override that the config lacks."""
    key = str(error.full_key)
    parent = getattr(error, "parent_node", None)
    siblings = [str(k) for k in parent.keys()] if isinstance(parent, DictConfig) else []
    if "." not in key and not key.startswith("hydra"):
        siblings = [name for name in siblings if name != "hydra"]  # Hydra's own settings: not a typo's answer
    prefix = key.rpartition(".")[0]
    nearest = difflib.get_close_matches(key.rpartition(".")[2], siblings, n=1)
    if nearest:
        return f"{key} is not a setting; did you mean {prefix + '.' if prefix else ''}{nearest[0]}?"
    if key.startswith("hydra.launcher."):
        return (
            f"{key} is not a setting of this launcher ({', '.join(siblings)}): choose one that has it first, "
            "e.g. hydra/launcher=joblib for n_jobs"
        )
    return f"{key} is not a setting; {prefix or 'the config'} has {', '.join(siblings)}"
