"""The one training loop every job runs, whatever the launcher.

    python -m stylometry.train author=baum seed=0 experiment=smoke    # calls train() below

`train(cfg, run_dir)` opens the run (stylometry/training/run.py: its inputs read, its model and optimizer
built), then does what the run dir needs, as stylometry/runs/decision.py decides it (the decision `status --plan`
shows): a checkpoint of another run -> refused, the dir untouched; complete and the stop criteria met -> nothing
to do; complete but
the criteria now ask for more -> extended; a checkpoint -> continue after its step (in the same epoch's windows
for a mid-epoch checkpoint); nothing -> start. So a killed, timed-out or requeued job is finished, and a
finished one extended, by running the same command again.

A run is a timeline of optimizer steps that rolls over epochs. An epoch is len(training text) //
n_positions windows at random offsets, in batches of `data.batch_size` windows; a step takes
`cfg.accumulation_steps` batches (`train_step`). After every step the cadence (stylometry/training/cadence.py)
says what is due: log, evaluate, checkpoint, pause, stop. What it writes into the run dir goes through runs/: the
per-step scalars (runs/scalars.py), the per-epoch rows (runs/metrics.py), the heartbeat (runs/status.py).
"""

import logging
import math
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
from transformers.utils import logging as transformers_logging

from stylometry.config.schema import TrainConfig
from stylometry.data.windows import sample_offsets
from stylometry.hardware import distributed
from stylometry.hardware.device import Placement, choose_placement, detect
from stylometry.hardware.distributed import World, current_world
from stylometry.model.evaluate import evaluate
from stylometry.runs.checkpoint import (
    load_checkpoint,
    restore_best,
    save_best,
    save_checkpoint,
)
from stylometry.runs.decision import EXTEND, RESUME
from stylometry.runs.layout import (
    latest_checkpoint,
    lock_run_dir,
    write_hydra_files,
    write_run_config,
)
from stylometry.runs.manifest import write_manifest
from stylometry.runs.metrics import TRAIN, MetricRow, append_metrics, keep_metrics_before, read_metrics
from stylometry.runs.scalars import ScalarLogger, eval_scalars
from stylometry.runs.status import (
    COMPLETE,
    PAUSED,
    RUNNING,
    epoch_line,
    write_failed_status,
    write_status,
)
from stylometry.training.cadence import Cadence, eta_seconds
from stylometry.training.optimizer import learning_rate, optimizer_step
from stylometry.training.progress import Progress, WindowPosition, restore_rng, training_state
from stylometry.training.run import Inputs, Run, build_run, manifest, open_run

log = logging.getLogger(__name__)

__all__ = [
    "train",
    "Inputs",
    "open_run",
    "build_run",
    "start_or_resume",
    "epoch_batches",
    "train_step",
    "learning_rate",
]


class TrainingDiverged(RuntimeError):
    pass


class _Stopwatch:
    """Training time only: evaluations and checkpoints are left out of train_seconds and of tokens/s."""

    def __init__(self, tokens_at_start: int):
        self.tick, self.seconds, self.tokens_at_start = time.time(), 0.0, tokens_at_start

    def lap(self, state: Progress) -> None:
        elapsed = time.time() - self.tick
        self.seconds, state.train_seconds = self.seconds + elapsed, state.train_seconds + elapsed

    def restart(self) -> None:
        self.tick = time.time()


def train(
    cfg: TrainConfig,
    run_dir: Path,
    placement: Optional[Placement] = None,
    world: Optional[World] = None,
    record: Optional[Dict] = None,
) -> str:
    """Runs the job in run_dir to its end (or its wall-clock limit); returns its final state.

    In a data-parallel job every process calls this (stylometry/hardware/distributed.py); rank 0 alone writes.
    `record`: Hydra's record of this job (runs/layout.py: hydra_record), written once the run is this one.
    """
    world = world or current_world()
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_run_dir(run_dir) if world.is_main else None  # noqa: F841 -- held until this process exits, a kill too
    transformers_logging.disable_progress_bar()  # one bar per checkpoint save would drown the epoch lines
    run = open_run(cfg, run_dir, placement or choose_placement(cfg.device, detect()), world)
    if run is None:
        return COMPLETE
    try:
        state, rows = start_or_resume(run, record)
        cadence, batches = Cadence(run.cfg.stop_criteria, run.cfg.cadence, run.cfg.logger.every_steps), None
        while not cadence.done(state.epoch, state.train_loss, state.step):
            if state.position is None:  # a new epoch: its windows are drawn from the RNG's state now
                state.position = WindowPosition(run.window_rng.bit_generator.state)
            if batches is None:  # the epoch's windows, as first drawn (again, after a mid-epoch resume)
                batches, epoch_nll, stopwatch = epoch_batches(run, state.position)
            epoch, position = state.epoch + 1, state.position
            group = batches[position.batches_done : position.batches_done + run.cfg.accumulation_steps]
            step_nll, step_tokens, lr, grad_norm = train_step(run, group, state.step, cadence.logs(state.step + 1))
            state.step, position.batches_done = state.step + 1, position.batches_done + len(group)
            epoch_nll, position.tokens = epoch_nll + step_nll, position.tokens + step_tokens
            ended = cadence.epoch_ends(state.step, position.batches_done, len(batches))
            if ended:
                stopwatch.lap(state)
                loss = _epoch_loss(run, epoch, epoch_nll, position)
                state.epoch, state.train_loss, state.position = epoch, loss, None
            due = cadence.after_step(state.step, epoch, ended, state.train_loss, lambda: _out_of_time(run))
            if due.log:
                _log_step(run, state.step, epoch, step_nll, step_tokens, lr, grad_norm)
            if not ended and (due.evaluate or due.checkpoint):
                stopwatch.lap(state)  # evaluations and checkpoints are not training time
            evaluated = _evaluate(run, state, epoch) if due.evaluate else []
            _keep_best(run, state, epoch, evaluated)
            if ended:
                rows = _close_epoch(run, state, epoch, position, evaluated, due.checkpoint, stopwatch)
            elif due.checkpoint:
                position.nll = distributed.all_sum(epoch_nll, run.world).item()
                _checkpoint(run, state, [], metrics_from=epoch)
            if due.pause or due.stop:
                return _pause(run, state, rows if ended else []) if due.pause else _complete(run, state)
            if ended or due.evaluate or due.checkpoint:
                _heartbeat(run, state, rows)
                stopwatch.restart()
            batches = None if ended else batches
        return _complete(run, state)
    except Exception as error:
        if world.is_main:
            write_failed_status(run_dir, error, run.job)
        raise


def _log_step(run: Run, step: int, epoch: int, nll: torch.Tensor, tokens: int, lr: float, grad_norm) -> None:
    """The step's scalars (logger=csv or tensorboard): its training loss, learning rate and gradient norm."""
    loss = distributed.all_sum(nll, run.world).item() / tokens
    run.logger.log(step, epoch, {"train/loss": loss, "train/lr": lr, "train/grad_norm": float(grad_norm)})


def _close_epoch(
    run: Run,
    state: Progress,
    epoch: int,
    position: WindowPosition,
    evaluated: List[MetricRow],
    checkpoint: bool,
    stopwatch: _Stopwatch,
) -> List[MetricRow]:
    """The epoch's rows (its mean training loss, then its evaluations): checkpointed if due, then appended to
    the run's metrics (after the checkpoint: a resume never finds rows it writes again), and its progress line."""
    rows = [MetricRow.of(epoch, TRAIN, state.train_loss, position.tokens, state.train_seconds), *evaluated]
    if checkpoint:
        _checkpoint(run, state, rows, metrics_from=epoch)
    if run.world.is_main:
        append_metrics(run.run_dir, rows)
    tokens_per_s = (position.tokens - stopwatch.tokens_at_start) / max(stopwatch.seconds, 1e-9)
    log.info(_epoch_line(run, epoch, state.train_loss, rows, tokens_per_s, state))
    return rows


def epoch_batches(run: Run, position: WindowPosition):
    """The epoch's windows as batches of offsets, the epoch's NLL so far (rank 0 carries a resumed epoch's sum;
    summed on the device, no sync per step) and a stopwatch for its training time."""
    run.window_rng.bit_generator.state = position.rng_state
    offsets = sample_offsets(len(run.inputs.train_tokens), run.cfg.model.n_positions, run.window_rng, run.world.size)
    run.model.train()
    epoch_nll = torch.tensor(position.nll if run.world.is_main else 0.0, device=run.device)
    return offsets.to(run.device).split(run.cfg.data.batch_size), epoch_nll, _Stopwatch(position.tokens)


def train_step(run: Run, batches: List[torch.Tensor], step: int, want_norm: bool):
    """One optimizer step over `batches` of window offsets (gradient accumulation over them): forward, backward,
    clipping, AdamW. Returns (the step's summed NLL on the device, its predicted tokens, lr, gradient norm)."""
    world, n_positions, accum = run.world, run.cfg.model.n_positions, run.cfg.accumulation_steps
    window = torch.arange(n_positions, device=run.device)
    step_nll, step_tokens = torch.zeros((), device=run.device), 0
    for i, offsets in enumerate(batches):
        shard = offsets.tensor_split(world.size)[world.rank]  # this process's windows of the global batch
        input_ids = run.inputs.train_tokens[shard[:, None] + window].long()
        n_tokens = len(offsets) * (n_positions - 1)  # predicted tokens of the global batch
        with distributed.no_sync(run.trained, accumulating=i + 1 < len(batches)):
            with run.placement.autocast():
                nll, _ = run.trained(input_ids, input_ids)
            # The global batch's mean loss: DDP averages the processes' gradients, hence x world.size.
            run.scaler.scale(nll / n_tokens * world.size / accum).backward()
        step_nll, step_tokens = step_nll + nll.detach().float(), step_tokens + n_tokens
    lr, grad_norm = optimizer_step(run.model, run.optimizer, run.scaler, run.cfg.optimizer, step, want_norm)
    return step_nll, step_tokens, lr, grad_norm


def _epoch_loss(run: Run, epoch: int, epoch_nll: torch.Tensor, position: WindowPosition) -> float:
    loss = distributed.all_sum(epoch_nll, run.world).item() / position.tokens
    if not math.isfinite(loss):
        raise TrainingDiverged(
            f"training loss is {loss} at epoch {epoch}; "
            f"the last good checkpoint is in {latest_checkpoint(run.run_dir)}: "
            "lower optimizer.lr or set optimizer.grad_clip"
        )
    return loss


def _out_of_time(run: Run) -> bool:
    """The wall-clock limit, agreed by every process (a collective call in a data-parallel job)."""
    limit = run.cfg.stop_criteria.max_seconds
    return distributed.any_process(limit is not None and time.time() - run.started >= limit, run.world, run.device)


def start_or_resume(run: Run, record: Optional[Dict]):
    """Loads the run dir's checkpoint (the decision was to resume or extend), or starts the run: evaluates the
    untrained model and writes the first checkpoint. Returns (progress, the latest metric rows); the files are
    trimmed to the checkpoint."""
    world, run_dir = run.world, run.run_dir
    if world.is_main:
        write_run_config(run_dir, run.cfg)
        if record:
            write_hydra_files(run_dir, record)
    distributed.barrier(world)  # every process has read the run dir (open_run) before rank 0 writes a checkpoint
    if world.is_main:
        restore_best(run_dir)
    state, rows = _resume(run) if run.decision.action in (RESUME, EXTEND) else _start(run)
    if world.is_main:
        _write_status(run, RUNNING, state, rows, None)
        write_manifest(run_dir, manifest(run))
    return state, rows


def _resume(run: Run):
    """The loop state, weights, optimizer and RNG states of the latest checkpoint; the metrics trimmed to it."""
    cfg, world, run_dir = run.cfg, run.world, run.run_dir
    checkpoint = latest_checkpoint(run_dir)
    saved = load_checkpoint(checkpoint, run.model, run.optimizer, run.identity)
    state = Progress.from_checkpoint(saved)
    run.window_rng.bit_generator.state = saved.window_rng
    restore_rng(saved, cfg.seed, world, run.device)
    run.scaler.load_state_dict(saved.scaler)
    run.logger = ScalarLogger(run_dir, cfg.logger, resume_step=state.step, enabled=world.is_main)
    rows = saved.metric_rows
    if world.is_main:
        # Rows written after this checkpoint go; its own epoch's rows come back from the checkpoint.
        keep_metrics_before(run_dir, saved.metrics_from)
        append_metrics(run_dir, rows)
    log.info("resuming %s from %s (epoch %d, step %d)", run_dir, checkpoint.name, state.epoch, state.step)
    return state, rows


def _start(run: Run):
    """A new run: the untrained model's evaluation (cadence.eval_at_start) and the first checkpoint."""
    cfg, world, run_dir = run.cfg, run.world, run.run_dir
    state = Progress()
    run.logger = ScalarLogger(run_dir, cfg.logger, resume_step=None, enabled=world.is_main)
    if world.is_main:
        keep_metrics_before(run_dir, 0)
    due = Cadence(cfg.stop_criteria, cfg.cadence, cfg.logger.every_steps).at_start()
    rows = _evaluate(run, state, 0) if due.evaluate else []
    _keep_best(run, state, 0, rows)
    _checkpoint(run, state, rows, metrics_from=0)
    if world.is_main:
        append_metrics(run_dir, rows)
    log.info(_epoch_line(run, 0, None, rows, 0.0, None))
    return state, rows


def _evaluate(run: Run, state: Progress, epoch: int) -> List[MetricRow]:
    """Every evaluation set's loss (stylometry/model/evaluate.py), logged as <set>/loss and <set>/perplexity."""
    losses = evaluate(run.model, run.inputs.eval_sets, run.cfg.data.eval_batch_size, run.placement, run.world)
    rows = [
        MetricRow.of(epoch, set_loss.dataset, set_loss.loss, set_loss.tokens, state.train_seconds)
        for set_loss in losses
    ]
    run.logger.log(state.step, epoch, eval_scalars(rows))
    return rows


def _keep_best(run: Run, state: Progress, epoch: int, rows: List[MetricRow]) -> None:
    """With cadence.keep_best, saves the model as checkpoint.best/ if its loss on the best set is the lowest yet."""
    loss = next((row.loss for row in rows if row.dataset == run.best_set), None)
    if not run.cfg.cadence.keep_best or loss is None or (state.best_loss is not None and loss >= state.best_loss):
        return
    state.best_loss = loss
    if run.world.is_main:  # before the checkpoint: a resume from an earlier one replays (and rewrites) it
        save_best(run.run_dir, run.model, {"step": state.step, "epoch": epoch, "dataset": run.best_set, "loss": loss})


def _checkpoint(run: Run, state: Progress, rows: List[MetricRow], metrics_from: int) -> None:
    """Rank 0 saves; every process takes part (its RNG states). metrics_from: the epoch whose rows a resume drops."""
    rng_states = distributed.gather_rng_states(run.world)
    if not run.world.is_main:
        return
    saved = training_state(
        state,
        rows,
        metrics_from,
        run.identity,
        run.optimizer,
        run.scaler,
        run.window_rng,
        rng_states,
        on_cuda=run.device.type == "cuda",
    )
    save_checkpoint(run.run_dir, run.model, saved)


def _write_status(
    run: Run,
    state_name: str,
    state: Progress,
    rows: List[MetricRow],
    eta_s: Optional[float],
    reason: Optional[str] = None,
) -> None:
    stop = run.cfg.stop_criteria
    write_status(
        run.run_dir,
        state_name,
        run.job,
        epoch=state.epoch,
        step=state.step,
        max_epochs=stop.max_epochs,
        max_steps=stop.max_steps,
        rows=rows,
        eta_s=eta_s,
        device=run.placement.device,
        precision=run.placement.precision,
        reason=reason,
    )


def _heartbeat(run: Run, state: Progress, rows: List[MetricRow]) -> None:
    if run.world.is_main:
        _write_status(run, RUNNING, state, rows, _eta(run, state))


def _pause(run: Run, state: Progress, rows: List[MetricRow]) -> str:
    run.logger.close()
    reason = (
        f"wall-clock limit stop_criteria.max_seconds={run.cfg.stop_criteria.max_seconds} reached; "
        "run the same command to continue"
    )
    if run.world.is_main:
        _write_status(run, PAUSED, state, rows, None, reason=reason)
    log.info("paused at epoch %d, step %d: %s", state.epoch, state.step, reason)
    return PAUSED


def _complete(run: Run, state: Progress) -> str:
    run.logger.close()
    if run.world.is_main:
        final = [row for row in read_metrics(run.run_dir) if row.epoch == state.epoch]
        _write_status(run, COMPLETE, state, final, 0.0, reason="stop criteria met")
    log.info("complete at epoch %d (step %d): %s", state.epoch, state.step, run.run_dir)
    return COMPLETE


def _eta(run: Run, state: Progress) -> Optional[float]:
    return eta_seconds(run.cfg.stop_criteria, state.epoch, state.step, state.train_seconds)


def _epoch_line(
    run: Run,
    epoch: int,
    train_loss: Optional[float],
    rows: List[MetricRow],
    tokens_per_s: float,
    state: Optional[Progress],
) -> str:
    cfg = run.cfg
    return epoch_line(
        epoch,
        cfg.stop_criteria.max_epochs,
        train_loss,
        rows,
        cfg.author.name if cfg.author is not None else None,
        cfg.data.authors if cfg.author is not None else [],
        tokens_per_s,
        _eta(run, state) if state is not None else None,
    )
