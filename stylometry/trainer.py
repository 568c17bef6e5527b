"""The one training loop every job runs, whatever the launcher.

    python -m stylometry.train author=baum seed=0 experiment=smoke    # calls train() below

`train(cfg, run_dir)` starts, resumes or skips the run in `run_dir`, from what it finds there:
`status.json` says complete -> nothing to do; a checkpoint -> continue after its epoch (or, for a
mid-epoch checkpoint, after its step, in the same epoch's windows); nothing -> start. So a killed,
timed-out or requeued job is finished by running the same command again.

An epoch is len(training text) // n_positions windows at random offsets, in batches of
`data.batch_size` windows; an optimizer step takes `cfg.accumulation_steps` batches. Evaluations and
checkpoints come every N epochs and/or every N steps; `scalars.csv` (stylometry/logger.py) holds the
per-step scalars, `metrics.csv` the per-epoch rows.
"""

import dataclasses
import logging
import math
import os
import time
import traceback
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from transformers.utils import logging as transformers_logging

from stylometry import distributed
from stylometry.checkpoint import (
    check_same_run, config_sha256, latest_checkpoint, load_checkpoint, read_training_state, restore_best, run_identity,
    save_best, save_checkpoint,
)
from stylometry.config import ConfigError, OptimizerConfig, StopCriteriaConfig, TrainConfig
from stylometry.data import (
    VALIDATION, WINDOW_STREAM, BookReader, eval_windows, load_data, load_tokenizer, sample_offsets, tokenizer_record,
)
from stylometry.device import Placement, choose_placement, detect
from stylometry.distributed import World, current_world
from stylometry.logger import ScalarLogger, eval_scalars
from stylometry.model import build_model, maybe_compile, nll_sum, optimizer_options
from stylometry.rundir import (
    MANIFEST, STATUS, append_metrics, host, keep_metrics_before, lock_run_dir, manifest, read_json, read_metrics,
    write_hydra_files, write_json, write_run_config,
)
from stylometry.schedule import should_stop
from stylometry.variants import build_transform, transform_key

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    pass


@dataclasses.dataclass
class Progress:
    """Where the run stands: the loop state a checkpoint saves besides weights, optimizer and RNG states."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    train_seconds: float = 0.0
    train_loss: Optional[float] = None  # the last completed epoch's mean training loss
    best_loss: Optional[float] = None  # the lowest validation loss so far (checkpoint.best/)
    # The epoch in progress: the window RNG's state before its draw, batches done, NLL and tokens so far.
    in_epoch: Optional[Dict] = None

    @classmethod
    def from_checkpoint(cls, saved: Dict) -> "Progress":
        return cls(saved["epoch"], saved["step"], saved["train_seconds"], saved["train_loss"],
                   saved.get("best_loss"), saved.get("in_epoch"))


class _Loss(torch.nn.Module):
    """(summed NLL, predicted tokens) of a batch: the model and its loss as the module DDP runs."""

    def __init__(self, model, loss_fn):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, input_ids, labels):
        return self.loss_fn(self.model, input_ids, labels)


def train(cfg: TrainConfig, run_dir: Path, placement: Optional[Placement] = None, world: Optional[World] = None,
          record: Optional[Dict] = None) -> str:
    """Runs the job in run_dir to its end (or its wall-clock limit); returns its final state.

    In a data-parallel job every process calls this (stylometry/distributed.py); rank 0 alone writes.
    `record`: Hydra's files of this job (.hydra/config.yaml, ...), written once the run is known to be this one.
    """
    world = world or current_world()
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_run_dir(run_dir) if world.is_main else None  # noqa: F841 -- held until this process exits, a kill included
    started = time.time()
    transformers_logging.disable_progress_bar()  # one bar per checkpoint save would drown the epoch lines

    # Everything that can fail on bad input fails here, before the first step, and nothing in the run dir
    # changes until the run is known to be this run (a refused or finished run keeps every file as it was).
    placement = placement or choose_placement(cfg.device, detect())
    data, train_tokens, eval_sets = _load_inputs(cfg, placement, world)
    cfg = _resolved(cfg, data)
    identity = run_identity(cfg, data.files_sha256)
    checkpoint = latest_checkpoint(run_dir)
    saved = read_training_state(checkpoint) if checkpoint else None
    if saved is not None:
        check_same_run(saved["identity"], identity, run_dir)
    status = read_json(run_dir / STATUS) or {}
    if status.get("state") == "complete" and (
            saved is None or should_stop(cfg.stop_criteria, saved["epoch"], saved["train_loss"], saved["step"])):
        log.info("%s is complete (epoch %s): nothing to train", run_dir, status.get("epoch"))
        return "complete"
    if status.get("state") == "complete":
        log.info("%s is complete at epoch %s; the stop criteria now ask for more: training on", run_dir, saved["epoch"])
    try:
        return _train(cfg, run_dir, placement, world, data, train_tokens, eval_sets, identity, started, record)
    except Exception as error:
        if world.is_main:
            write_failed_status(run_dir, error, _status_identity(cfg))
        raise


def _train(cfg: TrainConfig, run_dir: Path, placement: Placement, world: World, data, train_tokens, eval_sets,
           identity: Dict, started: float, record: Optional[Dict]) -> str:
    if world.is_main:
        write_run_config(run_dir, cfg)
        if record:
            write_hydra_files(run_dir, record)
    device = torch.device(placement.device)
    n_positions, batch_size = cfg.model.n_positions, cfg.data.batch_size

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(device)
    opt = cfg.optimizer
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps, weight_decay=opt.weight_decay,
        **optimizer_options(device.type),  # fused: one kernel over every parameter (CUDA and CPU)
    )
    # The loss as a module, so that DDP's forward (which prepares the gradient all-reduce) runs it.
    trained = distributed.wrap(_Loss(model, maybe_compile(nll_sum, cfg.device.compile, device.type)), world, placement)
    scaler = torch.amp.GradScaler(device.type, enabled=placement.uses_grad_scaler)
    window_rng = np.random.default_rng([cfg.seed, WINDOW_STREAM])
    if world.rank:
        torch.manual_seed(_rank_seed(cfg.seed, world.rank, 0))  # its own dropout draws; the weights are rank 0's
    best_set = VALIDATION if cfg.data.kind == "text" else cfg.author.name
    job = _status_identity(cfg, data.corpus_sha256, identity)
    state, rows, logger = _start_or_resume(run_dir, cfg, world, placement, model, optimizer, scaler, window_rng, eval_sets,
                                           identity)
    if world.is_main:
        write_json(run_dir / STATUS, _status("running", job, cfg, placement, state, rows, None))
        write_json(run_dir / MANIFEST, manifest(
            _device_name(device), data.corpus_sha256,
            {**data.manifest(), "files_sha256": data.files_sha256,
             "corpus_root": str(Path(cfg.data.root).expanduser().resolve()), "tokenizer": tokenizer_record(cfg.data.tokenizer),
             "precision": placement.precision, "processes": world.size},
        ))

    stop, accum = cfg.stop_criteria, cfg.accumulation_steps
    window = torch.arange(n_positions, device=device)
    while not should_stop(stop, state.epoch, state.train_loss, state.step):
        epoch = state.epoch + 1
        if state.in_epoch is None:  # a new epoch (a mid-epoch checkpoint resumes the one it saved)
            state.in_epoch = {"window_rng": window_rng.bit_generator.state, "batches_done": 0, "nll": 0.0, "tokens": 0}
        window_rng.bit_generator.state = state.in_epoch["window_rng"]  # the epoch's windows, as first drawn
        batches = sample_offsets(len(train_tokens), n_positions, window_rng, world.size).to(device).split(batch_size)
        model.train()
        tick, epoch_seconds, resumed_tokens = time.time(), 0.0, state.in_epoch["tokens"]
        # Summed on the device (no sync per step); rank 0 carries a resumed epoch's sum.
        total_nll = torch.tensor(state.in_epoch["nll"] if world.is_main else 0.0, device=device)
        total_tokens = state.in_epoch["tokens"]
        for first in range(state.in_epoch["batches_done"], len(batches), accum):
            group = batches[first : first + accum]  # one optimizer step's batches
            step_nll, step_tokens = torch.zeros((), device=device), 0
            for i, offsets in enumerate(group):
                shard = offsets.tensor_split(world.size)[world.rank]  # this process's windows of the global batch
                input_ids = train_tokens[shard[:, None] + window].long()
                n_tokens = len(offsets) * (n_positions - 1)  # predicted tokens of the global batch
                with distributed.no_sync(trained, accumulating=i + 1 < len(group)):
                    with placement.autocast():
                        nll, _ = trained(input_ids, input_ids)
                    # The global batch's mean loss: DDP averages the processes' gradients, hence x world.size.
                    scaler.scale(nll / n_tokens * world.size / accum).backward()
                step_nll, step_tokens = step_nll + nll.detach().float(), step_tokens + n_tokens
            total_nll, total_tokens = total_nll + step_nll, total_tokens + step_tokens
            log_now = (state.step + 1) % cfg.logger.every_steps == 0
            lr, grad_norm = _optimizer_step(model, optimizer, scaler, opt, state.step, want_norm=log_now)
            state.step += 1
            state.in_epoch["batches_done"] = first + len(group)
            if log_now:
                logger.log(state.step, epoch, {"train/loss": distributed.all_sum(step_nll, world).item() / step_tokens,
                                               "train/lr": lr, "train/grad_norm": float(grad_norm)})
            if state.in_epoch["batches_done"] == len(batches) or _every(stop.max_steps, state.step):
                break  # the end of the epoch (or of the run), below
            # Mid-epoch evaluation and checkpoints, every N steps.
            out_of_time = stop.checkpoint_every_steps is not None and _out_of_time(stop, started, world, device)
            if _every(stop.eval_every_steps, state.step) or _every(stop.checkpoint_every_steps, state.step) or out_of_time:
                epoch_seconds, state.train_seconds = epoch_seconds + time.time() - tick, state.train_seconds + time.time() - tick
                if _every(stop.eval_every_steps, state.step):
                    _evaluate(model, eval_sets, cfg, placement, world, logger, run_dir, state, epoch, best_set)
                if _every(stop.checkpoint_every_steps, state.step) or out_of_time:
                    state.in_epoch.update(nll=distributed.all_sum(total_nll, world).item(), tokens=total_tokens)
                    _checkpoint(run_dir, world, model, optimizer, scaler, window_rng, identity, state, [], metrics_from=epoch)
                if out_of_time:
                    return _pause(run_dir, job, cfg, placement, world, state, logger)
                if world.is_main:
                    write_json(run_dir / STATUS, _status("running", job, cfg, placement, state, rows, _eta_seconds(stop, state)))
                tick = time.time()
        epoch_seconds, state.train_seconds = epoch_seconds + time.time() - tick, state.train_seconds + time.time() - tick
        state.epoch, state.in_epoch = epoch, None
        state.train_loss = distributed.all_sum(total_nll, world).item() / total_tokens
        if not math.isfinite(state.train_loss):
            raise TrainingDiverged(
                f"training loss is {state.train_loss} at epoch {epoch}; the last good checkpoint is in {latest_checkpoint(run_dir)}: "
                "lower optimizer.lr or set optimizer.grad_clip"
            )

        last = should_stop(stop, epoch, state.train_loss, state.step)
        out_of_time = _out_of_time(stop, started, world, device)
        rows = [_row(epoch, "train", state.train_loss, total_tokens, state.train_seconds)]
        if last or epoch % stop.eval_every == 0 or _every(stop.eval_every_steps, state.step):
            rows += _evaluate(model, eval_sets, cfg, placement, world, logger, run_dir, state, epoch, best_set)
        if last or out_of_time or epoch % stop.checkpoint_every == 0 or _every(stop.checkpoint_every_steps, state.step):
            _checkpoint(run_dir, world, model, optimizer, scaler, window_rng, identity, state, rows)
        if world.is_main:
            append_metrics(run_dir, rows)  # after the checkpoint: a resume never finds rows it will write again
        eta = _eta_seconds(stop, state)
        _log_epoch(epoch, state.train_loss, rows, cfg, (total_tokens - resumed_tokens) / max(epoch_seconds, 1e-9), eta)
        if out_of_time and not last:
            return _pause(run_dir, job, cfg, placement, world, state, logger, rows)
        if world.is_main:
            write_json(run_dir / STATUS, _status("running", job, cfg, placement, state, rows, eta))

    logger.close()
    if world.is_main:
        final = _latest_losses(run_dir, state.epoch)
        write_json(run_dir / STATUS, _status("complete", job, cfg, placement, state, final, 0.0, reason="stop criteria met"))
    log.info("complete at epoch %d (step %d): %s", state.epoch, state.step, run_dir)
    return "complete"


def _load_inputs(cfg: TrainConfig, placement: Placement, world: World):
    """(data, training tokens on the device, evaluation windows), or a ConfigError naming what to fix."""
    transform = build_transform(cfg.variant)
    tokenizer = load_tokenizer(cfg.data.tokenizer)
    if len(tokenizer) > cfg.model.vocab_size:
        raise ConfigError(f"model.vocab_size={cfg.model.vocab_size} is smaller than the tokenizer's {len(tokenizer)} tokens")
    reader = BookReader(cfg.data, tokenizer, transform, transform_key(cfg.variant))
    data = load_data(cfg.data, cfg.author, cfg.seed, reader)
    n_positions = cfg.model.n_positions
    # int32: half the memory of int64 for a big corpus; a batch's ids become int64 when it is cut out.
    train_tokens = torch.from_numpy(data.train_tokens.astype(np.int32)).to(placement.device)
    eval_sets = {name: eval_windows(texts, n_positions, cfg.data.eval_stride) for name, texts in data.eval_texts.items()}
    sample_offsets(len(train_tokens), n_positions, np.random.default_rng(0), world.size)  # fails now if too short
    if cfg.data.batch_size % world.size:
        raise ConfigError(f"data.batch_size={cfg.data.batch_size} must be a multiple of the job's {world.size} processes")
    return data, train_tokens, eval_sets


def _start_or_resume(run_dir, cfg: TrainConfig, world: World, placement, model, optimizer, scaler, window_rng, eval_sets,
                     identity: Dict):
    """Loads the run dir's checkpoint, or evaluates the untrained model and writes the first checkpoint.

    Returns (progress, the latest metric rows, the scalar logger); the files are trimmed to the checkpoint.
    """
    device = torch.device(placement.device)
    best_set = VALIDATION if cfg.data.kind == "text" else cfg.author.name
    state = Progress()
    checkpoint = latest_checkpoint(run_dir)
    distributed.barrier(world)  # every process has looked for a checkpoint before rank 0 writes one
    if world.is_main:
        restore_best(run_dir)
    if checkpoint:
        saved = load_checkpoint(checkpoint, model, optimizer, identity)
        state = Progress.from_checkpoint(saved)
        window_rng.bit_generator.state = saved["window_rng"]
        _restore_rng(saved, cfg.seed, world, device)
        scaler.load_state_dict(saved["scaler"])
        logger = ScalarLogger(run_dir, cfg.logger, resume_step=state.step, enabled=world.is_main)
        rows = saved["metric_rows"]
        if world.is_main:
            # Rows written after this checkpoint go; its own epoch's rows come back from the checkpoint.
            keep_metrics_before(run_dir, saved.get("metrics_from", state.epoch))
            append_metrics(run_dir, rows)
        log.info("resuming %s from %s (epoch %d, step %d)", run_dir, checkpoint.name, state.epoch, state.step)
    else:
        logger = ScalarLogger(run_dir, cfg.logger, resume_step=None, enabled=world.is_main)
        if world.is_main:
            keep_metrics_before(run_dir, 0)
        rows = []
        if cfg.stop_criteria.eval_at_start:
            rows = _evaluate(model, eval_sets, cfg, placement, world, logger, run_dir, state, 0, best_set)
        _checkpoint(run_dir, world, model, optimizer, scaler, window_rng, identity, state, rows)
        if world.is_main:
            append_metrics(run_dir, rows)
        _log_epoch(0, None, rows, cfg, 0.0, None)
    return state, rows, logger


def learning_rate(opt: OptimizerConfig, step: int) -> float:
    """Linear warmup over warmup_steps, then constant, or cosine decay to min_lr over decay_steps."""
    if step < opt.warmup_steps:
        return opt.lr * (step + 1) / opt.warmup_steps
    if opt.schedule == "constant":
        return opt.lr
    progress = min(1.0, (step - opt.warmup_steps) / opt.decay_steps)
    return opt.min_lr + 0.5 * (opt.lr - opt.min_lr) * (1.0 + math.cos(math.pi * progress))


def _optimizer_step(model, optimizer, scaler, opt: OptimizerConfig, step: int, want_norm: bool):
    """Sets the step's learning rate, clips, steps, zeroes the gradients; returns (lr, gradient norm or None)."""
    lr = learning_rate(opt, step)
    for group in optimizer.param_groups:
        group["lr"] = lr
    grad_norm = None
    if opt.grad_clip is not None or want_norm:
        scaler.unscale_(optimizer)  # the norm of the true gradients, not of the fp16 loss-scaled ones
        if opt.grad_clip is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), opt.grad_clip)  # the norm before clipping
        else:
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return lr, grad_norm


def _every(interval: Optional[int], step: int) -> bool:
    return interval is not None and step % interval == 0


def _out_of_time(stop: StopCriteriaConfig, started: float, world: World, device) -> bool:
    return distributed.any_process(stop.max_seconds is not None and time.time() - started >= stop.max_seconds, world, device)


@torch.no_grad()
def evaluate(model, eval_sets, batch_size: int, placement: Placement, epoch: int, seconds: float,
             world: World = World()) -> List[Dict]:
    """The loss on each evaluation set: total NLL over its predicted tokens / their number.

    In a data-parallel job each process evaluates a share of the windows and the sums are added.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows = []
    for name, windows in eval_sets.items():
        total = 0.0
        input_ids, labels = windows.input_ids, windows.labels
        if world.size > 1:
            input_ids, labels = input_ids.tensor_split(world.size)[world.rank], labels.tensor_split(world.size)[world.rank]
        for batch_ids, batch_labels in zip(input_ids.split(batch_size), labels.split(batch_size)):
            with placement.autocast():
                nll, _ = nll_sum(model, batch_ids.to(device), batch_labels.to(device))
            total += float(nll)
        if world.size > 1:
            total = float(distributed.all_sum(torch.tensor(total, dtype=torch.float64, device=device), world))
        rows.append(_row(epoch, name, total / windows.n_predicted, windows.n_predicted, seconds))
    model.train(was_training)
    return rows


def _row(epoch: int, dataset: str, loss: float, tokens: int, seconds: float) -> Dict:
    return {"epoch": epoch, "dataset": dataset, "loss": f"{loss:.6f}", "tokens": tokens, "seconds": f"{seconds:.1f}"}


def _evaluate(model, eval_sets, cfg: TrainConfig, placement, world, logger, run_dir, state: Progress, epoch, best_set):
    """Evaluates every set, logs <set>/loss and <set>/perplexity, and keeps checkpoint.best/ if the loss is the lowest yet."""
    rows = evaluate(model, eval_sets, cfg.data.eval_batch_size, placement, epoch, state.train_seconds, world)
    logger.log(state.step, epoch, eval_scalars(rows))
    loss = next((float(row["loss"]) for row in rows if row["dataset"] == best_set), None)
    if cfg.stop_criteria.keep_best and loss is not None and (state.best_loss is None or loss < state.best_loss):
        state.best_loss = loss
        if world.is_main:  # before the checkpoint: a resume from an earlier one replays (and rewrites) it
            save_best(run_dir, model, {"step": state.step, "epoch": epoch, "dataset": best_set, "loss": loss})
    return rows


def _checkpoint(run_dir, world, model, optimizer, scaler, window_rng, identity, state: Progress, rows, metrics_from=None):
    """Rank 0 saves; every process takes part (its RNG states). metrics_from: the epoch whose rows a resume drops."""
    rng_states = distributed.gather_rng_states(world)
    if not world.is_main:
        return
    save_checkpoint(run_dir, model, {
        "epoch": state.epoch,
        "step": state.step,
        "train_seconds": state.train_seconds,
        "train_loss": state.train_loss,
        "best_loss": state.best_loss,
        "in_epoch": dict(state.in_epoch) if state.in_epoch else None,
        "metric_rows": rows,
        "metrics_from": state.epoch if metrics_from is None else metrics_from,
        "identity": identity,
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "window_rng": window_rng.bit_generator.state,
        "torch_rng": rng_states[0]["cpu"],
        "cuda_rng": rng_states[0]["cuda"] if next(model.parameters()).is_cuda else None,
        "rank_rng": rng_states if world.size > 1 else None,  # each process's dropout stream
    })


def _restore_rng(saved: Dict, seed: int, world: World, device) -> None:
    ranks = saved.get("rank_rng") or []
    if world.rank < len(ranks):
        cpu, cuda = ranks[world.rank]["cpu"], ranks[world.rank]["cuda"]
    elif world.rank == 0:
        cpu, cuda = saved["torch_rng"], saved.get("cuda_rng")
    else:  # more processes than the checkpoint saw: a fresh stream of their own
        torch.manual_seed(_rank_seed(seed, world.rank, saved["step"]))
        return
    torch.set_rng_state(cpu)
    if device.type == "cuda" and cuda is not None:
        torch.cuda.set_rng_state(cuda, device)


def _rank_seed(seed: int, rank: int, step: int) -> int:
    return int(np.random.default_rng([seed, rank, step]).integers(2**62))


def _pause(run_dir, job: Dict, cfg, placement, world, state: Progress, logger, rows=()) -> str:
    logger.close()
    reason = f"wall-clock limit stop_criteria.max_seconds={cfg.stop_criteria.max_seconds} reached; run the same command to continue"
    if world.is_main:
        write_json(run_dir / STATUS, _status("paused", job, cfg, placement, state, list(rows), None, reason=reason))
    log.info("paused at epoch %d, step %d: %s", state.epoch, state.step, reason)
    return "paused"


def _resolved(cfg: TrainConfig, data) -> TrainConfig:
    """The config with data.authors and data.n_train_tokens as the corpus resolved them (a study's data)."""
    if cfg.data.kind != "corpus":
        return cfg
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, authors=data.authors,
                                                             n_train_tokens=data.n_train_tokens))


def _status_identity(cfg: TrainConfig, corpus_sha256: Optional[str] = None, identity: Optional[Dict] = None) -> Dict:
    """Which job this is, in status.json: enough for a sweep's summary, and for `analyze` to keep apart runs
    of other corpora (corpus_sha256) or other settings (config_sha256: the identity but author and seed)."""
    hashes = {} if identity is None else {"corpus_sha256": corpus_sha256, "config_sha256": config_sha256(identity)}
    return {
        **hashes,
        "study": cfg.study,
        "experiment": cfg.experiment_name,
        "variant": cfg.variant.name,
        "author": cfg.run_name,  # the author, or data.name for a text run
        "seed": cfg.seed,
    }


def _status(state: str, job: Dict, cfg: TrainConfig, placement: Placement, progress: Progress, rows: List[Dict], eta,
            reason=None) -> Dict:
    return {
        "state": state,
        **job,
        "epoch": progress.epoch,
        "step": progress.step,
        "max_epochs": cfg.stop_criteria.max_epochs,
        "max_steps": cfg.stop_criteria.max_steps,
        "losses": {row["dataset"]: float(row["loss"]) for row in rows},
        "eta_s": eta,
        "host": host(),
        "pid": os.getpid(),
        "device": placement.device,
        "precision": placement.precision,
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "reason": reason,
    }


def write_failed_status(run_dir: Path, error: BaseException, identity: Dict) -> None:
    """Marks a job failed with the error's first line, keeping its last epoch and losses if it had any."""
    status = read_json(run_dir / STATUS) or {}
    if status.get("state") == "complete":
        return  # a later bad command does not unmake a finished run
    status.update(identity)
    status.update(state="failed", reason=(str(error).splitlines() or [type(error).__name__])[0], host=host(),
                  pid=os.getpid(), updated_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  traceback="".join(traceback.format_exception(error)))
    write_json(run_dir / STATUS, status)


def _latest_losses(run_dir: Path, epoch: int) -> List[Dict]:
    return [row for row in read_metrics(run_dir) if row["epoch"] == str(epoch)]


def _eta_seconds(stop: StopCriteriaConfig, progress: Progress) -> Optional[float]:
    if stop.max_steps is not None:  # a step budget: it usually ends the run before max_epochs
        return max(0, stop.max_steps - progress.step) * progress.train_seconds / max(progress.step, 1)
    # Until min_epochs the run cannot stop; after it, max_epochs is the only bound known in advance.
    epoch = progress.epoch
    target = stop.min_epochs if stop.train_loss_threshold is not None and epoch < stop.min_epochs else stop.max_epochs
    return max(0, target - epoch) * progress.train_seconds / max(epoch, 1)


def _log_epoch(epoch, train_loss, rows, cfg: TrainConfig, tokens_per_s, eta) -> None:
    losses = {row["dataset"]: float(row["loss"]) for row in rows if row["dataset"] != "train"}
    parts = [f"epoch {epoch}/{cfg.stop_criteria.max_epochs}"]
    if train_loss is not None:
        parts.append(f"train {train_loss:.4f}")
    if losses and cfg.author is None:
        parts.append(" ".join(f"{name} {loss:.4f} (ppl {math.exp(min(loss, 700)):.1f})" for name, loss in losses.items()))
    elif losses:
        own = losses.get(cfg.author.name)
        others = [loss for name, loss in losses.items() if name in cfg.data.authors and name != cfg.author.name]
        parts.append(f"eval own {own:.4f} others {min(others):.4f}..{max(others):.4f}" if others else f"eval own {own:.4f}")
    if tokens_per_s:
        parts.append(f"{tokens_per_s:,.0f} tok/s")
    if eta is not None:
        parts.append(f"ETA {eta / 60:.1f} min")
    log.info(" | ".join(parts))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type
