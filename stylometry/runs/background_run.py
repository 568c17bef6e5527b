"""The background model's run (init=background): its config, derived from an author job's, its run dir beside the
authors', and how a reader tells it from an author's run.

    python -m stylometry.train -m init=background 'author=glob(*)' 'seed=range(5)' hydra/launcher=joblib

One background per seed (and variant): the pooled training text of every author of that seed (data/splits.py:
load_background_data), from scratch; its seed's authors are then fine-tuned from its final weights
(stylometry/training/background_training.py trains it before them). It is a run like any other (identity, checkpoints,
metrics, status) in <variant>/_background/seed=<seed>, but not a candidate author: studies and analyses leave it out.

With init.background_study=<study dir> the runs start from that study's background of their seed and variant instead,
trained there (impostors that start where the candidates did: stylometry/runs/impostor_study.py). It must be complete,
of the runs' model, and never have trained on a book a run holds out.
"""

import dataclasses
from pathlib import Path
from typing import Optional

from stylometry.config.schema import (
    BACKGROUND,
    BACKGROUND_RUN,
    PRETRAINED,
    SCRATCH,
    AuthorConfig,
    ConfigError,
    InitConfig,
    TrainConfig,
)
from stylometry.runs.layout import CHECKPOINT, run_dir_tail
from stylometry.runs.status import COMPLETE, read_status


def background_config(cfg: TrainConfig) -> TrainConfig:
    """The background model's config for an author job's config: the same model, data, variant, seed and cadence
    (but no evaluation of the untrained model);
    every author's text, from scratch, for init.background_epochs epochs at init.background_lr (or the optimizer's)."""
    stop = dataclasses.replace(
        cfg.stop_criteria,
        min_epochs=0,
        max_epochs=cfg.init.background_epochs,
        train_loss_threshold=None,
        max_steps=None,
    )
    lr = cfg.init.background_lr if cfg.init.background_lr is not None else cfg.optimizer.lr
    return dataclasses.replace(
        cfg,
        author=AuthorConfig(name=BACKGROUND_RUN),
        run_name=BACKGROUND_RUN,
        init=InitConfig(name=SCRATCH),
        stop_criteria=stop,
        optimizer=dataclasses.replace(cfg.optimizer, lr=lr),
        cadence=dataclasses.replace(cfg.cadence, eval_at_start=False),  # its untrained model: nothing to learn from it
    )


def background_dir(cfg: TrainConfig, run_dir: Path) -> Path:
    """The run dir of an author run's background model: <variant>/_background/seed=<seed> beside the author's
    <variant>/<author>/seed=<seed>; or <variant>/_background/seed=<seed> below init.background_study (the dir that
    study's sweep wrote its runs in)."""
    if cfg.init.background_study:
        return Path(cfg.init.background_study).expanduser() / run_dir_tail(cfg.variant.name, BACKGROUND_RUN, cfg.seed)
    return run_dir.parent.parent / BACKGROUND_RUN / run_dir.name


def trains_background(cfg: TrainConfig) -> bool:
    """The author job trains (or waits for) its seed's background first: init=background, of its own study."""
    return cfg.init.name == BACKGROUND and not cfg.init.background_study


def is_background(run_dir: Path) -> bool:
    """The run is a background model, which its seed's authors start from: not a candidate author."""
    return (read_status(run_dir) or {}).get("author") == BACKGROUND_RUN


def starting_weights(cfg: TrainConfig, run_dir: Path, required: bool = True) -> tuple[TrainConfig, Optional[Path]]:
    """The config with the model it starts from (init=pretrained: the folder's architecture), and the folder of the
    weights it starts from (None: from scratch). init=background: its seed's background run, complete; else a
    ConfigError naming it (the command that trains the authors trains it first: training/background_training.py),
    or, not `required` (`status --plan`, before anything is trained), None."""
    # Imported here: both import torch, which a command that trains nothing never waits for (tests/test_cli.py).
    from stylometry.model.starting_weights import with_starting_model
    from stylometry.runs.decision import SKIP, decide

    if cfg.init.name == PRETRAINED:
        return with_starting_model(cfg), Path(cfg.init.path).expanduser()
    if cfg.init.name == BACKGROUND:
        background = background_dir(cfg, run_dir)
        if cfg.init.background_study:
            check_background_study(cfg, run_dir)
            return cfg, background / CHECKPOINT
        if decide(background).action == SKIP:
            return cfg, background / CHECKPOINT
        if not required:
            return cfg, None
        state = (read_status(background) or {}).get("state", "not started")
        raise ConfigError(
            f"the background run {background} is {state}: run the same command (with init=background) to train it, "
            "then its authors"
        )
    return cfg, None


def check_background_study(cfg: TrainConfig, run_dir: Path) -> None:
    """init.background_study's background of the run's seed and variant is complete, a model of the run's shape, and
    never trained on a book the run's seed holds out; else a ConfigError naming it (before a sweep launches, and again
    as the run starts)."""
    if not cfg.init.background_study:
        return
    from stylometry.runs.layout import read_run_config

    background = background_dir(cfg, run_dir)
    state = (read_status(background) or {}).get("state")
    if state != COMPLETE or not (background / CHECKPOINT).is_dir():
        found = f"is {state or 'not started'}" if background.is_dir() else "is not there"
        raise ConfigError(
            f"init.background_study={cfg.init.background_study}: its background run {background} {found}: "
            "train that study first (init=background), or name a study dir that has one"
        )
    try:
        theirs = read_run_config(background).model
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"init.background_study={cfg.init.background_study}: its background {background}'s config cannot be "
            f"read ({error}): train that study's background again"
        ) from None
    if theirs != cfg.model:
        ours = dataclasses.asdict(cfg.model)
        differs = next((key for key, value in ours.items() if getattr(theirs, key, None) != value), None)
        what = (
            f"model.{differs}={getattr(theirs, differs, None)}, this run {ours[differs]}"
            if differs
            else "another model"
        )
        raise ConfigError(
            f"init.background_study={cfg.init.background_study}: its background {background} has {what}: train with "
            "that study's model"
        )
    _refuse_leak(cfg, background)


def _refuse_leak(cfg: TrainConfig, background: Path) -> None:
    """A ConfigError where another study's background (init.background_study) trained on a book the run's seed holds
    out: the run's losses on that book would be no held-out evaluation."""
    # Imported here: the split imports numpy and torch, which a command's config errors never wait for.
    from stylometry.data.splits import held_out_books
    from stylometry.runs.manifest import read_manifest

    manifest = read_manifest(background)
    if "train_books" not in manifest:
        raise ConfigError(
            f"init.background_study={cfg.init.background_study}: its background {background} keeps no list of the "
            "books it trained on (manifest.json), so it cannot be checked against the books this run holds out: "
            "train that study's background again"
        )
    held_out = {f"{author}/{book}" for author, book in held_out_books(cfg.data, cfg.seed).items()}
    leaked = sorted(held_out & set(manifest["train_books"]))
    if leaked:
        raise ConfigError(
            f"init.background_study={cfg.init.background_study}: its background {background} trained on {leaked[0]}, "
            "a book this run holds out: start from a study whose background never read this run's held-out books"
        )
