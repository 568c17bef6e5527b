"""How fast a job trains and evaluates here, measured side by side with the study's original loop.

    python -m stylometry.bench                                  # the paper's model, batch 4, CPU (~5-10 min)
    python -m stylometry.bench model=tiny data.batch_size=8     # any config: Hydra overrides, as for train
    python -m stylometry.bench --no-baseline --repeats 5 author=austen seed=3

Measured, each in a fresh process (`--worker ...`) so that every phase's peak memory is its own:
  - the machine's matmul peak in the job's precision (fp32 on a CPU; square GEMMs on the job's
    threads), the denominator of MFU;
  - training tokens/s of `nll_sum` + AdamW as the trainer steps (optimized), and of the study's loop
    (baseline: `GPT2LMHeadModel` with gradient checkpointing, `model(input_ids, labels=input_ids)`,
    `torch.optim.AdamW()` with its defaults, batches from a DataLoader over Python lists of token ids);
  - evaluation tokens/s (no_grad, `data.eval_batch_size` windows), both ways;
  - time from a job's start (`trainer.train` called, imports done, token cache warm) to its first
    training step, in a scratch run dir; the epoch-0 evaluation is skipped there (it is evaluation).
Each figure is the median of `--repeats` repetitions after `--warmup` steps. From them: MFU (model
FLOPs per token x tokens/s / peak) and the cost of evaluating every evaluation text of this job (its
author, seed and extra sets, whole windows) as a fraction of one epoch's training.
The last line printed is one JSON object with every figure.
"""

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
from hydra import compose as hydra_compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from torch.utils.data import DataLoader

from stylometry import trainer
from stylometry.config import register_configs, to_run_config
from stylometry.data import BookReader, eval_windows, load_study_data, load_tokenizer, sample_windows
from stylometry.device import place_job
from stylometry.model import build_model, flops_per_token, nll_sum, optimizer_options
from stylometry.variants import build_transform, transform_key

DEFAULTS = {"author": "baum", "device": "cpu", "data.batch_size": "4"}  # the reference point
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose(overrides: List[str]):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("train", overrides=overrides)
    GlobalHydra.instance().clear()
    return to_run_config(cfg)


def with_defaults(overrides: List[str]) -> List[str]:
    keys = {item.split("=", 1)[0].lstrip("+~") for item in overrides}
    return [f"{key}={value}" for key, value in DEFAULTS.items() if key not in keys] + list(overrides)


# --- the baseline: the study's loop, as it was written ------------------------------------------------


class _Windows:
    """A map-style dataset of windows over a Python list of token ids (the study's batches)."""

    def __init__(self, token_ids: List[int], offsets: List[int], n_positions: int):
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


def baseline_batches(token_ids: List[int], n_positions: int, batch_size: int, seed: int):
    rng = random.Random(seed)
    n_windows = len(token_ids) // n_positions
    offsets = [rng.randrange(len(token_ids) - n_positions + 1) for _ in range(n_windows)]
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(_Windows(token_ids, offsets, n_positions), batch_size=batch_size, shuffle=True, generator=generator)
    while True:
        yield from loader


def baseline_step(model, optimizer, input_ids) -> float:
    loss = model(input_ids, labels=input_ids).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


# --- the optimized path: what trainer.py runs ---------------------------------------------------------


def optimized_batches(train_tokens, n_positions: int, batch_size: int, seed: int):
    rng = np.random.default_rng(seed)
    while True:
        for batch in sample_windows(train_tokens, n_positions, rng).split(batch_size):
            yield train_tokens[batch]


def optimizer_for(model, opt_cfg):
    return torch.optim.AdamW(
        model.parameters(), lr=opt_cfg.lr, betas=(opt_cfg.beta1, opt_cfg.beta2), eps=opt_cfg.eps,
        weight_decay=opt_cfg.weight_decay, **optimizer_options(next(model.parameters()).device.type),
    )


def optimized_step(model, optimizer, input_ids, placement) -> torch.Tensor:
    with placement.autocast():
        nll, n_tokens = nll_sum(model, input_ids, input_ids)
    (nll / n_tokens).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return nll.detach()  # no host sync per step; the caller syncs once per timed repetition


# --- workers: one measurement per process ----------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_repeats(run_one, tokens_per_call: int, warmup: int, repeats: int, calls: int, device) -> Dict:
    for _ in range(warmup):
        run_one()
    _synchronize(device)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            last = run_one()
        float(last)  # waits for the device
        _synchronize(device)
        rates.append(tokens_per_call * calls / (time.perf_counter() - start))
    return {"tokens_per_s": statistics.median(rates), "tokens_per_s_all": [round(r, 1) for r in rates]}


PEAK_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def worker_peak(cfg, args) -> Dict:
    """Matmul FLOP/s in the job's precision (fp32 on a CPU): the best median of square GEMMs of a few sizes."""
    with place_job(cfg.device, 1) as placement:
        device = torch.device(placement.device)
        dtype = PEAK_DTYPES[placement.precision]
        best = 0.0
        for n in (1024, 2048, 3072) if device.type == "cpu" else (4096, 8192):
            a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
            out = torch.empty(n, n, device=device, dtype=dtype)
            torch.mm(a, b, out=out)
            times = []
            for _ in range(max(3, args.repeats)):
                _synchronize(device)
                start = time.perf_counter()
                torch.mm(a, b, out=out)
                _synchronize(device)
                times.append(time.perf_counter() - start)
            best = max(best, 2 * n**3 / statistics.median(times))
        return {"peak_flops": best, "peak_precision": placement.precision, "threads": torch.get_num_threads()}


def worker_train(cfg, args) -> Dict:
    n_positions, batch_size = cfg.model.n_positions, cfg.data.batch_size
    with place_job(cfg.device, 1) as placement:
        device = torch.device(placement.device)
        generator = torch.Generator().manual_seed(cfg.seed)
        train_tokens = torch.randint(0, cfg.model.vocab_size, (cfg.data.n_train_tokens,), generator=generator)
        torch.manual_seed(cfg.seed)
        if args.impl == "baseline":
            if device.type != "cpu":
                raise SystemExit("the baseline is the study's CPU loop: benchmark it with device=cpu")
            model = baseline_model(cfg.model).train()
            optimizer = torch.optim.AdamW(model.parameters())  # the study's: torch's defaults
            batches = baseline_batches(train_tokens.tolist(), n_positions, batch_size, cfg.seed)
            step = lambda: baseline_step(model, optimizer, next(batches))  # noqa: E731
        else:
            model = build_model(cfg.model).to(device).train()
            optimizer = optimizer_for(model, cfg.optimizer)
            batches = optimized_batches(train_tokens.to(device), n_positions, batch_size, cfg.seed)
            step = lambda: optimized_step(model, optimizer, next(batches), placement)  # noqa: E731
        result = _timed_repeats(step, batch_size * n_positions, args.warmup, args.repeats, args.steps, device)
    result["peak_mem_mb"] = _peak_rss_mb()
    if device.type == "cuda":
        result["peak_gpu_mem_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


def worker_eval(cfg, args) -> Dict:
    n_positions, batch_size = cfg.model.n_positions, cfg.data.eval_batch_size
    with place_job(cfg.device, 1) as placement:
        device = torch.device(placement.device if args.impl == "optimized" else "cpu")
        torch.manual_seed(cfg.seed)
        model = (baseline_model(cfg.model) if args.impl == "baseline" else build_model(cfg.model)).to(device).eval()
        input_ids = torch.randint(0, cfg.model.vocab_size, (batch_size, n_positions), device=device)

        @torch.no_grad()
        def evaluate_batch():
            if args.impl == "baseline":
                return model(input_ids, labels=input_ids).loss
            with placement.autocast():
                return nll_sum(model, input_ids, input_ids)[0]

        result = _timed_repeats(evaluate_batch, batch_size * n_positions, 1, args.repeats, args.eval_steps, device)
    result["peak_mem_mb"] = _peak_rss_mb()
    return result


class _ReachedFirstStep(Exception):
    pass


def worker_startup(cfg, args) -> Dict:
    """The real trainer in a scratch run dir, timed from its call to its first training step.

    The epoch-0 evaluation is skipped here (it is evaluation, measured by the eval worker); all the
    rest runs as in a job: run-dir lock, tokenizer, data (token cache warm), model, optimizer, the
    epoch-0 checkpoint and manifest, the first epoch's windows.
    """
    def first_step(*_args, **_kwargs):
        raise _ReachedFirstStep(time.perf_counter() - start)

    trainer.evaluate = lambda *_args, **_kwargs: []
    trainer.nll_sum = first_step
    with place_job(cfg.device, 1) as placement, tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        try:
            trainer.train(cfg, Path(run_dir), placement)
            raise SystemExit("the trainer finished without a training step")
        except _ReachedFirstStep as reached:
            first_step_s = reached.args[0]

    # What the job evaluates and trains on per epoch (untimed; the token cache is warm).
    tokenizer = load_tokenizer(cfg.data.tokenizer)
    reader = BookReader(cfg.data, tokenizer, build_transform(cfg.variant), transform_key(cfg.variant))
    data = load_study_data(cfg.data, cfg.author.name, cfg.author.extra_eval_sets, cfg.seed, reader)
    eval_sets = [eval_windows(texts, cfg.model.n_positions) for texts in data.eval_texts.values()]
    n_positions = cfg.model.n_positions
    return {
        "first_step_s": first_step_s,
        "eval_windows": sum(len(windows.input_ids) for windows in eval_sets),
        "eval_tokens_predicted": sum(windows.n_predicted for windows in eval_sets),
        "train_tokens_per_epoch": (len(data.train_tokens) // n_positions) * n_positions,
    }


WORKERS = {"peak": worker_peak, "train": worker_train, "eval": worker_eval, "startup": worker_startup}


# --- the driver --------------------------------------------------------------------------------------


def run_worker(name: str, args, overrides: List[str], impl: str = "optimized") -> Dict:
    command = [sys.executable, "-m", "stylometry.bench", "--worker", name, "--impl", impl,
               "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--steps", str(args.steps),
               "--eval-steps", str(args.eval_steps), *overrides]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if done.returncode != 0:
        raise SystemExit(f"bench worker {name}/{impl} failed:\n{done.stderr.strip()[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(prog="python -m stylometry.bench", description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/train.yaml, e.g. model=tiny")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions; the median is reported")
    parser.add_argument("--warmup", type=int, default=1, help="untimed training steps first")
    parser.add_argument("--steps", type=int, default=2, help="training steps per repetition")
    parser.add_argument("--eval-steps", type=int, default=1, help="evaluation batches per repetition")
    parser.add_argument("--no-baseline", action="store_true", help="skip the study's loop (no ratios)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=["optimized", "baseline"], default="optimized", help=argparse.SUPPRESS)
    args = parser.parse_intermixed_args(argv)
    overrides = with_defaults(args.overrides)
    cfg = compose(overrides)  # a bad override fails here, before any measurement

    if args.worker:
        print(json.dumps(WORKERS[args.worker](cfg, args)))
        return {}

    started = time.perf_counter()
    say = lambda text: print(text, flush=True)  # noqa: E731
    say(f"bench: {' '.join(overrides)} | load average {os.getloadavg()[0]:.2f}")
    run_worker("startup", args, overrides)  # fills the token cache if it was cold; the next one is timed
    startup = run_worker("startup", args, overrides)
    say(f"first training step {startup['first_step_s']:.2f} s after the job's start (epoch-0 evaluation not counted)")
    peak = run_worker("peak", args, overrides)
    say(f"{peak['peak_precision']} matmul peak: {peak['peak_flops'] / 1e9:.1f} GFLOP/s on {peak['threads']} threads")
    train = run_worker("train", args, overrides)
    say(f"train optimized: {train['tokens_per_s']:,.0f} tok/s {train['tokens_per_s_all']}, peak {train['peak_mem_mb']:,.0f} MB")
    baseline = {}
    if not args.no_baseline:
        baseline = run_worker("train", args, overrides, impl="baseline")
        say(f"train baseline:  {baseline['tokens_per_s']:,.0f} tok/s {baseline['tokens_per_s_all']}, "
            f"peak {baseline['peak_mem_mb']:,.0f} MB")
    evaluation = run_worker("eval", args, overrides)
    say(f"eval optimized:  {evaluation['tokens_per_s']:,.0f} tok/s, peak {evaluation['peak_mem_mb']:,.0f} MB")
    baseline_eval = {} if args.no_baseline else run_worker("eval", args, overrides, impl="baseline")
    if baseline_eval:
        say(f"eval baseline:   {baseline_eval['tokens_per_s']:,.0f} tok/s, peak {baseline_eval['peak_mem_mb']:,.0f} MB")

    flops = flops_per_token(cfg.model)
    eval_tokens = startup["eval_windows"] * cfg.model.n_positions
    epoch_s = startup["train_tokens_per_epoch"] / train["tokens_per_s"]
    eval_s = eval_tokens / evaluation["tokens_per_s"]
    ratio = lambda a, b: a / b if b else None  # noqa: E731
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
            ratio(eval_tokens / baseline_eval["tokens_per_s"], startup["train_tokens_per_epoch"] / baseline["tokens_per_s"])
            if baseline_eval else None
        ),
        "first_step_s": startup["first_step_s"],
        "train_tokens_per_s_all": train["tokens_per_s_all"],
        "baseline_train_tokens_per_s_all": baseline.get("tokens_per_s_all"),
        "bench_seconds": time.perf_counter() - started,
    }
    speedup = f"{report['speedup']:.2f}x the baseline, " if baseline else ""
    say(f"train: {speedup}MFU {report['mfu']:.1%}; eval of {eval_tokens:,} tokens = "
        f"{report['eval_fraction_of_epoch']:.2f} of an epoch; first step after {report['first_step_s']:.2f} s")
    say(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
