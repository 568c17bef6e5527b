"""When a run is done: the stop criteria, as one pure function of where the run stands (no torch).

    python -m stylometry.train author=baum seed=0     # the trainer asks should_stop() after every epoch and step

`python -m stylometry.status --plan` asks it too, of a complete run's status.json, to say whether a rerun
with new stop criteria would extend it.
"""

from typing import Optional

from stylometry.config import StopCriteriaConfig


def should_stop(stop: StopCriteriaConfig, epoch: int, train_loss: Optional[float], step: int = 0) -> bool:
    if epoch >= stop.max_epochs or (stop.max_steps is not None and step >= stop.max_steps):
        return True
    converged = stop.train_loss_threshold is not None and train_loss is not None and train_loss <= stop.train_loss_threshold
    return epoch >= stop.min_epochs and converged
