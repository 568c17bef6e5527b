"""manifest.json, what a run read and where: versions, device, the corpus and its books, the tokenizer.

    <run dir>/manifest.json   versions (stylometry, python, torch, cuda, transformers, numpy), device, host,
                              git commit, corpus_sha256, corpus_root, files_sha256, tokenizer {name, path,
                              files_sha256}, precision, processes, and a corpus run's held_out_books and train_books

Written by the trainer when a run starts or resumes (`write_manifest`); read here alone (`read_manifest`), and with
it where a run's corpus and tokenizer are from here (`run_inputs`): the one answer `attribute`, `generate` and
`analyze --baselines` share.
"""

import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from stylometry.runs.layout import HYDRA_RUNTIME, MANIFEST, read_json, write_json


def build_manifest(device_name: str, corpus_sha256: str, extra: Dict) -> Dict:
    import numpy
    import torch
    import transformers

    from stylometry import __version__
    from stylometry.runs.layout import host

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


def write_manifest(run_dir: Path, manifest: Dict) -> None:
    write_json(run_dir / MANIFEST, manifest)


def read_manifest(run_dir: Path) -> Dict:
    """The run's manifest ({} where there is none or it cannot be read)."""
    return read_json(run_dir / MANIFEST) or {}


@dataclass(frozen=True)
class RunInputs:
    corpus_root: Optional[Path]  # None: not found from here
    tokenizer: str  # a folder found from here, else the name the run was configured with (a hub name)


def run_inputs(run_dir: Path, cfg) -> RunInputs:
    """Where the run's corpus and tokenizer are from here: the absolute folders its manifest recorded, else the
    configured ones, else those relative to where training ran (hydra.job.chdir=false: a relative folder was
    relative to its working dir). cfg: the run's TrainConfig (stylometry/runs/layout.py: read_run_config)."""
    manifest = read_manifest(run_dir)
    recorded = manifest.get("tokenizer") if isinstance(manifest.get("tokenizer"), dict) else {}
    train_cwd = _training_cwd(run_dir)
    root = _first_dir(manifest.get("corpus_root"), cfg.data.root, train_cwd)
    tokenizer = _first_dir(recorded.get("path"), cfg.data.tokenizer, train_cwd)
    return RunInputs(root, str(tokenizer) if tokenizer is not None else str(cfg.data.tokenizer))


def _first_dir(recorded: Optional[str], configured, train_cwd: Optional[str]) -> Optional[Path]:
    candidates = [recorded, configured]
    if train_cwd and configured and not Path(str(configured)).expanduser().is_absolute():
        candidates.append(str(Path(train_cwd) / str(configured)))
    for candidate in candidates:
        if candidate and Path(str(candidate)).expanduser().is_dir():
            return Path(str(candidate)).expanduser()
    return None


def _training_cwd(run_dir: Path) -> Optional[str]:
    """Hydra's record of the working dir training ran in (.hydra/hydra.yaml), if any."""
    from omegaconf import OmegaConf

    try:
        return str(OmegaConf.load(run_dir / HYDRA_RUNTIME).hydra.runtime.cwd)
    except Exception:
        return None
