"""A trained run loaded for scoring or sampling: which checkpoint, its model, and the tokenizer it trained with.

    python -m stylometry.attribute multirun/corpus/paper letter.txt --out attribution/letter   # every model's latest
    python -m stylometry.generate <run dir> prompt="..."                                     # the best, else latest

The checkpoint: `best` is checkpoint.best/ (the lowest validation loss) when the run has one, else the latest;
`latest` is checkpoint/, else checkpoint.prev/ (between a save's two renames). Each is checked to be whole (its
config.json and the weights' header) before it is used. A LoadError says what is wrong, and nothing more: the
command that asked says what to do about it (sample from another checkpoint, train the model again, ...).
"""

import json
import logging
from pathlib import Path
from typing import Optional

from safetensors import safe_open

from stylometry.config.schema import first_line
from stylometry.runs.layout import BEST, BEST_INFO, BEST_OLD, CHECKPOINT, PREVIOUS, WEIGHTS

log = logging.getLogger(__name__)

CHECKPOINT_FILES = ("config.json", WEIGHTS)
CHECKPOINT_NAMES = (BEST, BEST_OLD, CHECKPOINT, PREVIOUS)


class LoadError(ValueError):
    """A run, checkpoint or tokenizer that cannot be loaded; `path` is the one at fault."""

    def __init__(self, problem: str, path: Path):
        super().__init__(problem)
        self.path = path


def choose_checkpoint(run_dir: Path, which: str) -> Path:
    """The run's checkpoint dir to load (which: best or latest), checked to be whole."""
    if not run_dir.is_dir():
        raise LoadError(f"no run dir {run_dir}", run_dir)
    best = _first_dir(run_dir, BEST, BEST_OLD) if which == "best" else None
    if best:
        path = best
        _log_best_info(path)
    else:
        path = _first_dir(run_dir, CHECKPOINT, PREVIOUS)
        if path is None:
            raise LoadError(f"{run_dir} holds no checkpoint ({CHECKPOINT}/ or {PREVIOUS}/)", run_dir)
        if which == "best":
            log.info("no %s/ in %s: using the latest checkpoint", BEST, run_dir)
    for name in CHECKPOINT_FILES:
        if not (path / name).is_file():
            raise LoadError(f"{path} has no {name}", path)
    try:  # a write cut short, found in a second; from_pretrained checks the rest
        json.loads((path / "config.json").read_text())
        with safe_open(path / WEIGHTS, framework="numpy") as weights:  # its header, and that the file covers it
            weights.keys()
    except Exception as error:
        raise LoadError(f"{path} is unreadable ({first_line(error)})", path) from None
    return path


def _first_dir(run_dir: Path, *names: str) -> Optional[Path]:
    return next((run_dir / name for name in names if (run_dir / name).is_dir()), None)


def _log_best_info(path: Path) -> None:
    try:
        info = json.loads((path / BEST_INFO).read_text())
    except Exception:
        return  # a note only; the weights are what counts
    log.info("best checkpoint: %s", ", ".join(f"{key} {value}" for key, value in sorted(info.items())))


def load_model(path: Path, device: str):
    """The GPT-2 of a checkpoint dir, whole (no weight left at random), on `device`, in eval mode."""
    from transformers import GPT2LMHeadModel

    try:
        model, info = GPT2LMHeadModel.from_pretrained(path, output_loading_info=True)
    except Exception as error:
        raise LoadError(f"{path} is unreadable ({first_line(error)})", path) from None
    # from_pretrained fills weights it does not find with random ones and only warns: refuse instead.
    tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
    missing = set(info.get("missing_keys", ())) - tied
    wrong = missing | set(info.get("unexpected_keys", ())) | set(map(str, info.get("mismatched_keys", ())))
    if wrong:
        raise LoadError(f"{path} does not hold a whole GPT-2 ({sorted(wrong)[:3]})", path)
    return model.to(device).eval()


def run_tokenizer(run_dir: Path) -> str:
    """The run's tokenizer, found from here (stylometry/runs/manifest.py: run_inputs)."""
    from stylometry.runs.layout import read_run_config
    from stylometry.runs.manifest import run_inputs

    try:
        cfg = read_run_config(run_dir)
    except FileNotFoundError as error:
        raise LoadError(f"{first_line(error)}: nothing names its tokenizer", run_dir) from None
    except Exception as error:
        raise LoadError(f"the config of {run_dir} does not read ({first_line(error)})", run_dir) from None
    return run_inputs(run_dir, cfg).tokenizer
