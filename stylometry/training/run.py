"""A job's run, built once before its first step: its inputs read and checked, what its run dir needs decided,
and its moving parts (the model, AdamW, the loss module DDP runs, the gradient scaler, the window RNG).

    python -m stylometry.train author=baum seed=0    # stylometry/training/loop.py: train() opens the run here

The benchmark builds one too (build_run), to time the loop's own step.
"""

import dataclasses
import logging
import time
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from stylometry.config.schema import TrainConfig
from stylometry.data.splits import VALIDATION, WINDOW_STREAM, load_job_data, resolved_config
from stylometry.data.tokenizer import load_tokenizer, tokenizer_record
from stylometry.data.tokens import BookReader
from stylometry.data.windows import eval_windows
from stylometry.hardware import distributed
from stylometry.hardware.device import Placement
from stylometry.hardware.distributed import World
from stylometry.model.gpt import build_model, maybe_compile, nll_sum, optimizer_options
from stylometry.model.starting_weights import load_starting_weights, weights_sha256
from stylometry.runs.background_run import starting_weights
from stylometry.runs.checkpoint import config_sha256, run_identity
from stylometry.runs.decision import EXTEND, REFUSE, SKIP, START, Decision, decide
from stylometry.runs.manifest import build_manifest
from stylometry.runs.scalars import ScalarLogger
from stylometry.runs.status import job_record
from stylometry.training.progress import rank_seed

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Inputs:
    """What a job reads before anything is built: its data, as tokens on the device and evaluation windows."""

    data: object  # StudyData or TextData (stylometry/data/splits.py)
    train_tokens: torch.Tensor
    eval_sets: Dict


class _Loss(torch.nn.Module):
    """(summed NLL, predicted tokens) of a batch: the model and its loss as the module DDP runs."""

    def __init__(self, model, loss_fn):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, input_ids, labels):
        return self.loss_fn(self.model, input_ids, labels)


@dataclasses.dataclass
class Run:
    """One job's moving parts, built once; every helper of the loop takes this and what it changes."""

    cfg: TrainConfig  # data.authors and data.n_train_tokens resolved
    run_dir: Path
    placement: Placement
    world: World
    inputs: Inputs
    model: torch.nn.Module
    trained: torch.nn.Module  # the loss module that DDP (if any) runs
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    window_rng: np.random.Generator
    identity: Dict = dataclasses.field(default_factory=dict)  # what makes the run this run (runs/checkpoint.py)
    job: Dict = dataclasses.field(default_factory=dict)  # who the run is, for its status (runs/status.py)
    decision: Decision = Decision(START)  # what its run dir needed (stylometry/runs/decision.py)
    logger: Optional[ScalarLogger] = None
    started: float = dataclasses.field(default_factory=time.time)

    @property
    def device(self) -> torch.device:
        return torch.device(self.placement.device)

    @property
    def best_set(self) -> str:  # the evaluation set whose lowest loss checkpoint.best/ keeps
        return VALIDATION if self.cfg.data.kind == "text" else self.cfg.author.name


def open_run(cfg: TrainConfig, run_dir: Path, placement: Placement, world: World) -> Optional[Run]:
    """Reads the inputs (a ConfigError for bad ones) and decides what the run dir needs (decide), changing nothing
    in it: the refusal's error for a run of another identity (RunMismatch) or an unreadable checkpoint; None for a
    complete run with nothing left to train; else the built run, to extend, resume or start."""
    cfg, start = starting_weights(cfg, run_dir)  # stylometry/runs/background_run.py
    inputs = _load_inputs(cfg, placement, world)
    cfg = resolved_config(cfg, inputs.data)
    identity = run_identity(cfg, inputs.data.files_sha256, weights_sha256(start) if start else None)
    decision = decide(run_dir, cfg.stop_criteria, identity)
    if decision.action == REFUSE:
        raise decision.error
    if decision.action == SKIP:
        log.info("%s is %s: nothing to train", run_dir, decision.reason)
        return None
    if decision.action == EXTEND:
        log.info("%s is %s; the stop criteria now ask for more: training on", run_dir, decision.reason)
    run = build_run(cfg, run_dir, placement, world, inputs, start)
    run.identity, run.decision = identity, decision
    run.job = job_record(cfg, inputs.data.corpus_sha256, config_sha256(identity))
    return run


def build_run(
    cfg: TrainConfig, run_dir: Path, placement: Placement, world: World, inputs: Inputs, start: Optional[Path] = None
) -> Run:
    """The model (seeded, or from the weights in `start`), AdamW, the loss module DDP runs, the gradient scaler and
    the window RNG (the benchmark builds one too, to time `train_step`)."""
    device = torch.device(placement.device)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model)
    if start is not None:
        load_starting_weights(model, start)
    model = model.to(device)
    opt = cfg.optimizer
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=opt.lr,
        betas=(opt.beta1, opt.beta2),
        eps=opt.eps,
        weight_decay=opt.weight_decay,
        **optimizer_options(device.type),  # fused: one kernel over every parameter (CUDA and CPU)
    )
    # The loss as a module, so that DDP's forward (which prepares the gradient all-reduce) runs it.
    trained = distributed.wrap(_Loss(model, maybe_compile(nll_sum, cfg.device.compile, device.type)), world, placement)
    if world.rank:
        torch.manual_seed(rank_seed(cfg.seed, world.rank, 0))  # its own dropout draws; the weights are rank 0's
    return Run(
        cfg,
        run_dir,
        placement,
        world,
        inputs,
        model,
        trained,
        optimizer,
        torch.amp.GradScaler(device.type, enabled=placement.uses_grad_scaler),
        np.random.default_rng([cfg.seed, WINDOW_STREAM]),
    )


def _load_inputs(cfg: TrainConfig, placement: Placement, world: World) -> Inputs:
    """The job's data, checked (stylometry/data/splits.py: load_job_data; a ConfigError naming what to fix), its
    training tokens on the device and its evaluation windows."""
    data = load_job_data(cfg, BookReader.of_run(cfg, load_tokenizer(cfg.data.tokenizer)), world.size)
    # int32: half the memory of int64 for a big corpus; a batch's ids become int64 when it is cut out.
    train_tokens = torch.from_numpy(data.train_tokens.astype(np.int32)).to(placement.device)
    n_positions, stride = cfg.model.n_positions, cfg.data.eval_stride
    eval_sets = {name: eval_windows(texts, n_positions, stride) for name, texts in data.eval_texts.items()}
    return Inputs(data, train_tokens, eval_sets)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def manifest(run: Run) -> Dict:
    """The run's manifest (stylometry/runs/manifest.py): versions, device, the corpus and the files read, the
    tokenizer, precision and processes."""
    cfg = run.cfg
    return build_manifest(
        _device_name(run.device),
        run.inputs.data.corpus_sha256,
        {
            **run.inputs.data.manifest(),
            "files_sha256": run.inputs.data.files_sha256,
            "corpus_root": str(Path(cfg.data.root).expanduser().resolve()),
            "tokenizer": tokenizer_record(cfg.data.tokenizer),
            "precision": run.placement.precision,
            "processes": run.world.size,
        },
    )
