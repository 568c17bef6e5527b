"""Checkpoints that a crash cannot half-write, and that load no code.

    <run dir>/checkpoint/        config.json, model.safetensors (GPT2LMHeadModel.from_pretrained loads it),
                                 training_state.pt (optimizer, loop state, RNG states; tensors and plain data only)
    <run dir>/checkpoint.prev/   the one before it, so one bad write costs one epoch, not the run
    <run dir>/checkpoint.best/   with cadence.keep_best: config.json, model.safetensors and best.json
                                 (step, epoch, evaluation set, loss) of the lowest validation loss so far

A save writes `checkpoint.tmp/` whole, then renames: the previous checkpoint becomes `.prev`, the
new one becomes `checkpoint/`. Every rename is atomic, so at any instant `checkpoint/` (or, between
the two renames, `checkpoint.prev/`) is a whole checkpoint. `checkpoint.best/` is replaced the same
way, through `checkpoint.best.tmp/` and `checkpoint.best.old/`.
"""

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import torch
from safetensors.torch import load_file

from stylometry.config.schema import BACKGROUND, SCRATCH, ConfigError, TrainConfig, first_line
from stylometry.runs.layout import (
    BEST,
    BEST_INFO,
    BEST_OLD,
    BEST_WRITING,
    CHECKPOINT,
    PREVIOUS,
    TRAINING_STATE,
    WEIGHTS,
    WRITING,
)
from stylometry.runs.metrics import MetricRow


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read; the message says which file and what to do."""


class RunMismatch(ConfigError):
    """The run dir holds a run of another identity: refused, and the run dir is left as it was."""


# What makes a run this run: resuming it under other values would silently mix two experiments.
# Left out on purpose: paths, device, batch sizes for evaluation, and the stop criteria (extending
# a finished run's training is a legitimate change). `corpus` is the hash of the files the job read.
# Keys added after the study's runs began are left out at the defaults they had then, so those runs still resume.
_LATER_KEYS = {
    "data": {
        "kind": "corpus",
        "name": "text",
        "files": [],
        "val_split": "fraction",
        "val_fraction": 0.1,
        "val_files": [],
        "eval_stride": None,
    },
    "optimizer": {"batch_tokens": None},
}


def run_identity(cfg: TrainConfig, files_sha256: str, start_sha256: Optional[str] = None) -> Dict:
    """The identity of a run whose data.authors and data.n_train_tokens are resolved (data.splits.resolved_config);
    start_sha256: the hash of the weights it starts from (init=pretrained or background; None: from scratch), so a
    retrained background makes the runs that started from the old one refuse."""
    data = dataclasses.asdict(cfg.data)
    # max_train_tokens: only a bound on n_train_tokens, which the identity holds as resolved.
    for key in ("root", "tokenizer", "cache_dir", "eval_batch_size", "not_authors", "max_train_tokens"):
        data.pop(key, None)
    if cfg.data.kind == "corpus":
        # Before data=corpus and data=text had a schema each, the study's runs recorded the shared schema's
        # text-only `name` (as "corpus") and `authors` of text runs ([]): kept, so that those runs still resume.
        data["name"] = "corpus"
    else:
        data["authors"] = []
    variant = dataclasses.asdict(cfg.variant)
    variant.pop("nltk_data")
    identity = {
        "seed": cfg.seed,
        "author": dataclasses.asdict(cfg.author) if cfg.author is not None else None,
        "model": dataclasses.asdict(cfg.model),
        "data": data,
        "optimizer": dataclasses.asdict(cfg.optimizer),
        "variant": variant,
        "corpus": files_sha256,
    }
    if start_sha256 is not None:  # runs from scratch (all runs before init existed) keep the identity they had
        identity["init"] = {"name": cfg.init.name, "weights_sha256": start_sha256}
    for group, defaults in _LATER_KEYS.items():
        for key, default in defaults.items():
            if key in identity[group] and identity[group][key] == default:
                identity[group].pop(key)
    return identity


def config_sha256(identity: Dict) -> str:
    """A hash of what every run of one study shares: the identity but its seed, author and files (and, with
    init=background, which background: each seed has its own)."""
    shared = {key: value for key, value in identity.items() if key not in ("seed", "author", "corpus")}
    if shared.get("init", {}).get("name") == BACKGROUND:
        shared["init"] = {"name": BACKGROUND}
    return hashlib.sha256(json.dumps(shared, sort_keys=True).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class TrainingState:
    """What training_state.pt holds beside the weights: who the run is, where it stands, and the states that let
    it go on exactly (optimizer, loss scaler, window and dropout RNGs)."""

    identity: Dict  # what makes the run this run (run_identity)
    epoch: int  # epochs completed
    step: int  # optimizer steps taken
    train_seconds: float
    train_loss: Optional[float]  # the last completed epoch's mean training loss
    best_loss: Optional[float]  # the lowest loss on the best set so far (checkpoint.best/)
    in_epoch: Optional[Dict]  # the epoch in progress (window RNG before its draw, batches done, NLL, tokens)
    metric_rows: List[MetricRow]  # the checkpoint's epoch's rows, written again on resume
    metrics_from: int  # the epoch whose rows (and later ones) a resume drops from metrics.csv
    optimizer: Dict
    scaler: Dict
    window_rng: Dict
    torch_rng: torch.Tensor  # rank 0's CPU RNG state
    cuda_rng: Optional[torch.Tensor]  # rank 0's CUDA RNG state, on a GPU
    rank_rng: Optional[List[Dict]]  # each process's {"cpu", "cuda"} RNG states, with more than one

    def payload(self) -> Dict:
        """The file's content: tensors and plain data only, so that it loads with weights_only."""
        saved = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        saved["metric_rows"] = [row.fields() for row in self.metric_rows]
        return saved

    @classmethod
    def from_payload(cls, saved: Dict) -> "TrainingState":
        """Also of checkpoints written before `best_loss`, `metrics_from` or `cuda_rng` were saved (their defaults)."""
        older = {"best_loss": None, "in_epoch": None, "cuda_rng": None, "rank_rng": None}
        values = {**older, "metrics_from": saved["epoch"], **saved}
        values["metric_rows"] = [MetricRow.from_fields(row) for row in saved["metric_rows"]]
        return cls(**{field.name: values[field.name] for field in dataclasses.fields(cls)})


def read_training_state(path: Path, mmap: bool = False) -> TrainingState:
    """A checkpoint's training state (identity, loop state, optimizer, RNG states), or a CheckpointError.

    mmap: the tensors (the optimizer's state, the bulk of the file) are mapped, not read, for a reader that wants
    only the run's identity and where it stands (stylometry/runs/decision.py)."""
    state_file = path / TRAINING_STATE
    try:
        # weights_only: a training state holds tensors and plain data; never unpickle objects from disk.
        return TrainingState.from_payload(torch.load(state_file, map_location="cpu", weights_only=True, mmap=mmap))
    except Exception as error:
        raise _unreadable(state_file, error) from None


def save_checkpoint(run_dir: Path, model, training_state: TrainingState) -> None:
    def write(scratch: Path) -> None:
        model.save_pretrained(scratch)
        torch.save(training_state.payload(), scratch / TRAINING_STATE)

    _replace_whole(run_dir, WRITING, CHECKPOINT, PREVIOUS, write)


def save_best(run_dir: Path, model, info: dict) -> None:
    """Replaces checkpoint.best/ with the model's weights; at any instant .best/ or .best.old/ is whole."""

    def write(scratch: Path) -> None:
        model.save_pretrained(scratch)
        (scratch / BEST_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")

    _replace_whole(run_dir, BEST_WRITING, BEST, BEST_OLD, write)
    shutil.rmtree(run_dir / BEST_OLD, ignore_errors=True)  # only the one best is kept


def _replace_whole(run_dir: Path, scratch_name: str, current_name: str, previous_name: str, write) -> None:
    """write(scratch) fills a fresh scratch dir, which is synced, then renamed over `current` (kept as `previous`)."""
    scratch, current, previous = run_dir / scratch_name, run_dir / current_name, run_dir / previous_name
    shutil.rmtree(scratch, ignore_errors=True)
    write(scratch)
    for path in scratch.iterdir():
        _fsync(path)
    _fsync(scratch)
    if current.exists():
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(current, previous)
    os.replace(scratch, current)
    _fsync(run_dir)


def restore_best(run_dir: Path) -> None:
    """After a kill between save_best's two renames, the previous best comes back under its name."""
    if not (run_dir / BEST).is_dir() and (run_dir / BEST_OLD).is_dir():
        os.replace(run_dir / BEST_OLD, run_dir / BEST)


def load_checkpoint(path: Path, model, optimizer, identity: dict) -> TrainingState:
    """Loads weights and optimizer state in place; returns the training state (loop state, RNG states).

    `identity` is what makes the run this run (seed, model, data, ...): a checkpoint of another
    run is refused before anything is loaded, so two experiments are never silently mixed.
    """
    weights_file, state_file = path / WEIGHTS, path / TRAINING_STATE
    state = read_training_state(path)
    check_same_run(state.identity, identity, path.parent)
    try:
        weights = load_file(weights_file)
        tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if set(missing) - tied or unexpected:
            raise ValueError(
                f"weights do not fit the model (missing {sorted(set(missing) - tied)[:3]}, unexpected {unexpected[:3]})"
            )
    except Exception as error:
        raise _unreadable(weights_file, error) from None
    try:
        optimizer.load_state_dict(state.optimizer)
    except Exception as error:
        raise _unreadable(state_file, error) from None
    return state


def check_same_run(saved: dict, current: dict, run_dir: Path) -> None:
    """Raises RunMismatch naming the first setting that differs. A group the saved identity lacks is one added
    after that run began (e.g. `corpus`), so it is not compared."""
    saved = {"init": {"name": SCRATCH}, **saved} if "init" in current else saved  # no init saved: from scratch
    for group, values in current.items():
        if group not in saved:
            continue
        old = saved[group]
        if old == values:
            continue
        if group == "init":
            raise RunMismatch(
                f"{run_dir} holds a run that started from other weights ({_start_words(old)}, not "
                f"{_start_words(values)}): its background model or pretrained folder has changed; delete that dir to "
                "train it from the new one, or use another hydra.run.dir"
            )
        if isinstance(values, dict) and isinstance(old, dict):
            key = next(k for k in values if values.get(k) != old.get(k))
            group, old, values = f"{group}.{key}", old.get(key), values[key]
        if group == "corpus":
            group, old, values = "corpus files (hash)", old[:12], values[:12]
        raise RunMismatch(
            f"{run_dir} holds a run with {group}={old}, not {values}: use another hydra.run.dir, "
            "or delete that dir to start over"
        )


def _start_words(init: dict) -> str:
    sha = init.get("weights_sha256")
    return f"init={init['name']}" + (f", weights {sha[:12]}" if sha else "")


def _unreadable(file: Path, error: Exception) -> CheckpointError:
    run_dir = file.parent.parent
    fallback = (
        f"move {file.parent.name}/ aside to resume from {PREVIOUS}/"
        if file.parent.name == CHECKPOINT and (run_dir / PREVIOUS).is_dir()
        else "delete the run dir to start over"
    )
    reason = first_line(error)
    return CheckpointError(f"{file} is unreadable ({reason}): {fallback}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
