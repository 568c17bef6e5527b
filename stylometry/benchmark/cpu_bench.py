"""The CPU benchmark: how fast a job trains and evaluates here, against the study's original loop.

    python -m stylometry.bench model=tiny data.batch_size=8    # cpu_bench(args, overrides)

Each figure is measured by a worker in its own process (workers.py); from them, MFU and the cost of
evaluating every evaluation text of the job as a fraction of one epoch's training. The last line printed
is one JSON object with every figure.
"""

import json
import os
import time

from stylometry.benchmark.driver import run_worker, say
from stylometry.benchmark.overrides import compose
from stylometry.model.gpt import flops_per_token


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
    study_loop = {}
    if not args.no_study_loop:
        study_loop = run_worker("train", args, overrides, impl="study")
        say(
            f"train study loop: {study_loop['tokens_per_s']:,.0f} tok/s {study_loop['tokens_per_s_all']}, "
            f"peak {study_loop['peak_mem_mb']:,.0f} MB"
        )
    evaluation = run_worker("eval", args, overrides)
    say(f"eval optimized:  {evaluation['tokens_per_s']:,.0f} tok/s, peak {evaluation['peak_mem_mb']:,.0f} MB")
    study_loop_eval = {} if args.no_study_loop else run_worker("eval", args, overrides, impl="study")
    if study_loop_eval:
        eval_rate, eval_peak = study_loop_eval["tokens_per_s"], study_loop_eval["peak_mem_mb"]
        say(f"eval study loop:  {eval_rate:,.0f} tok/s, peak {eval_peak:,.0f} MB")

    report = cpu_report(cfg, overrides, startup, peak, (train, study_loop), (evaluation, study_loop_eval))
    report["bench_seconds"] = time.perf_counter() - started
    speedup = f"{report['speedup']:.2f}x the study's loop, " if study_loop else ""
    say(
        f"train: {speedup}MFU {report['mfu']:.1%}; eval of {report['eval_tokens']:,} tokens = "
        f"{report['eval_fraction_of_epoch']:.2f} of an epoch; first step after {report['first_step_s']:.2f} s"
    )
    say(json.dumps(report))
    return report


def cpu_report(cfg, overrides: list[str], startup: dict, peak: dict, training: tuple, evaluating: tuple) -> dict:
    """The benchmark's figures (its JSON, but for bench_seconds) from the workers' results; training and evaluating
    are (optimized, study loop) pairs, the study loop {} where it was not run."""
    train, study_loop = training
    evaluation, study_loop_eval = evaluating
    flops = flops_per_token(cfg.model)
    eval_tokens = startup["eval_windows"] * cfg.model.n_positions
    epoch_s = startup["train_tokens_per_epoch"] / train["tokens_per_s"]
    eval_s = eval_tokens / evaluation["tokens_per_s"]

    def ratio(a, b):
        return a / b if b else None

    return {
        "config": overrides,
        "threads": peak["threads"],
        "load_average": os.getloadavg()[0],
        "flops_per_token": flops,
        "peak_flops": peak["peak_flops"],
        "peak_precision": peak["peak_precision"],
        "train_tokens_per_s": train["tokens_per_s"],
        "study_loop_train_tokens_per_s": study_loop.get("tokens_per_s"),
        "speedup": ratio(train["tokens_per_s"], study_loop.get("tokens_per_s")),
        "mfu": train["tokens_per_s"] * flops / peak["peak_flops"],
        "study_loop_mfu": study_loop.get("tokens_per_s", 0) * flops / peak["peak_flops"] if study_loop else None,
        "peak_mem_mb": train["peak_mem_mb"],
        "study_loop_peak_mem_mb": study_loop.get("peak_mem_mb"),
        "eval_tokens_per_s": evaluation["tokens_per_s"],
        "study_loop_eval_tokens_per_s": study_loop_eval.get("tokens_per_s"),
        "eval_peak_mem_mb": evaluation["peak_mem_mb"],
        "study_loop_eval_peak_mem_mb": study_loop_eval.get("peak_mem_mb"),
        "eval_tokens": eval_tokens,
        "epoch_s": epoch_s,
        "eval_s": eval_s,
        "eval_fraction_of_epoch": eval_s / epoch_s,
        "study_loop_eval_fraction_of_epoch": (
            ratio(
                eval_tokens / study_loop_eval["tokens_per_s"],
                startup["train_tokens_per_epoch"] / study_loop["tokens_per_s"],
            )
            if study_loop_eval
            else None
        ),
        "first_step_s": startup["first_step_s"],
        "train_tokens_per_s_all": train["tokens_per_s_all"],
        "study_loop_train_tokens_per_s_all": study_loop.get("tokens_per_s_all"),
    }
