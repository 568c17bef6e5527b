"""When: the one place that decides, after every optimizer step, what is due.

    python -m stylometry.train author=baum seed=0     # the trainer asks Cadence.after_step() after every step

A run is a timeline of optimizer steps that rolls over epochs. After each step the trainer tells the
cadence where the run stands (steps taken, epochs completed, whether this step ended an epoch and, if so,
that epoch's mean training loss) and gets back a `Due`: log the training scalars, evaluate, checkpoint,
pause (the wall-clock limit), stop (the stop criteria). The stop criteria themselves (`should_stop`) belong
to the decision of what a run dir needs (stylometry/runs/decision.py), which `train`, `status --plan` and
`attribute` share: a complete run whose criteria now ask for more is extended.
"""

from dataclasses import dataclass
from typing import Callable, Optional

from stylometry.config.schema import CadenceConfig, StopCriteriaConfig
from stylometry.runs.decision import should_stop


@dataclass(frozen=True)
class Due:
    """What the trainer does after a step, in this order: log, evaluate, checkpoint, then pause or stop."""

    log: bool = False  # train/loss, train/lr, train/grad_norm in scalars.csv
    evaluate: bool = False  # every evaluation set (and checkpoint.best/)
    checkpoint: bool = False
    pause: bool = False  # the wall-clock limit: checkpoint (above), then end as `paused`
    stop: bool = False  # the stop criteria are met: the run is complete


def _every(interval: Optional[int], count: int) -> bool:
    return interval is not None and count % interval == 0


class Cadence:
    """Decides what is due from the stop criteria, the cadence of evaluations and checkpoints, and the clock."""

    def __init__(self, stop: StopCriteriaConfig, cadence: CadenceConfig, log_every_steps: int):
        self.stop, self.cadence, self.log_every_steps = stop, cadence, log_every_steps

    def at_start(self) -> Due:
        """A new run: evaluate the untrained model (eval_at_start) and write the first checkpoint."""
        return Due(evaluate=self.cadence.eval_at_start, checkpoint=True)

    def done(self, epoch: int, train_loss: Optional[float], step: int) -> bool:
        """Before the first step of this process: a resumed run may have nothing left to do."""
        return should_stop(self.stop, epoch, train_loss, step)

    def logs(self, step: int) -> bool:
        """Whether step `step` (counted from 1) logs its scalars: the trainer asks before the step, to keep the
        gradient norm the optimizer is about to consume."""
        return step % self.log_every_steps == 0

    def epoch_ends(self, step: int, batches_done: int, num_batches: int) -> bool:
        """The epoch ends with its last batch, or early when max_steps is reached."""
        return batches_done == num_batches or _every(self.stop.max_steps, step)

    def after_step(
        self, step: int, epoch: int, epoch_ended: bool, train_loss: Optional[float], out_of_time: Callable[[], bool]
    ) -> Due:
        """step: optimizer steps taken; epoch: the epoch this step belongs to (completed when epoch_ended);
        train_loss: that epoch's mean, when it ended; out_of_time: asks the clock (a collective call in a
        data-parallel job, so it is asked only where the answer can matter)."""
        cadence, log = self.cadence, self.logs(step)
        if not epoch_ended:
            # Mid-epoch, the clock is read only where a mid-epoch checkpoint can save the position in the epoch.
            pause = cadence.checkpoint_every_steps is not None and out_of_time()
            return Due(
                log=log,
                evaluate=_every(cadence.eval_every_steps, step),
                checkpoint=_every(cadence.checkpoint_every_steps, step) or pause,
                pause=pause,
            )
        last = should_stop(self.stop, epoch, train_loss, step)
        late = out_of_time()
        return Due(
            log=log,
            evaluate=last or _every(cadence.eval_every, epoch) or _every(cadence.eval_every_steps, step),
            checkpoint=last
            or late
            or _every(cadence.checkpoint_every, epoch)
            or _every(cadence.checkpoint_every_steps, step),
            pause=late and not last,
            stop=last,
        )


def eta_seconds(stop: StopCriteriaConfig, epoch: int, step: int, train_seconds: float) -> Optional[float]:
    """Seconds of training left at the pace so far, to the first bound the stop criteria know in advance."""
    if stop.max_steps is not None:  # a step budget: it usually ends the run before max_epochs
        return max(0, stop.max_steps - step) * train_seconds / max(step, 1)
    # Until min_epochs the run cannot stop; after it, max_epochs is the only bound known in advance.
    target = stop.min_epochs if stop.train_loss_threshold is not None and epoch < stop.min_epochs else stop.max_epochs
    return max(0, target - epoch) * train_seconds / max(epoch, 1)
