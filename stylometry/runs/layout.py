"""What a job writes into its run dir besides checkpoints, so a sweep can be read from disk alone.

metrics.csv     epoch,dataset,loss,tokens,seconds: one row per (epoch, evaluation set) (stylometry/runs/metrics.py)
status.json     state (running | complete | failed | paused), identity, epoch, latest losses, ETA,
                host, device: rewritten atomically every epoch, a heartbeat
manifest.json   versions, device, git commit, the corpus files' hash, the held-out books
config.yaml     the run's typed config with every value resolved (no ${...}): what its weights were trained with
.lock           held (flock) by the one process that runs this dir
"""

import fcntl
import json
import socket
from pathlib import Path
from typing import Dict, Optional

from stylometry.files.atomic import atomic_file

METRICS, STATUS, MANIFEST, LOCK = "metrics.csv", "status.json", "manifest.json", ".lock"
# The checkpoint folders (written by stylometry/runs/checkpoint.py), named here so that commands that only look for them
# (status, sweep, generate) need not import torch.
CHECKPOINT, PREVIOUS, WRITING = "checkpoint", "checkpoint.prev", "checkpoint.tmp"  # WRITING: a save under way
BEST, BEST_WRITING, BEST_OLD = "checkpoint.best", "checkpoint.best.tmp", "checkpoint.best.old"
WEIGHTS, TRAINING_STATE, BEST_INFO = "model.safetensors", "training_state.pt", "best.json"
RUN_CONFIG, HYDRA_CONFIG, HYDRA_RUNTIME = "config.yaml", Path(".hydra") / "config.yaml", Path(".hydra") / "hydra.yaml"
TRAIN_LOG = "train.log"  # the job's log lines (Hydra's job logging: <hydra.job.name>.log, the job being `train`)
HYDRA_OVERRIDES = Path(".hydra") / "overrides.yaml"


def run_dir_tail(variant: str, run_name: str, seed) -> str:
    """`<variant>/<author or data.name>/seed=<seed>`: how every run dir ends (conf/train.yaml's hydra.run.dir and
    hydra.sweep.subdir), the job's name in its log lines."""
    return f"{variant}/{run_name}/seed={seed}"


RUN_DIR_PATTERN = f"<study>/<experiment>/{run_dir_tail('<variant>', '<author>', '<seed>')}"  # below outputs/, multirun/


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


def write_run_config(run_dir: Path, cfg) -> None:
    """<run dir>/config.yaml: the typed TrainConfig, every interpolation resolved."""
    from omegaconf import OmegaConf

    with atomic_file(run_dir / RUN_CONFIG) as f:
        f.write(OmegaConf.to_yaml(OmegaConf.structured(cfg), resolve=True))


def read_saved_config(run_dir: Path) -> Optional[Dict]:
    """The run's config as saved, interpolations left as they are (no schema, no torch): config.yaml, or Hydra's
    .hydra/config.yaml for runs older than it; None where neither is there."""
    import yaml

    path = run_dir / RUN_CONFIG if (run_dir / RUN_CONFIG).exists() else run_dir / HYDRA_CONFIG
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else None


def read_run_config(run_dir: Path, name: str = RUN_CONFIG):
    """The run's TrainConfig: from config.yaml (or `name`: an export's copy of it), or for runs older than it from
    Hydra's .hydra/config.yaml (whose ${oc.env:...} values are then resolved in this environment)."""
    from omegaconf import OmegaConf

    from stylometry.config.schema import (
        CorpusDataConfig,
        TextDataConfig,
        TrainConfig,
        register_resolvers,
        to_run_config,
    )

    register_resolvers()  # the ones an unresolved .hydra/config.yaml may use (the ConfigStore's schema: 12 ms more)

    path = run_dir / name if (run_dir / name).exists() else run_dir / HYDRA_CONFIG
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} holds no {name} or {HYDRA_CONFIG}: it is not a run dir")
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


def hydra_record(job_config, hydra_config) -> Dict[Path, object]:
    """Hydra's record of a job, as Hydra would write it: the job's config, Hydra's own, and the command's overrides."""
    from omegaconf import OmegaConf

    return {
        HYDRA_CONFIG: job_config,
        HYDRA_RUNTIME: OmegaConf.create({"hydra": hydra_config}),
        HYDRA_OVERRIDES: OmegaConf.create(list(hydra_config.overrides.task)),
    }


def write_hydra_files(run_dir: Path, record: Dict[Path, object]) -> None:
    """Hydra's record of the job (`hydra_record`), written by the trainer once the run dir is known to hold this run
    (conf/train.yaml sets hydra.output_subdir: null so Hydra writes none first)."""
    from omegaconf import OmegaConf

    (run_dir / HYDRA_CONFIG.parent).mkdir(exist_ok=True)
    for path, content in record.items():
        with atomic_file(run_dir / path) as f:
            f.write(OmegaConf.to_yaml(content))
