"""The one training loop every job runs, whatever the launcher.

    python -m stylometry.train author=baum seed=0 experiment=smoke    # calls train() below

`train(cfg, run_dir)` starts, resumes or skips the run in `run_dir`, from what it finds there:
`status.json` says complete -> nothing to do; a checkpoint -> continue after its epoch; nothing ->
start. So a killed, timed-out or requeued job is finished by running the same command again.
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

from stylometry.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from stylometry.config import ConfigError, OptimizerConfig, StopCriteriaConfig, TrainConfig
from stylometry.data import WINDOW_STREAM, BookReader, eval_windows, load_study_data, load_tokenizer, sample_windows
from stylometry.device import Placement, choose_placement, detect
from stylometry.model import build_model, maybe_compile, nll_sum, optimizer_options
from stylometry.rundir import (
    MANIFEST, STATUS, append_metrics, host, keep_metrics_before, lock_run_dir, manifest, read_json, read_metrics,
    write_json,
)
from stylometry.variants import build_transform, transform_key

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    pass


def train(cfg: TrainConfig, run_dir: Path, placement: Optional[Placement] = None) -> str:
    """Runs the job in run_dir to its end (or its wall-clock limit); returns its final state."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_run_dir(run_dir)  # noqa: F841 -- held until this process exits, a kill included
    status = read_json(run_dir / STATUS) or {}
    if status.get("state") == "complete":
        log.info("%s is complete (epoch %s): nothing to train", run_dir, status.get("epoch"))
        return "complete"
    started = time.time()
    transformers_logging.disable_progress_bar()  # one bar per checkpoint save would drown the epoch lines

    # Everything that can fail on bad input fails here, before the first step.
    placement = placement or choose_placement(cfg.device, detect())
    transform = build_transform(cfg.variant)
    tokenizer = load_tokenizer(cfg.data.tokenizer)
    if len(tokenizer) > cfg.model.vocab_size:
        raise ConfigError(f"model.vocab_size={cfg.model.vocab_size} is smaller than the tokenizer's {len(tokenizer)} tokens")
    reader = BookReader(cfg.data, tokenizer, transform, transform_key(cfg.variant))
    data = load_study_data(cfg.data, cfg.author.name, cfg.author.extra_eval_sets, cfg.seed, reader)
    device = torch.device(placement.device)
    train_tokens = torch.from_numpy(data.train_tokens.astype(np.int64)).to(device)
    eval_sets = {name: eval_windows(texts, cfg.model.n_positions) for name, texts in data.eval_texts.items()}
    sample_windows(train_tokens, cfg.model.n_positions, np.random.default_rng(0))  # fails now if too short

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(device)
    opt = cfg.optimizer
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps, weight_decay=opt.weight_decay,
        **optimizer_options(device.type),  # fused: one kernel over every parameter (CUDA and CPU)
    )
    loss_fn = maybe_compile(nll_sum, cfg.device.compile, device.type)
    scaler = torch.amp.GradScaler(device.type, enabled=placement.uses_grad_scaler)
    window_rng = np.random.default_rng([cfg.seed, WINDOW_STREAM])
    identity = _identity(cfg)
    epoch, step, train_seconds, train_loss = 0, 0, 0.0, None

    checkpoint = latest_checkpoint(run_dir)
    if checkpoint:
        state = load_checkpoint(checkpoint, model, optimizer, identity)
        epoch, step, train_seconds, train_loss = state["epoch"], state["step"], state["train_seconds"], state["train_loss"]
        window_rng.bit_generator.state = state["window_rng"]
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        scaler.load_state_dict(state["scaler"])
        # Rows written after this checkpoint go; its own epoch's rows come back from the checkpoint.
        keep_metrics_before(run_dir, epoch)
        rows = state["metric_rows"]
        append_metrics(run_dir, rows)
        log.info("resuming %s from %s (epoch %d)", run_dir, checkpoint.name, epoch)
    else:
        keep_metrics_before(run_dir, 0)
        rows = []
        if cfg.stop_criteria.eval_at_start:
            rows = evaluate(model, eval_sets, cfg.data.eval_batch_size, placement, epoch=0, seconds=0.0)
        _checkpoint(run_dir, model, optimizer, scaler, window_rng, identity, epoch, step, train_seconds, None, rows)
        append_metrics(run_dir, rows)
        _log_epoch(0, None, rows, cfg, 0.0, None)
    write_json(run_dir / STATUS, _status("running", cfg, placement, epoch, rows, None))
    write_json(run_dir / MANIFEST, manifest(
        _device_name(device), data.corpus_sha256,
        {"held_out_books": data.held_out_books, "train_books": data.train_books, "precision": placement.precision},
    ))

    stop = cfg.stop_criteria
    tokens_per_epoch = (len(train_tokens) // cfg.model.n_positions) * cfg.model.n_positions
    while not should_stop(stop, epoch, train_loss):
        epoch += 1
        epoch_start = time.time()
        model.train()
        windows = sample_windows(train_tokens, cfg.model.n_positions, window_rng).to(device)
        batches = windows.split(cfg.data.batch_size)
        total_nll, total_tokens = torch.zeros((), device=device), 0  # summed on the device: no sync per step
        for i, batch in enumerate(batches):
            input_ids = train_tokens[batch]
            with placement.autocast():
                nll, n_tokens = loss_fn(model, input_ids, input_ids)
            scaler.scale(nll / n_tokens / opt.grad_accum_steps).backward()
            total_nll, total_tokens = total_nll + nll.detach().float(), total_tokens + n_tokens
            if (i + 1) % opt.grad_accum_steps == 0 or i + 1 == len(batches):
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(opt, step)
                if opt.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), opt.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                step += 1
        train_loss = total_nll.item() / total_tokens
        epoch_seconds = time.time() - epoch_start
        train_seconds += epoch_seconds
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"training loss is {train_loss} at epoch {epoch}; the last good checkpoint is in {latest_checkpoint(run_dir)}: "
                "lower optimizer.lr or set optimizer.grad_clip"
            )

        last = should_stop(stop, epoch, train_loss)
        out_of_time = stop.max_seconds is not None and time.time() - started >= stop.max_seconds
        rows = [_row(epoch, "train", train_loss, total_tokens, train_seconds)]
        if last or epoch % stop.eval_every == 0:
            rows += evaluate(model, eval_sets, cfg.data.eval_batch_size, placement, epoch, train_seconds)
        if last or out_of_time or epoch % stop.checkpoint_every == 0:
            _checkpoint(run_dir, model, optimizer, scaler, window_rng, identity, epoch, step, train_seconds, train_loss, rows)
        append_metrics(run_dir, rows)  # after the checkpoint: a resume never finds rows it will write again
        eta = _eta_seconds(stop, epoch, train_seconds)
        _log_epoch(epoch, train_loss, rows, cfg, tokens_per_epoch / epoch_seconds, eta)
        if out_of_time and not last:
            reason = f"wall-clock limit stop_criteria.max_seconds={stop.max_seconds} reached; run the same command to continue"
            write_json(run_dir / STATUS, _status("paused", cfg, placement, epoch, rows, None, reason=reason))
            log.info("paused at epoch %d: %s", epoch, reason)
            return "paused"
        write_json(run_dir / STATUS, _status("running", cfg, placement, epoch, rows, eta))

    final = _latest_losses(run_dir, epoch)
    write_json(run_dir / STATUS, _status("complete", cfg, placement, epoch, final, 0.0, reason="stop criteria met"))
    log.info("complete at epoch %d: %s", epoch, run_dir)
    return "complete"


def should_stop(stop: StopCriteriaConfig, epoch: int, train_loss: Optional[float]) -> bool:
    if epoch >= stop.max_epochs:
        return True
    converged = stop.train_loss_threshold is not None and train_loss is not None and train_loss <= stop.train_loss_threshold
    return epoch >= stop.min_epochs and converged


def learning_rate(opt: OptimizerConfig, step: int) -> float:
    """Linear warmup over warmup_steps, then constant, or cosine decay to min_lr over decay_steps."""
    if step < opt.warmup_steps:
        return opt.lr * (step + 1) / opt.warmup_steps
    if opt.schedule == "constant":
        return opt.lr
    progress = min(1.0, (step - opt.warmup_steps) / opt.decay_steps)
    return opt.min_lr + 0.5 * (opt.lr - opt.min_lr) * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model, eval_sets, batch_size: int, placement: Placement, epoch: int, seconds: float) -> List[Dict]:
    """The loss on each evaluation set: total NLL over its predicted tokens / their number."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows = []
    for name, windows in eval_sets.items():
        total = 0.0
        for input_ids, labels in zip(windows.input_ids.split(batch_size), windows.labels.split(batch_size)):
            with placement.autocast():
                nll, _ = nll_sum(model, input_ids.to(device), labels.to(device))
            total += float(nll)
        rows.append(_row(epoch, name, total / windows.n_predicted, windows.n_predicted, seconds))
    model.train(was_training)
    return rows


def _row(epoch: int, dataset: str, loss: float, tokens: int, seconds: float) -> Dict:
    return {"epoch": epoch, "dataset": dataset, "loss": f"{loss:.6f}", "tokens": tokens, "seconds": f"{seconds:.1f}"}


def _checkpoint(run_dir, model, optimizer, scaler, window_rng, identity, epoch, step, train_seconds, train_loss, rows):
    save_checkpoint(run_dir, model, {
        "epoch": epoch,
        "step": step,
        "train_seconds": train_seconds,
        "train_loss": train_loss,
        "metric_rows": rows,
        "identity": identity,
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "window_rng": window_rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if next(model.parameters()).is_cuda else None,
    })


# What makes a run this run: resuming it under other values would silently mix two experiments.
# Left out on purpose: paths, device, batch sizes for evaluation, and the stop criteria (extending
# a finished run's training is a legitimate change).
def _identity(cfg: TrainConfig) -> Dict:
    data = dataclasses.asdict(cfg.data)
    for key in ("root", "tokenizer", "cache_dir", "eval_batch_size"):
        data.pop(key)
    variant = dataclasses.asdict(cfg.variant)
    variant.pop("nltk_data")
    return {
        "seed": cfg.seed,
        "author": dataclasses.asdict(cfg.author),
        "model": dataclasses.asdict(cfg.model),
        "data": data,
        "optimizer": dataclasses.asdict(cfg.optimizer),
        "variant": variant,
    }


def _status(state: str, cfg: TrainConfig, placement: Placement, epoch: int, rows: List[Dict], eta, reason=None) -> Dict:
    return {
        "state": state,
        "experiment": cfg.experiment_name,
        "variant": cfg.variant.name,
        "author": cfg.author.name,
        "seed": cfg.seed,
        "epoch": epoch,
        "max_epochs": cfg.stop_criteria.max_epochs,
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


def _eta_seconds(stop: StopCriteriaConfig, epoch: int, train_seconds: float) -> Optional[float]:
    # Until min_epochs the run cannot stop; after it, max_epochs is the only bound known in advance.
    target = stop.min_epochs if stop.train_loss_threshold is not None and epoch < stop.min_epochs else stop.max_epochs
    return max(0, target - epoch) * train_seconds / max(epoch, 1)


def _log_epoch(epoch, train_loss, rows, cfg: TrainConfig, tokens_per_s, eta) -> None:
    losses = {row["dataset"]: float(row["loss"]) for row in rows if row["dataset"] != "train"}
    parts = [f"epoch {epoch}/{cfg.stop_criteria.max_epochs}"]
    if train_loss is not None:
        parts.append(f"train {train_loss:.4f}")
    if losses:
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
