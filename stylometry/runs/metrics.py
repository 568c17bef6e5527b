"""metrics.csv, a run's losses: one row per (epoch, evaluation set), appended as the run goes.

    <run dir>/metrics.csv   epoch,dataset,loss,tokens,seconds
                            `train` is the epoch's mean training loss; epoch 0 is before any training

A row is a `MetricRow`; the file holds its loss to 6 decimals and its seconds to 1, and a row is made at that
precision (`MetricRow.of`), so a row in memory is the row read back. Checkpoints keep their epoch's rows in the
same form (`fields`), which is how a resume writes them again.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List

from stylometry.files.csvlog import CsvLog
from stylometry.runs.layout import METRICS

FIELDS = ["epoch", "dataset", "loss", "tokens", "seconds"]
LOSS_DECIMALS = 6
TRAIN = "train"  # the dataset of the epoch's mean training loss; every other dataset is an evaluation set


@dataclass(frozen=True)
class MetricRow:
    epoch: int
    dataset: str
    loss: float
    tokens: int  # the predicted tokens the loss is the mean over
    seconds: float  # the run's training seconds when the row was written

    @classmethod
    def of(cls, epoch: int, dataset: str, loss: float, tokens: int, seconds: float) -> "MetricRow":
        """A row at the file's precision."""
        return cls.from_fields(cls(epoch, dataset, loss, tokens, seconds).fields())

    def fields(self) -> Dict[str, str]:
        """The row as metrics.csv (and a checkpoint's `metric_rows`) holds it."""
        return {
            "epoch": str(self.epoch),
            "dataset": self.dataset,
            "loss": f"{self.loss:.{LOSS_DECIMALS}f}",
            "tokens": str(self.tokens),
            "seconds": f"{self.seconds:.1f}",
        }

    @classmethod
    def from_fields(cls, row: Dict) -> "MetricRow":
        return cls(
            int(row["epoch"]), str(row["dataset"]), float(row["loss"]), int(row["tokens"]), float(row["seconds"])
        )


def logged_loss(loss: float) -> float:
    """A loss as metrics.csv holds it: a text's loss scored outside training (attribute) equals the logged one."""
    return round(loss, LOSS_DECIMALS)


def _is_whole(row: Dict) -> bool:
    return all(row.get(key) for key in FIELDS) and row["epoch"].isdigit()


def _log(run_dir: Path) -> CsvLog:
    return CsvLog(run_dir / METRICS, FIELDS, _is_whole)


def append_metrics(run_dir: Path, rows: Iterable[MetricRow]) -> None:
    _log(run_dir).append(row.fields() for row in rows)


def read_metrics(run_dir: Path) -> List[MetricRow]:
    """The whole rows (a row cut by a kill is left out)."""
    return [MetricRow.from_fields(row) for row in _log(run_dir).read() if _is_whole(row)]


def keep_metrics_before(run_dir: Path, epoch: int) -> None:
    """Drops the rows of `epoch` and later (written after the checkpoint a resume starts from)."""
    _log(run_dir).keep(lambda row: int(row["epoch"]) < epoch)


def has_metrics(run_dir: Path) -> bool:
    return (run_dir / METRICS).is_file()


def find_metrics(root: Path) -> List[Path]:
    """The run dirs below root (any depth) that hold a metrics.csv, in path order."""
    return [path.parent for path in sorted(root.rglob(METRICS))]


def metrics_table(run_dir: Path, columns: List[str]):
    """metrics.csv as a pandas table of these columns (the analysis's reader)."""
    import pandas as pd

    return pd.read_csv(run_dir / METRICS, usecols=columns)


def losses_by_dataset(rows: Iterable[MetricRow], evaluations_only: bool = False) -> Dict[str, float]:
    return {row.dataset: row.loss for row in rows if not (evaluations_only and row.dataset == TRAIN)}
