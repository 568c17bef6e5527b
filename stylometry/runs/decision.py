"""What a run dir needs: the one decision that `train`, `status --plan` and `attribute` share.

    python -m stylometry.train author=baum seed=0                    # decide() before the model is built
    python -m stylometry.status --plan -m 'author=glob(*)'           # decide() for every job of the sweep
    python -m stylometry.attribute multirun/corpus/paper letter.txt  # decide(): which runs are complete models

A job's run dir needs one of five things:

    skip     the run is complete and the stop criteria are met (or the dir holds no checkpoint to go on from)
    extend   the run is complete, but the stop criteria now ask for more: training goes on from its checkpoint
    resume   a checkpoint is there (a run paused, killed, failed or still running): training continues after it
    start    nothing is there yet
    refuse   the dir holds a run of another identity, or a checkpoint that cannot be read: the dir is left as it is

A job whose own inputs fail the checks training runs first (stylometry/data/splits.py: load_job_data) is
refused too, before its dir is looked at (`refused`). The stop criteria are part of the decision
(`should_stop`); the trainer's cadence asks them after every epoch (stylometry/training/cadence.py).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from stylometry.config.schema import StopCriteriaConfig, first_line
from stylometry.runs.checkpoint import CheckpointError, RunMismatch, check_same_run, read_training_state
from stylometry.runs.layout import latest_checkpoint
from stylometry.runs.status import COMPLETE, read_status

SKIP, EXTEND, RESUME, START, REFUSE = "skip", "extend", "resume", "start", "refuse"
ACTIONS = (SKIP, EXTEND, RESUME, START, REFUSE)


def should_stop(stop: StopCriteriaConfig, epoch: int, train_loss: Optional[float], step: int = 0) -> bool:
    """The stop criteria: max_epochs or max_steps reached, or the training loss at the threshold after min_epochs."""
    if epoch >= stop.max_epochs or (stop.max_steps is not None and step >= stop.max_steps):
        return True
    converged = (
        stop.train_loss_threshold is not None and train_loss is not None and train_loss <= stop.train_loss_threshold
    )
    return epoch >= stop.min_epochs and converged


@dataclass(frozen=True)
class Decision:
    action: str  # one of ACTIONS
    reason: str = ""  # in words: "complete at epoch 3", "checkpoint at epoch 2", or why it is refused
    error: Optional[Exception] = None  # a refusal as the error the trainer raises (RunMismatch, CheckpointError, ...)


def refused(error: Exception) -> Decision:
    """A job that cannot run, and why, in one line."""
    return Decision(REFUSE, first_line(error), error)


def decide(run_dir: Path, stop: Optional[StopCriteriaConfig] = None, identity: Optional[Dict] = None) -> Decision:
    """What run_dir needs for a job with these stop criteria and this identity.

    stop: the job's stop criteria; None for the run's own, as it was trained (a complete run is then done: how
    `attribute` reads a study). identity: the job's (stylometry/runs/checkpoint.py: run_identity), compared with
    the checkpoint's; None: not compared. Where the run stands is read from its checkpoint (its tensors only
    mapped, not read) when either is given, else from status.json alone."""
    status = read_status(run_dir) or {}
    checkpoint = latest_checkpoint(run_dir)
    saved = None
    if checkpoint is not None and (stop is not None or identity is not None):
        try:
            saved = read_training_state(checkpoint, mmap=True)
            if identity is not None:
                check_same_run(saved.identity, identity, run_dir)
        except (CheckpointError, RunMismatch) as error:
            return refused(error)
    if status.get("state") == COMPLETE:
        if saved is None or stop is None or should_stop(stop, saved.epoch, saved.train_loss, saved.step):
            return Decision(SKIP, f"complete at epoch {status.get('epoch', '?')}")
        return Decision(EXTEND, f"complete at epoch {saved.epoch}")
    if checkpoint is not None:
        return Decision(RESUME, f"checkpoint at epoch {saved.epoch if saved else status.get('epoch', '?')}")
    return Decision(START)
