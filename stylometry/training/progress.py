"""Where a run stands, as a checkpoint saves it: the loop state, the epoch in progress, the dropout RNGs.

The file's format is stylometry/runs/checkpoint.py's `TrainingState`; this is the loop's side of it: what the
loop keeps while it runs (`Progress`), the record it saves (`training_state`) and what a resume restores.
"""

import dataclasses
from typing import Dict, List, Optional

import numpy as np
import torch

from stylometry.hardware.distributed import World
from stylometry.runs.checkpoint import TrainingState
from stylometry.runs.metrics import MetricRow


@dataclasses.dataclass
class WindowPosition:
    """Where the epoch in progress stands: what a mid-epoch checkpoint needs to continue it exactly."""

    rng_state: Dict  # the window RNG's state before the epoch's draw: a resume draws the same windows again
    batches_done: int = 0
    nll: float = 0.0  # the epoch's summed training NLL, over all processes, as of the last mid-epoch checkpoint
    tokens: int = 0  # the epoch's predicted training tokens so far

    def saved(self) -> Dict:  # the checkpoint's `in_epoch`, in the format runs already on disk hold
        return {"window_rng": self.rng_state, "batches_done": self.batches_done, "nll": self.nll, "tokens": self.tokens}

    @classmethod
    def from_saved(cls, saved: Optional[Dict]) -> Optional["WindowPosition"]:
        return None if saved is None else cls(saved["window_rng"], saved["batches_done"], saved["nll"], saved["tokens"])


@dataclasses.dataclass
class Progress:
    """Where the run stands: the loop state a checkpoint saves besides weights, optimizer and RNG states."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    train_seconds: float = 0.0
    train_loss: Optional[float] = None  # the last completed epoch's mean training loss
    best_loss: Optional[float] = None  # the lowest validation loss so far (checkpoint.best/)
    position: Optional[WindowPosition] = None  # the epoch in progress, if a step of it is done

    @classmethod
    def from_checkpoint(cls, saved: TrainingState) -> "Progress":
        return cls(
            saved.epoch,
            saved.step,
            saved.train_seconds,
            saved.train_loss,
            saved.best_loss,
            WindowPosition.from_saved(saved.in_epoch),
        )


def training_state(
    state: Progress,
    rows: List[MetricRow],
    metrics_from: int,
    identity: Dict,
    optimizer,
    scaler,
    window_rng: np.random.Generator,
    rng_states: List[Dict],
    on_cuda: bool,
) -> TrainingState:
    """The checkpoint's record of the run; rng_states: every process's {"cpu", "cuda"} (rank 0 first)."""
    return TrainingState(
        identity=identity,
        epoch=state.epoch,
        step=state.step,
        train_seconds=state.train_seconds,
        train_loss=state.train_loss,
        best_loss=state.best_loss,
        in_epoch=state.position.saved() if state.position else None,
        metric_rows=list(rows),
        metrics_from=metrics_from,
        optimizer=optimizer.state_dict(),
        scaler=scaler.state_dict(),
        window_rng=window_rng.bit_generator.state,
        torch_rng=rng_states[0]["cpu"],
        cuda_rng=rng_states[0]["cuda"] if on_cuda else None,
        rank_rng=rng_states if len(rng_states) > 1 else None,  # each process's dropout stream
    )


def restore_rng(saved: TrainingState, seed: int, world: World, device) -> None:
    """This process's dropout RNG as the checkpoint saved it (a fresh stream of its own for a process it lacks)."""
    ranks = saved.rank_rng or []
    if world.rank < len(ranks):
        cpu, cuda = ranks[world.rank]["cpu"], ranks[world.rank]["cuda"]
    elif world.rank == 0:
        cpu, cuda = saved.torch_rng, saved.cuda_rng
    else:
        torch.manual_seed(rank_seed(seed, world.rank, saved.step))
        return
    torch.set_rng_state(cpu)
    if device.type == "cuda" and cuda is not None:
        torch.cuda.set_rng_state(cuda, device)


def rank_seed(seed: int, rank: int, step: int) -> int:
    """A seed of this process's own dropout stream (ranks > 0), independent of the others'."""
    return int(np.random.default_rng([seed, rank, step]).integers(2**62))
