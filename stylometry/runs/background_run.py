"""The background model's run (init=background): its config, derived from an author job's, its run dir beside the
authors', and how a reader tells it from an author's run.

    python -m stylometry.train -m init=background 'author=glob(*)' 'seed=range(5)' hydra/launcher=joblib

One background per seed (and variant): the pooled training text of every author of that seed (data/splits.py:
load_background_data), from scratch; its seed's authors are then fine-tuned from its final weights
(stylometry/training/background_training.py trains it before them). It is a run like any other (identity, checkpoints,
metrics, status) in <variant>/_background/seed=<seed>, but not a candidate author: studies and analyses leave it out.
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
from stylometry.runs.layout import CHECKPOINT
from stylometry.runs.status import read_status


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


def background_dir(run_dir: Path) -> Path:
    """The run dir of an author run's background model: <variant>/_background/seed=<seed> beside the author's
    <variant>/<author>/seed=<seed>."""
    return run_dir.parent.parent / BACKGROUND_RUN / run_dir.name


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
        background = background_dir(run_dir)
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
