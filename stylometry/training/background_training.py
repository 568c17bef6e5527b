"""The background model of init=background: one per seed (and variant), trained on the pooled training text of every
author before any author's model of that seed starts from its final weights.

    python -m stylometry.train -m init=background 'author=glob(*)' 'seed=range(5)' hydra/launcher=joblib

There is no separate stage to launch and no job dependency to declare, so one mechanism serves joblib, submitit
and SLURM alike: each author job first makes sure its seed's background is complete. The first to get there trains
it (holding its run dir's lock, as any job does: stylometry/runs/layout.py), the others of that seed wait while the
lock is held and then find it complete, so a background is trained once, and no author starts before it. A killed
background is resumed by the next author job of its seed, from its last checkpoint, like any run (its config and
run dir: stylometry/runs/background_run.py).
"""

import logging
import time
from pathlib import Path
from typing import Optional

from stylometry.config.schema import TrainConfig
from stylometry.hardware.device import Placement
from stylometry.hardware.distributed import World
from stylometry.runs.background_run import background_config, background_dir
from stylometry.runs.layout import RunDirBusy
from stylometry.training.loop import train

log = logging.getLogger(__name__)

WAIT_SECONDS = 5.0  # how often a waiting author job looks again: a background trains for minutes, not seconds


def train_background(
    cfg: TrainConfig, run_dir: Path, placement: Placement, world: Optional[World] = None
) -> tuple[str, Path]:
    """Trains (or resumes) the background of the author run in run_dir unless it is complete, or waits while another
    job trains it; returns its final state (complete, or paused at stop_criteria.max_seconds) and its run dir."""
    folder = background_dir(cfg, run_dir)
    waited = False
    while True:
        try:
            return train(background_config(cfg), folder, placement, world), folder
        except RunDirBusy:
            if not waited:
                log.info("waiting for the background model %s: another job of seed %d is training it", folder, cfg.seed)
                waited = True
            time.sleep(WAIT_SECONDS)
