"""The benchmark's measurements, one per process: `python -m stylometry.bench --worker <name> ...` runs
WORKERS[name] on the composed job and prints its result as one JSON line (driver.py starts them).

    python -m stylometry.bench --worker train --impl study model=tiny    # what cpu_bench starts, one by one

A fresh process per measurement: every phase's peak memory is its own.
"""

import dataclasses
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from stylometry.benchmark.loops import (
    optimized_evaluation,
    optimized_training,
    study_batches,
    study_model,
    study_step,
)
from stylometry.benchmark.overrides import compose, with_override
from stylometry.benchmark.timing import gpu_memory, peak_rss_mb, synchronize, timed_repeats
from stylometry.data.splits import load_study_data
from stylometry.data.tokenizer import load_tokenizer
from stylometry.data.tokens import BookReader
from stylometry.data.windows import eval_windows
from stylometry.hardware.device import place_job
from stylometry.hardware.distributed import World
from stylometry.training import loop as trainer

PEAK_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def worker_peak(cfg, args) -> dict:
    """Matmul FLOP/s in the job's precision (fp32 on a CPU): the best median of square GEMMs of a few sizes."""
    with place_job(cfg.device, 1) as placement:
        device = torch.device(placement.device)
        dtype = PEAK_DTYPES[placement.precision]
        # A GPU multiplies 8192^2 in about a millisecond: time 10 at once, after 10 that bring its clocks up.
        sizes, per_timing = ((1024, 2048, 3072), 1) if device.type == "cpu" else ((4096, 8192), 10)
        best = 0.0
        for n in sizes:
            a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
            out = torch.empty(n, n, device=device, dtype=dtype)
            for _ in range(per_timing):
                torch.mm(a, b, out=out)
            times = []
            for _ in range(max(3, args.repeats)):
                synchronize(device)
                start = time.perf_counter()
                for _ in range(per_timing):
                    torch.mm(a, b, out=out)
                synchronize(device)
                times.append((time.perf_counter() - start) / per_timing)
            best = max(best, 2 * n**3 / statistics.median(times))
        return {"peak_flops": best, "peak_precision": placement.precision, "threads": torch.get_num_threads()}


def worker_train(cfg, args) -> dict:
    n_positions, batch_size = cfg.model.n_positions, cfg.data.batch_size
    with place_job(cfg.device, 1) as placement:
        device = torch.device(placement.device)
        if args.impl == "study":
            if device.type != "cpu":
                raise SystemExit("the study loop is a CPU loop: benchmark it with device=cpu")
            generator = torch.Generator().manual_seed(cfg.seed)
            n_tokens = max(cfg.data.n_train_tokens or 0, 8 * batch_size * n_positions)
            train_tokens = torch.randint(0, cfg.model.vocab_size, (n_tokens,), generator=generator)
            torch.manual_seed(cfg.seed)
            model = study_model(cfg.model).train()
            optimizer = torch.optim.AdamW(model.parameters())  # the study's: torch's defaults
            batches = study_batches(train_tokens.tolist(), n_positions, batch_size, cfg.seed)

            def step():
                return study_step(model, optimizer, next(batches))
        else:
            step = optimized_training(cfg, placement, batch_size)
        result = timed_repeats(
            step, batch_size * n_positions, args.warmup, args.repeats, args.steps, device, args.min_seconds
        )
    result["peak_mem_mb"] = peak_rss_mb()
    return {**result, **gpu_memory(device)}


def worker_eval(cfg, args) -> dict:
    n_positions, batch_size = cfg.model.n_positions, cfg.data.eval_batch_size
    with place_job(cfg.device, 1) as placement:
        device = torch.device(placement.device if args.impl == "optimized" else "cpu")
        if args.impl == "study":
            torch.manual_seed(cfg.seed)
            model = study_model(cfg.model).eval()
            input_ids = torch.randint(0, cfg.model.vocab_size, (batch_size, n_positions))

            @torch.no_grad()
            def evaluate():
                for _ in range(args.eval_steps):
                    model(input_ids, labels=input_ids).loss.item()
        else:
            evaluate = optimized_evaluation(cfg, placement, args.eval_steps)
        tokens = args.eval_steps * batch_size * n_positions
        result = timed_repeats(evaluate, tokens, 1, args.repeats, 1, device, args.min_seconds)
    result["peak_mem_mb"] = peak_rss_mb()
    return result


def _barrier(args, phase: str) -> None:
    """Returns once every job started with this one (--barrier-jobs of them) has reached `phase`."""
    folder = Path(args.barrier)
    (folder / f"{phase}.{os.getpid()}").touch()
    deadline = time.monotonic() + 300  # the others' start (imports, CUDA, a lease) takes seconds, not minutes
    while len(list(folder.glob(f"{phase}.*"))) < args.barrier_jobs:
        if time.monotonic() > deadline:
            raise SystemExit(f"bench worker: the {args.barrier_jobs} jobs never all reached {phase}")
        time.sleep(0.01)


def worker_job(cfg, args) -> dict:
    """One of --barrier-jobs jobs sharing the device, placed as a sweep's job is (a slot of
    device.jobs_per_gpu on a GPU, or its share of the CPU's cores): its training, then its evaluation
    rate, each timed from the moment every job is ready for it."""
    with place_job(cfg.device, args.barrier_jobs) as placement:
        device = torch.device(placement.device)
        step = optimized_training(cfg, placement, cfg.data.batch_size)
        train = timed_repeats(
            step,
            cfg.data.batch_size * cfg.model.n_positions,
            args.warmup,
            args.repeats,
            args.steps,
            device,
            args.min_seconds,
            start=lambda: _barrier(args, "train"),
        )
        del step
        evaluate = optimized_evaluation(cfg, placement, args.eval_steps)
        tokens = args.eval_steps * cfg.data.eval_batch_size * cfg.model.n_positions
        evaluation = timed_repeats(
            evaluate, tokens, 1, args.repeats, 1, device, args.min_seconds, start=lambda: _barrier(args, "eval")
        )
    return {
        "device": placement.device,
        "train_tokens_per_s": train["tokens_per_s"],
        "eval_tokens_per_s": evaluation["tokens_per_s"],
        **gpu_memory(device),
    }


def largest_fitting_batch(try_batch: Callable[[int], None], first: int, cap: int) -> tuple:
    """(the largest of first, 2 first, 4 first, ... <= cap for which try_batch runs without running out of
    device memory, or None; what ended the search: "memory" or "cap")."""
    fitting, batch = None, first
    while batch <= cap:
        try:
            try_batch(batch)
        except torch.cuda.OutOfMemoryError:
            return fitting, "memory"
        fitting, batch = batch, batch * 2
    return fitting, "cap"


def worker_largest_batch(cfg, args) -> dict:
    """Training tokens/s at the largest batch that fits, found by doubling data.batch_size up to --max-batch."""
    n_positions = cfg.model.n_positions
    with place_job(cfg.device, 1) as placement:
        device = torch.device(placement.device)

        def try_batch(batch_size: int) -> None:
            step = optimized_training(cfg, placement, batch_size)
            try:
                step()
                step()  # the second step holds the optimizer's state too
                synchronize(device)
            finally:
                del step
                gc.collect()
                if device.type == "cuda":
                    torch.cuda.empty_cache()

        batch_size, limited_by = largest_fitting_batch(try_batch, cfg.data.batch_size, args.max_batch)
        gc.collect()  # what the failed try held, once its exception is gone
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if batch_size is None:
            raise SystemExit(f"bench worker: not even data.batch_size={cfg.data.batch_size} windows fit")
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        step = optimized_training(cfg, placement, batch_size)
        # A step of thousands of windows takes a second or more: a few warm-up steps, then steps one at a time.
        result = timed_repeats(
            step, batch_size * n_positions, min(args.warmup, 2), args.repeats, 1, device, args.min_seconds
        )
    return {**result, "batch_size": batch_size, "limited_by": limited_by, **gpu_memory(device)}


def worker_startup(cfg, args) -> dict:
    """The real trainer's start in a scratch run dir, timed from its start to its first training step.

    The epoch-0 evaluation is skipped here (it is evaluation, measured by the eval worker); all the rest runs
    as in a job: run-dir checks, tokenizer, data (token cache warm), model, optimizer, the epoch-0 checkpoint
    and manifest, the first epoch's windows.
    """
    cfg = dataclasses.replace(cfg, cadence=dataclasses.replace(cfg.cadence, eval_at_start=False))
    with place_job(cfg.device, 1) as placement, tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        run = trainer.open_run(cfg, Path(run_dir), placement, World())
        state, _rows = trainer.start_or_resume(run, record=None)
        state.position = trainer.WindowPosition(run.window_rng.bit_generator.state)
        trainer.epoch_batches(run, state.position)
        first_step_s = time.perf_counter() - start

    # What the job evaluates and trains on per epoch (untimed; the token cache is warm).
    reader = _book_reader(cfg)
    data = load_study_data(cfg.data, cfg.author.name, cfg.author.extra_eval_sets, cfg.seed, reader)
    eval_sets = [eval_windows(texts, cfg.model.n_positions) for texts in data.eval_texts.values()]
    n_positions = cfg.model.n_positions
    return {
        "first_step_s": first_step_s,
        "eval_windows": sum(len(windows.input_ids) for windows in eval_sets),
        "eval_tokens_predicted": sum(windows.n_predicted for windows in eval_sets),
        "train_tokens_per_epoch": (len(data.train_tokens) // n_positions) * n_positions,
    }


def _book_reader(cfg) -> BookReader:
    return BookReader.of_run(cfg, load_tokenizer(cfg.data.tokenizer))


def worker_grid(cfg, args) -> dict:
    """Tokens each model of the grid (every author x seeds 0 .. --grid-seeds - 1) trains and evaluates per epoch.

    Evaluation tokens count whole windows: a book's last, padded window costs a full one on the device.
    """
    reader = _book_reader(cfg)
    n_positions, stride = cfg.model.n_positions, cfg.data.eval_stride
    first = load_study_data(cfg.data, cfg.author.name, cfg.author.extra_eval_sets, cfg.seed, reader)
    models = []
    for author in first.held_out_books:  # every author of the corpus, as the trainer resolves them
        extra_eval_sets = compose(with_override(args.overrides, "author", author)).author.extra_eval_sets
        for seed in range(args.grid_seeds):
            data = load_study_data(cfg.data, author, extra_eval_sets, seed, reader)
            windows = sum(len(eval_windows(texts, n_positions, stride).input_ids) for texts in data.eval_texts.values())
            models.append(
                {
                    "author": author,
                    "seed": seed,
                    "eval_tokens": windows * n_positions,
                    "train_tokens_per_epoch": len(data.train_tokens) // n_positions * n_positions,
                }
            )
    return {"models": models}


WORKERS = {
    "peak": worker_peak,
    "train": worker_train,
    "eval": worker_eval,
    "startup": worker_startup,
    "job": worker_job,
    "largest_batch": worker_largest_batch,
    "grid": worker_grid,
}
