"""How fast a job trains and evaluates here, against the study's original loop.

    python -m stylometry.bench                                  # the paper's model, batch 4, CPU (~5-10 min)
    python -m stylometry.bench model=tiny data.batch_size=8     # any config: Hydra overrides, as for train
    python -m stylometry.bench --no-baseline --repeats 5 author=austen seed=3
    python -m stylometry.bench --gpu-check                      # the GPU check: stylometry/benchmark/gpu_check.py

Measured, each in a fresh process (`--worker ...`) so that every phase's peak memory is its own:
  - the machine's matmul peak in the job's precision (fp32 on a CPU, bf16 on most GPUs; square GEMMs
    on the job's threads), the denominator of MFU;
  - training tokens/s of the trainer's step (`nll_sum`, the trainer's optimizer step) (optimized), and
    of the study's loop (baseline: `GPT2LMHeadModel` with gradient checkpointing,
    `model(input_ids, labels=input_ids)`, `torch.optim.AdamW()` with its defaults, batches from a
    DataLoader over Python lists of token ids);
  - evaluation tokens/s (`trainer.evaluate` over `data.eval_batch_size` windows), both ways;
  - time from a job's start (`trainer.train` called, imports done, token cache warm) to its first
    training step, in a scratch run dir; the epoch-0 evaluation is skipped there (it is evaluation).
Each figure is the median of `--repeats` repetitions after `--warmup` steps. From them: MFU (model
FLOPs per token x tokens/s / peak) and the cost of evaluating every evaluation text of this job (its
author, seed and extra sets, whole windows) as a fraction of one epoch's training.
The last line printed is one JSON object with every figure.
"""

import argparse
import dataclasses
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException
from torch.utils.data import DataLoader

from stylometry.config.compose import compose as compose_config
from stylometry.config.compose import override_key
from stylometry.config.schema import ConfigError, first_line, to_run_config
from stylometry.data.corpus import prepare_overrides
from stylometry.data.tokens import BookReader, eval_windows, load_study_data, load_tokenizer, sample_offsets
from stylometry.hardware.device import place_job
from stylometry.hardware.distributed import World
from stylometry.model.gpt import build_model, flops_per_token
from stylometry.training import loop as trainer

DEFAULTS = {"author": "baum", "device": "cpu", "data.batch_size": "4"}  # the CPU benchmark's reference point
# The CPU benchmark's timing, where the command line does not set it.
TIMING = {"repeats": 3, "warmup": 1, "steps": 2, "eval_steps": 1, "min_seconds": 0.0}
REPO = Path(__file__).resolve().parents[1]


def compose(overrides: list[str]):
    # prepare_overrides: the corpus's author folders are `author` options, YAML or not
    return to_run_config(compose_config("train", prepare_overrides(overrides)))


def with_defaults(overrides: list[str], defaults: dict | None = None) -> list[str]:
    keys = {override_key(item) for item in overrides}
    defaults = DEFAULTS if defaults is None else defaults
    return [f"{key}={value}" for key, value in defaults.items() if key not in keys] + list(overrides)


def with_override(overrides: list[str], key: str, value) -> list[str]:
    """The overrides with `key` set to `value` (any earlier setting of it dropped: Hydra refuses a key twice)."""
    return [item for item in overrides if override_key(item) != key] + [f"{key}={value}"]


# --- the baseline: the study's loop, as it was written ------------------------------------------------


class _Windows:
    """A map-style dataset of windows over a Python list of token ids (the study's batches)."""

    def __init__(self, token_ids: list[int], offsets: list[int], n_positions: int):
        self.token_ids, self.offsets, self.n_positions = token_ids, offsets, n_positions

    def __len__(self):
        return len(self.offsets)

    def __getitem__(self, i):
        start = self.offsets[i]
        return torch.tensor(self.token_ids[start : start + self.n_positions])


def baseline_model(model_cfg):
    """GPT2LMHeadModel as the study trained it: gradient checkpointing on, fp32 on the CPU."""
    model = build_model(model_cfg)
    # transformers 5 renamed it; the same torch.utils.checkpoint around every block either way.
    (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    return model


def baseline_batches(token_ids: list[int], n_positions: int, batch_size: int, seed: int):
    rng = random.Random(seed)
    n_windows = len(token_ids) // n_positions
    offsets = [rng.randrange(len(token_ids) - n_positions + 1) for _ in range(n_windows)]
    generator = torch.Generator().manual_seed(seed)
    windows = _Windows(token_ids, offsets, n_positions)
    loader = DataLoader(windows, batch_size=batch_size, shuffle=True, generator=generator)
    while True:
        yield from loader


def baseline_step(model, optimizer, input_ids) -> float:
    loss = model(input_ids, labels=input_ids).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


# --- the optimized path: what trainer.py runs ---------------------------------------------------------


def optimized_offsets(n_tokens: int, n_positions: int, batch_size: int, seed: int, device):
    """Batches of window offsets at random positions, epoch after epoch, on the device as the trainer has them (an
    epoch's offsets move there at once: no copy, no host sync per step). An epoch's short last batch is left out,
    so that every step is timed as the `batch_size` windows it holds."""
    rng = np.random.default_rng(seed)
    while True:
        for offsets in sample_offsets(n_tokens, n_positions, rng).to(device).split(batch_size):
            if len(offsets) == batch_size:
                yield offsets


def optimized_training(cfg, placement, batch_size: int) -> Callable[[], torch.Tensor]:
    """One `trainer.train_step` of the job's model per call (one batch, no accumulation), on random token ids
    (their values do not change the work)."""
    device = torch.device(placement.device)
    n_positions = cfg.model.n_positions
    # The number of tokens only bounds the window offsets; at least a few batches of distinct windows.
    n_tokens = max(cfg.data.n_train_tokens or 0, 8 * batch_size * n_positions)
    generator = torch.Generator().manual_seed(cfg.seed)
    train_tokens = torch.randint(0, cfg.model.vocab_size, (n_tokens,), generator=generator).to(device)
    cfg = dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, batch_size=batch_size),
        optimizer=dataclasses.replace(cfg.optimizer, grad_accum_steps=1, batch_tokens=None),
    )
    run = trainer.build_run(
        cfg,
        Path(tempfile.gettempdir()),
        placement,
        World(),
        trainer.Inputs(data=None, train_tokens=train_tokens, eval_sets={}),
    )
    run.model.train()
    offsets = optimized_offsets(n_tokens, n_positions, batch_size, cfg.seed, device)
    # The step's summed NLL stays on the device: no host sync per step; the caller syncs once per timed group.
    return lambda: trainer.train_step(run, [next(offsets)], step=0, want_norm=False)[0]


def optimized_evaluation(cfg, placement, n_batches: int) -> Callable[[], list]:
    """`trainer.evaluate` over n_batches batches of `data.eval_batch_size` windows of random token ids per call."""
    n_positions, n_windows = cfg.model.n_positions, n_batches * cfg.data.eval_batch_size
    text = np.random.default_rng(cfg.seed).integers(0, cfg.model.vocab_size, n_windows * n_positions)
    eval_sets = {"bench": eval_windows([text], n_positions)}
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(placement.device).eval()
    return lambda: trainer.evaluate(model, eval_sets, cfg.data.eval_batch_size, placement, epoch=0, seconds=0.0)


# --- workers: one measurement per process ----------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _gpu_memory(device) -> dict:
    if device.type != "cuda":
        return {}
    return {
        "peak_gpu_mem_mb": torch.cuda.max_memory_allocated(device) / 2**20,
        "peak_gpu_reserved_mb": torch.cuda.max_memory_reserved(device) / 2**20,
    }


def _timed_repeats(
    run_one,
    tokens_per_call: int,
    warmup: int,
    repeats: int,
    calls: int,
    device,
    min_seconds: float = 0.0,
    start: Callable[[], None] | None = None,
) -> dict:
    """Tokens/s of run_one: the median of `repeats` repetitions, each of `calls` calls (repeated until it
    has run `min_seconds`), after `warmup` calls and then `start()` (jobs started together wait for
    each other there)."""
    for _ in range(warmup):
        run_one()
    _synchronize(device)
    if start is not None:
        start()
    rates = []
    for _ in range(repeats):
        began, done = time.perf_counter(), 0
        while done == 0 or time.perf_counter() - began < min_seconds:
            for _ in range(calls):
                run_one()
            _synchronize(device)
            done += calls
        rates.append(tokens_per_call * done / (time.perf_counter() - began))
    return {"tokens_per_s": statistics.median(rates), "tokens_per_s_all": [round(r, 1) for r in rates]}


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
                _synchronize(device)
                start = time.perf_counter()
                for _ in range(per_timing):
                    torch.mm(a, b, out=out)
                _synchronize(device)
                times.append((time.perf_counter() - start) / per_timing)
            best = max(best, 2 * n**3 / statistics.median(times))
        return {"peak_flops": best, "peak_precision": placement.precision, "threads": torch.get_num_threads()}


def worker_train(cfg, args) -> dict:
    n_positions, batch_size = cfg.model.n_positions, cfg.data.batch_size
    with place_job(cfg.device, 1) as placement:
        device = torch.device(placement.device)
        if args.impl == "baseline":
            if device.type != "cpu":
                raise SystemExit("the baseline is the study's CPU loop: benchmark it with device=cpu")
            generator = torch.Generator().manual_seed(cfg.seed)
            n_tokens = max(cfg.data.n_train_tokens or 0, 8 * batch_size * n_positions)
            train_tokens = torch.randint(0, cfg.model.vocab_size, (n_tokens,), generator=generator)
            torch.manual_seed(cfg.seed)
            model = baseline_model(cfg.model).train()
            optimizer = torch.optim.AdamW(model.parameters())  # the study's: torch's defaults
            batches = baseline_batches(train_tokens.tolist(), n_positions, batch_size, cfg.seed)

            def step():
                return baseline_step(model, optimizer, next(batches))
        else:
            step = optimized_training(cfg, placement, batch_size)
        result = _timed_repeats(
            step, batch_size * n_positions, args.warmup, args.repeats, args.steps, device, args.min_seconds
        )
    result["peak_mem_mb"] = _peak_rss_mb()
    return {**result, **_gpu_memory(device)}


def worker_eval(cfg, args) -> dict:
    n_positions, batch_size = cfg.model.n_positions, cfg.data.eval_batch_size
    with place_job(cfg.device, 1) as placement:
        device = torch.device(placement.device if args.impl == "optimized" else "cpu")
        if args.impl == "baseline":
            torch.manual_seed(cfg.seed)
            model = baseline_model(cfg.model).eval()
            input_ids = torch.randint(0, cfg.model.vocab_size, (batch_size, n_positions))

            @torch.no_grad()
            def evaluate():
                for _ in range(args.eval_steps):
                    model(input_ids, labels=input_ids).loss.item()
        else:
            evaluate = optimized_evaluation(cfg, placement, args.eval_steps)
        tokens = args.eval_steps * batch_size * n_positions
        result = _timed_repeats(evaluate, tokens, 1, args.repeats, 1, device, args.min_seconds)
    result["peak_mem_mb"] = _peak_rss_mb()
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
        train = _timed_repeats(
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
        evaluation = _timed_repeats(
            evaluate, tokens, 1, args.repeats, 1, device, args.min_seconds, start=lambda: _barrier(args, "eval")
        )
    return {
        "device": placement.device,
        "train_tokens_per_s": train["tokens_per_s"],
        "eval_tokens_per_s": evaluation["tokens_per_s"],
        **_gpu_memory(device),
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
                _synchronize(device)
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
        result = _timed_repeats(
            step, batch_size * n_positions, min(args.warmup, 2), args.repeats, 1, device, args.min_seconds
        )
    return {**result, "batch_size": batch_size, "limited_by": limited_by, **_gpu_memory(device)}


def worker_startup(cfg, args) -> dict:
    """The real trainer's start in a scratch run dir, timed from its start to its first training step.

    The epoch-0 evaluation is skipped here (it is evaluation, measured by the eval worker); all the rest runs
    as in a job: run-dir checks, tokenizer, data (token cache warm), model, optimizer, the epoch-0 checkpoint
    and manifest, the first epoch's windows.
    """
    cfg = dataclasses.replace(cfg, schedule=dataclasses.replace(cfg.schedule, eval_at_start=False))
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


# --- the driver --------------------------------------------------------------------------------------


class WorkerFailed(RuntimeError):
    pass


def start_worker(
    name: str, args, overrides: list[str], impl: str = "optimized", extra: tuple = (), env: dict | None = None
) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "stylometry.bench",
        "--worker",
        name,
        "--impl",
        impl,
        "--repeats",
        str(args.repeats),
        "--warmup",
        str(args.warmup),
        "--steps",
        str(args.steps),
        "--eval-steps",
        str(args.eval_steps),
        "--min-seconds",
        str(args.min_seconds),
        "--max-batch",
        str(args.max_batch),
        "--grid-seeds",
        str(args.grid_seeds),
        *extra,
        *overrides,
    ]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    process.worker_name = f"{name}/{impl}"
    return process


def finish_worker(process: subprocess.Popen, timeout: float | None = None) -> dict:
    """The worker's JSON result; WorkerFailed (its error's last lines) if it fails or outlasts `timeout` seconds."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise WorkerFailed(f"bench worker {process.worker_name} did not finish in {timeout:.0f} s") from None
    if process.returncode != 0:
        raise WorkerFailed(f"bench worker {process.worker_name} failed:\n{stderr.strip()[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def run_worker(name: str, args, overrides: list[str], impl: str = "optimized", timeout: float | None = None) -> dict:
    return finish_worker(start_worker(name, args, overrides, impl), timeout)


def cpu_bench(args, overrides: list[str]) -> dict:
    cfg = compose(overrides)  # a bad override fails here, before any measurement
    started = time.perf_counter()
    say(f"bench: {' '.join(overrides)} | load average {os.getloadavg()[0]:.2f}")
    run_worker("startup", args, overrides)  # fills the token cache if it was cold; the next one is timed
    startup = run_worker("startup", args, overrides)
    say(f"first training step {startup['first_step_s']:.2f} s after the job's start (epoch-0 evaluation not counted)")
    peak = run_worker("peak", args, overrides)
    say(f"{peak['peak_precision']} matmul peak: {peak['peak_flops'] / 1e9:.1f} GFLOP/s on {peak['threads']} threads")
    train = run_worker("train", args, overrides)
    say(
        f"train optimized: {train['tokens_per_s']:,.0f} tok/s {train['tokens_per_s_all']}, "
        f"peak {train['peak_mem_mb']:,.0f} MB"
    )
    baseline = {}
    if not args.no_baseline:
        baseline = run_worker("train", args, overrides, impl="baseline")
        say(
            f"train baseline:  {baseline['tokens_per_s']:,.0f} tok/s {baseline['tokens_per_s_all']}, "
            f"peak {baseline['peak_mem_mb']:,.0f} MB"
        )
    evaluation = run_worker("eval", args, overrides)
    say(f"eval optimized:  {evaluation['tokens_per_s']:,.0f} tok/s, peak {evaluation['peak_mem_mb']:,.0f} MB")
    baseline_eval = {} if args.no_baseline else run_worker("eval", args, overrides, impl="baseline")
    if baseline_eval:
        say(f"eval baseline:   {baseline_eval['tokens_per_s']:,.0f} tok/s, peak {baseline_eval['peak_mem_mb']:,.0f} MB")

    flops = flops_per_token(cfg.model)
    eval_tokens = startup["eval_windows"] * cfg.model.n_positions
    epoch_s = startup["train_tokens_per_epoch"] / train["tokens_per_s"]
    eval_s = eval_tokens / evaluation["tokens_per_s"]

    def ratio(a, b):
        return a / b if b else None

    report = {
        "config": overrides,
        "threads": peak["threads"],
        "load_average": os.getloadavg()[0],
        "flops_per_token": flops,
        "peak_flops": peak["peak_flops"],
        "peak_precision": peak["peak_precision"],
        "train_tokens_per_s": train["tokens_per_s"],
        "baseline_train_tokens_per_s": baseline.get("tokens_per_s"),
        "speedup": ratio(train["tokens_per_s"], baseline.get("tokens_per_s")),
        "mfu": train["tokens_per_s"] * flops / peak["peak_flops"],
        "baseline_mfu": baseline.get("tokens_per_s", 0) * flops / peak["peak_flops"] if baseline else None,
        "peak_mem_mb": train["peak_mem_mb"],
        "baseline_peak_mem_mb": baseline.get("peak_mem_mb"),
        "eval_tokens_per_s": evaluation["tokens_per_s"],
        "baseline_eval_tokens_per_s": baseline_eval.get("tokens_per_s"),
        "eval_peak_mem_mb": evaluation["peak_mem_mb"],
        "baseline_eval_peak_mem_mb": baseline_eval.get("peak_mem_mb"),
        "eval_tokens": eval_tokens,
        "epoch_s": epoch_s,
        "eval_s": eval_s,
        "eval_fraction_of_epoch": eval_s / epoch_s,
        "baseline_eval_fraction_of_epoch": (
            ratio(
                eval_tokens / baseline_eval["tokens_per_s"],
                startup["train_tokens_per_epoch"] / baseline["tokens_per_s"],
            )
            if baseline_eval
            else None
        ),
        "first_step_s": startup["first_step_s"],
        "train_tokens_per_s_all": train["tokens_per_s_all"],
        "baseline_train_tokens_per_s_all": baseline.get("tokens_per_s_all"),
        "bench_seconds": time.perf_counter() - started,
    }
    speedup = f"{report['speedup']:.2f}x the baseline, " if baseline else ""
    say(
        f"train: {speedup}MFU {report['mfu']:.1%}; eval of {eval_tokens:,} tokens = "
        f"{report['eval_fraction_of_epoch']:.2f} of an epoch; first step after {report['first_step_s']:.2f} s"
    )
    say(json.dumps(report))
    return report


def say(text: str) -> None:
    print(text, flush=True)


def main(argv=None) -> dict:
    from stylometry.benchmark import gpu_check  # imports this module: its workers are the check's measurements

    parser = argparse.ArgumentParser(prog="python -m stylometry.bench", description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/train.yaml, e.g. model=tiny")
    parser.add_argument("--repeats", type=int, help="timed repetitions; the median is reported (3)")
    parser.add_argument("--warmup", type=int, help="untimed training steps first (CPU 1, GPU 10)")
    parser.add_argument("--steps", type=int, help="training steps per repetition (CPU 2, GPU 10)")
    parser.add_argument("--eval-steps", type=int, help="evaluation batches per repetition (CPU 1, GPU 4)")
    parser.add_argument("--min-seconds", type=float, help="a repetition runs at least this long (CPU 0, GPU 2)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the study's loop (no ratios)")
    parser.add_argument(
        "--gpu-check",
        action="store_true",
        help="the cuda tests, then this GPU's figures and the grid's GPU-hours (docs/gpu.md)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=gpu_check.BUDGET,
        help=f"seconds the GPU check may take ({gpu_check.BUDGET}); its phases' limits scale with it",
    )
    parser.add_argument("--max-batch", type=int, default=4096, help="the GPU check's largest batch tried (4096)")
    parser.add_argument("--grid-seeds", type=int, default=10, help="seeds of the GPU check's grid (the study's 10)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=["optimized", "baseline"], default="optimized", help=argparse.SUPPRESS)
    parser.add_argument("--barrier", help=argparse.SUPPRESS)
    parser.add_argument("--barrier-jobs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_intermixed_args(argv)
    timing = gpu_check.TIMING if args.gpu_check else TIMING
    for key, value in timing.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.overrides = with_defaults(args.overrides, gpu_check.DEFAULTS if args.gpu_check else DEFAULTS)

    if args.worker:
        print(json.dumps(WORKERS[args.worker](compose(args.overrides), args)))
        return {}
    try:
        if args.gpu_check:
            raise SystemExit(gpu_check.gpu_check(args, args.overrides))
        return cpu_bench(args, args.overrides)
    except WorkerFailed as error:
        raise SystemExit(str(error)) from None
    except (ConfigError, HydraException, OmegaConfBaseException) as error:  # a bad override: before any work
        print(f"error: {first_line(error)}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
