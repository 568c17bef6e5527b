"""Scalars over optimizer steps: `scalars.csv` always, TensorBoard event files with `logger=tensorboard`.

    tensorboard --logdir multirun/      # every run of a sweep, named by its run dir

    <run dir>/scalars.csv               step,epoch,name,value: train/loss (the mean over the steps since
                                        the last row), train/lr, train/grad_norm, and at every evaluation
                                        <set>/loss and <set>/perplexity (exp of the loss) for each set
    <run dir>/events.out.tfevents.*     the same scalars, tagged by name (logger=tensorboard)

Resume: every scalar of step S is logged before the checkpoint of step S is written, so a run
resuming from the checkpoint of step S drops the rows after S (and TensorBoard purges its events
after S: `purge_step`), then logs S+1 onwards again; no step is missing or doubled.
"""

import math
import time
from pathlib import Path
from typing import Dict, Optional

from stylometry.config.schema import ConfigError, LoggerConfig
from stylometry.files.csvlog import CsvLog

SCALARS = "scalars.csv"
SCALAR_FIELDS = ["step", "epoch", "name", "value"]


class ScalarLogger:
    """Writes scalars for one run; `enabled=False` (processes other than rank 0) writes nothing."""

    def __init__(self, run_dir: Path, cfg: LoggerConfig, resume_step: Optional[int], enabled: bool = True):
        self.path, self.enabled, self.writer = run_dir / SCALARS, enabled, None
        if not enabled:
            return
        if cfg.name == "tensorboard":
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ConfigError(
                    "logger=tensorboard needs the tensorboard package: "
                    'pip install -e ".[tensorboard]", or use logger=csv'
                ) from None
        keep_scalars_through(run_dir, resume_step)
        if cfg.name == "tensorboard":
            # Events after the resumed checkpoint's step were written by a run that did not reach the
            # next checkpoint: TensorBoard hides them (a fresh start purges them all).
            wait_for_a_later_second(run_dir)
            self.writer = SummaryWriter(str(run_dir), purge_step=0 if resume_step is None else resume_step + 1)

    def log(self, step: int, epoch: int, scalars: Dict[str, float]) -> None:
        if not self.enabled or not scalars:
            return
        _scalars(self.path.parent).append(
            {"step": step, "epoch": epoch, "name": name, "value": repr(float(value))} for name, value in scalars.items()
        )
        if self.writer is not None:
            for name, value in scalars.items():
                self.writer.add_scalar(name, value, step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def wait_for_a_later_second(run_dir: Path) -> None:
    """Returns once the clock is past the second of the run dir's newest event file. TensorBoard reads a run's event
    files in name order, and a name is the second it was made, then host, pid and a per-process counter, compared as
    text ("10" sorts before "9"): a file made in the same second as an earlier one can sort before it, and the purge
    of the steps after the resumed checkpoint is then read first and undone (seen in tests/test_text_training.py,
    which resumes 11 times in one process). At most one second per resume."""
    seconds = [
        int(part) for path in run_dir.glob("events.out.tfevents.*") if (part := path.name.split(".")[3]).isdigit()
    ]
    while seconds and time.time() < max(seconds) + 1:
        time.sleep(0.05)


def eval_scalars(rows) -> Dict[str, float]:
    """<set>/loss and <set>/perplexity for each evaluation row (MetricRow)."""
    scalars = {}
    for row in rows:
        loss = row.loss
        scalars[f"{row.dataset}/loss"] = loss
        scalars[f"{row.dataset}/perplexity"] = math.exp(min(loss, 700.0))  # exp(710) overflows a float
    return scalars


def _scalars(run_dir: Path) -> CsvLog:
    whole = lambda row: all(row.get(key) for key in SCALAR_FIELDS) and row["step"].isdigit() and _is_float(row["value"])  # noqa: E731
    return CsvLog(run_dir / SCALARS, SCALAR_FIELDS, whole)


def read_scalars(run_dir: Path):
    return _scalars(run_dir).read()


def keep_scalars_through(run_dir: Path, step: Optional[int]) -> None:
    """Drops the rows after `step` (all of them for None: a fresh start), and a row cut by a kill."""
    _scalars(run_dir).keep(lambda row: step is not None and int(row["step"]) <= step)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
