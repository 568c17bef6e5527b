"""A sweep read from its run dirs alone: which jobs are complete, running, failed, unfinished or not started.

    python -m stylometry.status multirun/corpus/paper          # any time, no scheduler needed
    <sweep dir>/summary.csv                                    # written at the end of every sweep

Every job writes `status.json` into its own dir (the heartbeat), so the state of a sweep of any
launcher, on any machine that sees the dirs, is a walk over the tree. The jobs that have not started have no
dir yet: Hydra's `multirun.yaml` in the sweep dir records the sweep's command, which is expanded into its jobs
(as `status --plan` expands one) to list them too. Without that record (or where its command does not compose
here) the sweep's jobs are those found on disk. No torch: `status` answers in a second or two.
"""

import csv
import logging
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from stylometry.config.schema import ConfigError
from stylometry.runs.layout import LOCK, METRICS, STATUS, TRAIN_LOG, host, latest_checkpoint
from stylometry.runs.status import FAILED, INTERRUPTED, NOT_STARTED, RUNNING, read_status

log = logging.getLogger(__name__)

SUMMARY = "summary.csv"
MULTIRUN = "multirun.yaml"  # Hydra's record of a sweep, in its sweep dir: hydra.overrides holds its command
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
    epoch: int | None = None
    train_loss: float | None = None
    eta_s: float | None = None
    host: str = ""
    device: str = ""
    detail: str = ""  # a failure's first line and where its log is; why a job is unfinished


def find_run_dirs(sweep_dir: Path) -> list[Path]:
    """Job dirs below sweep_dir: those Hydra made (`.hydra/`) or the trainer wrote into."""
    found = set()
    for marker in (".hydra", STATUS, METRICS, LOCK):
        for path in sweep_dir.rglob(marker):
            if ".submitit" not in path.parts:
                found.add(path.parent)
    return sorted(found)


def job_state(run_dir: Path) -> JobState:
    status = read_status(run_dir)
    if status is None:
        checkpoint = latest_checkpoint(run_dir)
        return JobState(
            str(run_dir),
            INTERRUPTED if checkpoint else NOT_STARTED,
            detail="checkpoint found: the same command resumes it" if checkpoint else "",
        )
    state = status.get("state", "unknown")
    job = JobState(
        run_dir=str(run_dir),
        state=state,
        experiment=str(status.get("experiment", "")),
        variant=str(status.get("variant", "")),
        author=str(status.get("author", "")),
        seed=str(status.get("seed", "")),
        epoch=status.get("epoch"),
        train_loss=(status.get("losses") or {}).get("train"),
        eta_s=status.get("eta_s"),
        host=str(status.get("host", "")),
        device=str(status.get("device", "")),
        detail=status.get("reason") or "",
    )
    if state == FAILED:
        job.detail = f"{job.detail} (log: {run_dir / TRAIN_LOG}; traceback in {STATUS})"
    elif state == RUNNING and not _alive(status):
        job.state, job.detail = INTERRUPTED, "its process is gone: the same command resumes it"
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


def sweep_states(sweep_dir: Path) -> list[JobState]:
    """Every job below sweep_dir: those found on disk, and those its sweeps' records name that have no dir yet."""
    jobs = [job_state(run_dir) for run_dir in find_run_dirs(sweep_dir)]
    found = {Path(job.run_dir).resolve() for job in jobs}
    jobs += [job for job in planned_jobs(sweep_dir) if Path(job.run_dir).resolve() not in found]
    return sorted(jobs, key=lambda job: Path(job.run_dir))


def planned_jobs(sweep_dir: Path) -> list[JobState]:
    """The jobs of every sweep below sweep_dir whose multirun.yaml records a command that composes here, each
    `not started`; a record that does not compose here (e.g. authors of a corpus on another machine) adds none."""
    jobs = []
    for record in sorted(sweep_dir.rglob(MULTIRUN)):
        try:
            jobs += [
                JobState(
                    str(job.run_dir),
                    NOT_STARTED,
                    experiment=job.config.experiment_name,
                    variant=job.config.variant.name,
                    author=str(job.config.run_name),
                    seed=str(job.config.seed),
                )
                for job in sweep_jobs(record)
            ]
        except (ConfigError, OSError, ValueError, AttributeError, yaml.YAMLError):
            continue  # AttributeError: a YAML without hydra.overrides
    return jobs


def sweep_jobs(record: Path) -> list:
    """The jobs (stylometry.config.compose.Job) of the sweep whose Hydra multirun.yaml is `record`, their run dirs
    below the folder it is in now (the sweep dir as recorded may have been moved or named relatively)."""
    from omegaconf import OmegaConf

    from stylometry.config.compose import compose_jobs, override_key
    from stylometry.data.authors import prepare_overrides

    overrides = OmegaConf.load(record).hydra.overrides
    kept = [
        str(override)
        for override in [*overrides.task, *overrides.hydra]
        if not override_key(str(override)).startswith(("hydra.sweep.dir", "hydra/launcher", "hydra.launcher"))
    ]
    if "'" in str(record.parent):
        raise ValueError(f"{record.parent}: a sweep dir with a quote is not expanded")
    return compose_jobs(prepare_overrides([*kept, f"hydra.sweep.dir='{record.parent}'"]), multirun=True)


def write_summary(sweep_dir: Path, jobs: list[JobState]) -> Path:
    from stylometry.files.atomic import atomic_file

    path = sweep_dir / SUMMARY
    with atomic_file(path) as f:
        writer = csv.DictWriter(f, fieldnames=list(JobState.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(job) for job in jobs)
    return path


def format_table(jobs: list[JobState]) -> str:
    counts = {}
    for job in jobs:
        counts[job.state] = counts.get(job.state, 0) + 1
    lines = [f"{len(jobs)} jobs: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))]
    for job in jobs:
        progress = f"epoch {job.epoch}" if job.epoch is not None else ""
        if job.train_loss is not None:
            progress += f", train loss {job.train_loss:.4f}"
        if job.state == RUNNING and job.eta_s is not None:
            progress += f", ETA {job.eta_s / 60:.0f} min on {job.host} {job.device}"
        lines.append(f"  {job.state:<12} {job.run_dir}  {progress}  {job.detail}".rstrip())
    return "\n".join(lines)


class SweepSummary(Callback):
    """At the end of every sweep: each job's state, printed and written as <sweep dir>/summary.csv. During a sweep
    of a submitit local launcher (hydra/launcher=local or submitit_local), whose jobs write to files under
    .submitit/, the jobs' log lines on the terminal as they come, as the joblib launcher's workers print them."""

    def __init__(self) -> None:
        self.tail: LogTail | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "tail": None}  # the submitit launchers pickle Hydra's callbacks with every job

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if str(config.hydra.launcher.get("_target_", "")).endswith("submitit_launcher.LocalLauncher"):
            self.tail = LogTail(Path(config.hydra.sweep.dir), f"{config.hydra.job.name}.log")
            self.tail.start()

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if self.tail is not None:
            self.tail.stop()
            # submitit's local executor also makes its folder's template itself (an empty `.submitit/%j`).
            template = Path(str(config.hydra.launcher.submitit_folder))
            if "%" in template.name and template.is_dir() and not any(template.iterdir()):
                template.rmdir()
        log.info("%s", write_sweep_summary(Path(config.hydra.sweep.dir)))


def write_sweep_summary(sweep_dir: Path) -> str:
    """Writes <sweep dir>/summary.csv and returns its table as text, to print: at the end of a sweep (SweepSummary),
    or for a sweep every job of which is complete (stylometry/train.py launches none). The jobs are those found on
    disk: every job of the sweep has run by then, and expanding its command again would reset the Hydra state of
    the process the callback runs in."""
    jobs = [job_state(run_dir) for run_dir in find_run_dirs(sweep_dir)]
    path = write_summary(sweep_dir, jobs)
    return f"sweep summary ({path}):\n{format_table(jobs)}"


class LogTail(threading.Thread):
    """Prints the new lines of every job log (`train.log`) below a sweep dir, once a second, until stopped.
    Lines written before it started (a sweep run again) are not printed again."""

    def __init__(self, sweep_dir: Path, log_name: str, out: TextIO = sys.stdout, poll_seconds: float = 1.0):
        super().__init__(name="sweep log tail", daemon=True)
        self.sweep_dir, self.log_name, self.out, self.poll_seconds = sweep_dir, log_name, out, poll_seconds
        self.offsets = {path: path.stat().st_size for path in self._logs()}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.poll_seconds):
            self.print_new_lines()

    def stop(self) -> None:
        self.stopped.set()
        self.join()
        self.print_new_lines()

    def print_new_lines(self) -> None:
        for path in self._logs():
            offset = self.offsets.get(path, 0)
            try:
                with open(path, "rb") as f:
                    if os.fstat(f.fileno()).st_size < offset:
                        offset = 0  # a new log in the same place
                    f.seek(offset)
                    new = f.read()
            except OSError:
                continue  # removed meanwhile
            end = new.rfind(b"\n") + 1  # whole lines only: the rest is still being written
            if end:
                self.out.write(new[:end].decode("utf-8", errors="replace"))
                self.out.flush()
                self.offsets[path] = offset + end

    def _logs(self) -> list[Path]:
        return sorted(path for path in self.sweep_dir.rglob(self.log_name) if ".submitit" not in path.parts)
