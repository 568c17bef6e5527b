"""status.json, a run's heartbeat, and its progress line: how a run says where it stands (no torch).

    python -m stylometry.status multirun/corpus/paper     # reads every run's status.json

    <run dir>/status.json   state (running | complete | failed | paused), the job's identity (study, experiment,
                            variant, author, seed, corpus and config hashes), epoch, step, latest losses, ETA,
                            host, pid, device: rewritten atomically at every epoch, evaluation and checkpoint

Written by the trainer through this module alone, and read through `read_status` by every command.
"""

import math
import os
import time
import traceback
from pathlib import Path
from typing import Dict, List, Optional

from stylometry.config.schema import first_line
from stylometry.runs.layout import STATUS, host, read_json, write_json
from stylometry.runs.metrics import MetricRow, losses_by_dataset

# The states status.json records, defined here alone; every command reads them by these names.
RUNNING, COMPLETE, FAILED, PAUSED = "running", "complete", "failed", "paused"
# And the two a reader infers: a run whose process is gone before it ended, and a job with nothing on disk yet.
INTERRUPTED, NOT_STARTED = "interrupted", "not started"


def read_status(run_dir: Path) -> Optional[Dict]:
    """The run's status.json, or None where there is none (or it cannot be read)."""
    return read_json(Path(run_dir) / STATUS)


def job_record(cfg, corpus_sha256: str, config_sha256: str) -> Dict:
    """Which job this is, in status.json: enough for a sweep's summary, and for `analyze` and `attribute` to keep
    apart runs of other corpora (corpus_sha256) or other settings (config_sha256: the identity but author and seed;
    stylometry/runs/checkpoint.py). cfg: the job's TrainConfig."""
    return {
        "study": cfg.study,
        "experiment": cfg.experiment_name,
        "variant": cfg.variant.name,
        "author": cfg.run_name,  # the author, or data.name for a text run
        "seed": cfg.seed,
        "corpus_sha256": corpus_sha256,
        "config_sha256": config_sha256,
    }


def write_status(
    run_dir: Path,
    state: str,
    job: Dict,
    *,
    epoch: int,
    step: int,
    max_epochs: int,
    max_steps: Optional[int],
    rows: List[MetricRow],
    eta_s: Optional[float],
    device: str,
    precision: str,
    reason: Optional[str] = None,
) -> None:
    """job: the identity (study, experiment, variant, author, seed, corpus_sha256, config_sha256)."""
    write_json(
        run_dir / STATUS,
        {
            "state": state,
            **job,
            "epoch": epoch,
            "step": step,
            "max_epochs": max_epochs,
            "max_steps": max_steps,
            "losses": losses_by_dataset(rows),
            "eta_s": eta_s,
            "host": host(),
            "pid": os.getpid(),
            "device": device,
            "precision": precision,
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "reason": reason,
        },
    )


def write_failed_status(run_dir: Path, error: BaseException, job: Dict) -> None:
    """Marks a job failed with the error's first line, keeping its last epoch and losses if it had any."""
    status = read_status(run_dir) or {}
    if status.get("state") == COMPLETE:
        return  # a later bad command does not unmake a finished run
    status.update(job)
    status.update(
        state=FAILED,
        reason=first_line(error),
        host=host(),
        pid=os.getpid(),
        updated_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        traceback="".join(traceback.format_exception(error)),
    )
    write_json(run_dir / STATUS, status)


def epoch_line(
    epoch: int,
    max_epochs: int,
    train_loss: Optional[float],
    rows: List[MetricRow],
    own_author: Optional[str],
    authors: List[str],
    tokens_per_s: float,
    eta_s: Optional[float],
) -> str:
    """`epoch 3/500 | train 4.1 | eval own 4.3 others 5.0..5.6 | 1,453 tok/s | ETA 12.0 min`: a study run reads
    its own author's loss against the others'; a text run (no author) each set's loss and perplexity."""
    losses = losses_by_dataset(rows, evaluations_only=True)
    parts = [f"epoch {epoch}/{max_epochs}"]
    if train_loss is not None:
        parts.append(f"train {train_loss:.4f}")
    if losses and own_author is None:
        parts.append(
            " ".join(f"{name} {loss:.4f} (ppl {math.exp(min(loss, 700)):.1f})" for name, loss in losses.items())
        )
    elif losses:
        own = losses.get(own_author)
        others = [loss for name, loss in losses.items() if name in authors and name != own_author]
        if own is None:  # a background model (init=background): every author's book is another's
            parts.append(f"eval {min(others):.4f}..{max(others):.4f}")
        else:
            parts.append(
                f"eval own {own:.4f} others {min(others):.4f}..{max(others):.4f}" if others else f"eval own {own:.4f}"
            )
    if tokens_per_s:
        parts.append(f"{tokens_per_s:,.0f} tok/s")
    if eta_s is not None:
        parts.append(f"ETA {eta_s / 60:.1f} min")
    return " | ".join(parts)
