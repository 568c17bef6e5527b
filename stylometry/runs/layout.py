"""What a job writes into its run dir besides checkpoints, so a sweep can be read from disk alone.

metrics.csv     epoch,dataset,loss,tokens,seconds: one row per (epoch, evaluation set), appended;
                `train` is the epoch's mean training loss; epoch 0 is before any training
status.json     state (running | complete | failed | paused), identity, epoch, latest losses, ETA,
                host, device: rewritten atomically every epoch, a heartbeat
manifest.json   versions, device, git commit, the corpus files' hash, the held-out books
config.yaml     the run's typed config with every value resolved (no ${...}): what its weights were trained with
.lock           held (flock) by the one process that runs this dir
"""

import fcntl
import json
import platform
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from stylometry.files.atomic import atomic_file
from stylometry.files.csvlog import CsvLog

METRICS, STATUS, MANIFEST, LOCK = "metrics.csv", "status.json", "manifest.json", ".lock"
# The checkpoint folders (written by stylometry/runs/checkpoint.py), named here so that commands that only look for them
# (status, sweep, generate) need not import torch.
CHECKPOINT, PREVIOUS, SCRATCH = "checkpoint", "checkpoint.prev", "checkpoint.tmp"
BEST, BEST_SCRATCH, BEST_OLD = "checkpoint.best", "checkpoint.best.tmp", "checkpoint.best.old"
WEIGHTS, TRAINING_STATE, BEST_INFO = "model.safetensors", "training_state.pt", "best.json"
RUN_CONFIG, HYDRA_CONFIG = "config.yaml", Path(".hydra") / "config.yaml"
METRIC_FIELDS = ["epoch", "dataset", "loss", "tokens", "seconds"]


def latest_checkpoint(run_dir: Path) -> Optional[Path]:
    """checkpoint/, or checkpoint.prev/ between a save's two renames; None before the first save."""
    for name in (CHECKPOINT, PREVIOUS):
        if (run_dir / name).is_dir():
            return run_dir / name
    return None


class RunDirBusy(RuntimeError):
    pass


def lock_run_dir(run_dir: Path):
    """An exclusive lock held until the process exits (a kill releases it too): one job per dir."""
    handle = open(run_dir / LOCK, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RunDirBusy(f"{run_dir} is in use by another process (see {STATUS}); wait for it or stop it") from None
    return handle


def _metrics(run_dir: Path) -> CsvLog:
    whole = lambda row: all(row.get(key) for key in METRIC_FIELDS) and row["epoch"].isdigit()  # noqa: E731
    return CsvLog(run_dir / METRICS, METRIC_FIELDS, whole)


def append_metrics(run_dir: Path, rows: Iterable[Dict]) -> None:
    _metrics(run_dir).append(rows)


def read_metrics(run_dir: Path) -> List[Dict]:
    return _metrics(run_dir).read()


def keep_metrics_before(run_dir: Path, epoch: int) -> None:
    """Drops the rows of `epoch` and later (written after the checkpoint a resume starts from)."""
    _metrics(run_dir).keep(lambda row: int(row["epoch"]) < epoch)


def write_json(path: Path, data: Dict) -> None:
    with atomic_file(path) as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


def read_json(path: Path) -> Optional[Dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def host() -> str:
    return socket.gethostname()


def manifest(device_name: str, corpus_sha256: str, extra: Dict) -> Dict:
    import numpy
    import torch
    import transformers

    from stylometry import __version__

    return {
        "stylometry": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
        "device": device_name,
        "host": host(),
        "git_commit": _git_commit(),
        "corpus_sha256": corpus_sha256,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }


def _git_commit() -> Optional[str]:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def write_run_config(run_dir: Path, cfg) -> None:
    """<run dir>/config.yaml: the typed TrainConfig, every interpolation resolved."""
    from omegaconf import OmegaConf

    with atomic_file(run_dir / RUN_CONFIG) as f:
        f.write(OmegaConf.to_yaml(OmegaConf.structured(cfg), resolve=True))


def read_run_config(run_dir: Path):
    """The run's TrainConfig: from config.yaml, or for runs older than it from Hydra's .hydra/config.yaml
    (whose ${oc.env:...} values are then resolved in this environment)."""
    from omegaconf import OmegaConf

    from stylometry.config.schema import (
        CorpusDataConfig,
        TextDataConfig,
        TrainConfig,
        register_resolvers,
        to_run_config,
    )

    register_resolvers()  # the ones an unresolved .hydra/config.yaml may use (the ConfigStore's schema: 12 ms more)

    path = run_dir / RUN_CONFIG if (run_dir / RUN_CONFIG).exists() else run_dir / HYDRA_CONFIG
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} holds no {RUN_CONFIG} or {HYDRA_CONFIG}: it is not a run dir")
    saved = OmegaConf.to_container(OmegaConf.load(path))
    # The cadence group was named `schedule` (a word the learning rate's shape, optimizer.schedule, also uses);
    # runs from before that group kept the cadence of evaluations and checkpoints in stop_criteria.
    if "schedule" in saved and "cadence" not in saved:
        saved["cadence"] = saved.pop("schedule")
    stop, cadence = saved.get("stop_criteria") or {}, saved.setdefault("cadence", {})
    saved.setdefault("study", "${folder_name:${data.root}}")  # runs from before the study level of the run dirs
    # The data's own schema (corpus or text); runs from before it had one schema for both, whose other keys go.
    schema = CorpusDataConfig if (saved.get("data") or {}).get("kind", "corpus") == "corpus" else TextDataConfig
    saved["data"] = {
        key: value for key, value in (saved.get("data") or {}).items() if key in schema.__dataclass_fields__
    }
    for key in CADENCE_KEYS_BEFORE:
        if key in stop:
            cadence.setdefault(key, stop.pop(key))
    base = OmegaConf.structured(TrainConfig)
    base.data = OmegaConf.structured(schema)
    return to_run_config(OmegaConf.merge(base, saved))


CADENCE_KEYS_BEFORE = (
    "eval_every",
    "eval_at_start",
    "checkpoint_every",
    "eval_every_steps",
    "checkpoint_every_steps",
    "keep_best",
)


def write_hydra_files(run_dir: Path, files: Dict) -> None:
    """Hydra's record of the job (.hydra/config.yaml, hydra.yaml, overrides.yaml), written by the trainer once the
    run dir is known to hold this run (conf/train.yaml sets hydra.output_subdir: null so Hydra writes none first)."""
    from omegaconf import OmegaConf

    folder = run_dir / HYDRA_CONFIG.parent
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        with atomic_file(folder / name) as f:
            f.write(OmegaConf.to_yaml(content))
