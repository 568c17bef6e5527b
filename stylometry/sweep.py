"""A sweep read from its run dirs alone: which jobs are complete, running, failed or unfinished.

    python -m stylometry.status multirun/corpus/paper          # any time, no scheduler needed
    <sweep dir>/summary.csv                              # written at the end of every sweep

Every job writes `status.json` into its own dir (the heartbeat), so the state of a sweep of any
launcher, on any machine that sees the dirs, is a walk over the tree.
"""

import csv
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from stylometry.checkpoint import latest_checkpoint
from stylometry.rundir import LOCK, METRICS, STATUS, host, read_json

log = logging.getLogger(__name__)

SUMMARY = "summary.csv"
# A heartbeat older than this from another host (where the process cannot be asked) means the job died.
STALE_SECONDS = 30 * 60


@dataclass
class JobState:
    run_dir: str
    state: str  # complete | running | failed | paused | interrupted | not started
    experiment: str = ""
    variant: str = ""
    author: str = ""
    seed: str = ""
    epoch: Optional[int] = None
    train_loss: Optional[float] = None
    eta_s: Optional[float] = None
    host: str = ""
    device: str = ""
    detail: str = ""  # a failure's first line and where its log is; why a job is unfinished


def find_run_dirs(sweep_dir: Path) -> List[Path]:
    """Job dirs below sweep_dir: those Hydra made (`.hydra/`) or the trainer wrote into."""
    found = set()
    for marker in (".hydra", STATUS, METRICS, LOCK):
        for path in sweep_dir.rglob(marker):
            if ".submitit" not in path.parts:
                found.add(path.parent)
    return sorted(found)


def job_state(run_dir: Path) -> JobState:
    status = read_json(run_dir / STATUS)
    if status is None:
        checkpoint = latest_checkpoint(run_dir)
        return JobState(str(run_dir), "interrupted" if checkpoint else "not started",
                        detail="checkpoint found: the same command resumes it" if checkpoint else "")
    state = status.get("state", "unknown")
    job = JobState(
        run_dir=str(run_dir), state=state,
        experiment=str(status.get("experiment", "")), variant=str(status.get("variant", "")),
        author=str(status.get("author", "")), seed=str(status.get("seed", "")),
        epoch=status.get("epoch"), train_loss=(status.get("losses") or {}).get("train"),
        eta_s=status.get("eta_s"), host=str(status.get("host", "")), device=str(status.get("device", "")),
        detail=status.get("reason") or "",
    )
    if state == "failed":
        job.detail = f"{job.detail} (log: {run_dir / 'train.log'}; traceback in {STATUS})"
    elif state == "running" and not _alive(status):
        job.state, job.detail = "interrupted", "its process is gone: the same command resumes it"
    return job


def _alive(status: dict) -> bool:
    if status.get("host") == host() and status.get("pid"):
        return _process_alive(int(status["pid"]))
    updated = status.get("updated_at")
    try:
        age = time.time() - time.mktime(time.strptime(updated, "%Y-%m-%dT%H:%M:%S%z"))
    except (TypeError, ValueError):
        return False
    return age < STALE_SECONDS


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed job whose parent died too may linger as a zombie nobody reaps
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def sweep_states(sweep_dir: Path) -> List[JobState]:
    return [job_state(run_dir) for run_dir in find_run_dirs(sweep_dir)]


def write_summary(sweep_dir: Path, jobs: List[JobState]) -> Path:
    from stylometry.atomic import atomic_file

    path = sweep_dir / SUMMARY
    with atomic_file(path) as f:
        writer = csv.DictWriter(f, fieldnames=list(JobState.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(job) for job in jobs)
    return path


def format_table(jobs: List[JobState]) -> str:
    counts = {}
    for job in jobs:
        counts[job.state] = counts.get(job.state, 0) + 1
    lines = [f"{len(jobs)} jobs: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))]
    for job in jobs:
        progress = f"epoch {job.epoch}" if job.epoch is not None else ""
        if job.train_loss is not None:
            progress += f", train loss {job.train_loss:.4f}"
        if job.state == "running" and job.eta_s is not None:
            progress += f", ETA {job.eta_s / 60:.0f} min on {job.host} {job.device}"
        lines.append(f"  {job.state:<12} {job.run_dir}  {progress}  {job.detail}".rstrip())
    return "\n".join(lines)


class SweepSummary(Callback):
    """At the end of every sweep: each job's state, printed and written as <sweep dir>/summary.csv."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = sweep_states(sweep_dir)
        path = write_summary(sweep_dir, jobs)
        log.info("sweep summary (%s):\n%s", path, format_table(jobs))
