"""The GPU check: every CUDA path of the package run and measured on one GPU, in one command.

    python -m stylometry.bench --gpu-check            # a GPU machine, <= 10 min (docs/gpu.md, .ci/gpu-check)

`--gpu-check` runs `pytest -m cuda` (tests/test_cuda.py), then measures on the GPU, in the job's
precision: the matmul peak; 1, 2 and 4 jobs (--jobs-per-gpu) sharing the GPU at the study's batch of 16, each a
process holding a slot of `device.jobs_per_gpu` as a sweep's job does; the largest batch that fits;
and from these and the token counts of every model of the grid, the GPU-hours of the 80 models of one
variant at the study's stop criteria. Each phase has a time limit inside `--budget` seconds; the last
line is one JSON object. Where torch sees no GPU it says so in one JSON line, in seconds, and exits 0.
The measurements are the benchmark's workers (workers.py), each in its own process.
"""

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import torch

from stylometry.benchmark.driver import WorkerFailed, finish_worker, run_worker, say, start_worker
from stylometry.benchmark.overrides import compose, with_override
from stylometry.config.compose import override_key
from stylometry.config.schema import CadenceConfig, StopCriteriaConfig
from stylometry.hardware.device import choose_placement, detect
from stylometry.model.gpt import flops_per_token
from stylometry.training.cadence import Cadence

REPO = Path(__file__).resolve().parents[2]  # tests/test_cuda.py is run from the repository's clone
DEFAULTS = {"author": "baum", "device": "cuda", "data.batch_size": "16"}  # the study's batch, on a GPU
JOBS_PER_GPU = (1, 2, 4)  # jobs sharing one GPU, each its own process (the sweep's device.jobs_per_gpu): --jobs-per-gpu
# Seconds each phase may take at most, with the default --budget (a larger budget scales them all, e.g.
# for a dry run on a busy CPU). The cuda tests should take about three minutes on one GPU, most of it
# their processes' starts (a joblib sweep, a killed and resumed run) and torch.compile; a measurement
# takes seconds once its process has started (imports and CUDA: ~10 s).
BUDGET = 540  # seconds: with .ci/gpu-check's install, the check ends inside ten minutes
PHASE_SECONDS = {
    "cuda_tests": 270,
    "peak": 45,
    "grid": 120,
    "largest_batch": 90,
}
# The jobs_<n> phase (n jobs on the GPU at once): 60 s for up to three jobs, 15 s more for each job beyond (4: 75 s).
JOBS_PHASE_SECONDS = (60, 15)  # (at least, per job)
MIN_PHASE_SECONDS = 15  # a phase with less time left than this is skipped, and the report says so
# The GPU check's timing, where the command line does not set it: a GPU step of the paper's model at
# batch 16 takes milliseconds, so each repetition runs at least 2 s; the jobs' start skew is ~10 ms.
TIMING = {"repeats": 3, "warmup": 10, "steps": 10, "eval_steps": 4, "min_seconds": 2.0}
# Tolerances against the CPU's fp32, as (loss, gradients), relative. fp32 on CUDA differs from the CPU in
# summation order only. bf16 rounds to 8 significant bits (up to 2^-8 = 0.4% per rounding), fp16 to 11
# (0.05%); the CPU's own autocast gave at most 0.6% (bf16) and 0.8% (fp16) on any tensor of the
# gradients of the tiny and the paper's model, and under 0.001% on their loss, at initial weights.
PRECISION_TOLERANCE = {"fp32": (1e-5, 1e-3), "fp16": (2e-3, 2e-2), "bf16": (1e-2, 5e-2)}
# A gradient tensor's error is relative to its norm, or to this fraction of all the gradients' norm if
# that is more: a tensor whose true gradient is ~0 (the key bias: softmax ignores it) is all rounding.
GRADIENT_FLOOR = 1e-2


def precision_mismatches(
    precision: str, loss: float, gradients: dict, reference_loss: float, reference_gradients: dict
) -> list[str]:
    """What differs from the fp32 reference beyond the precision's tolerance: [] when the loss and every
    gradient (a dict name -> tensor) match."""
    loss_tolerance, gradient_tolerance = PRECISION_TOLERANCE[precision]
    problems = []
    loss_error = abs(loss - reference_loss) / abs(reference_loss)
    if not loss_error <= loss_tolerance:  # NaN fails too
        problems.append(f"loss {loss:.6f} vs {reference_loss:.6f}: relative error {loss_error:.2e} > {loss_tolerance}")
    if gradients.keys() != reference_gradients.keys():
        problems.append(f"gradients of other parameters: {sorted(gradients.keys() ^ reference_gradients.keys())}")
    total_norm = torch.stack([g.double().norm() for g in reference_gradients.values()]).norm().item()
    for name in sorted(gradients.keys() & reference_gradients.keys()):
        reference = reference_gradients[name].double()
        error = (gradients[name].double() - reference).norm().item() / max(
            reference.norm().item(), GRADIENT_FLOOR * total_norm
        )
        if not error <= gradient_tolerance:
            problems.append(f"gradient of {name}: relative error {error:.2e} > {gradient_tolerance}")
    return problems


def minimum_epochs(stop: StopCriteriaConfig) -> int:
    """The fewest epochs a model trains under these stop criteria (the study's: 500)."""
    return stop.min_epochs if stop.train_loss_threshold is not None else stop.max_epochs


def evaluations(stop: StopCriteriaConfig, cadence: CadenceConfig, epochs: int, steps_per_epoch: int) -> int:
    """How often a model that trains `epochs` epochs of `steps_per_epoch` optimizer steps is evaluated, as the
    trainer's Cadence decides: at the start, then after the steps it says (the last one's included)."""
    due_at = Cadence(stop, cadence, log_every_steps=1)
    count, step = int(due_at.at_start().evaluate), 0
    for epoch in range(1, epochs + 1):
        for batch in range(1, steps_per_epoch + 1):
            step += 1
            ended = batch == steps_per_epoch
            # The training loss meets the threshold at the last epoch: the model stops there.
            loss = stop.train_loss_threshold if ended and epoch == epochs else None
            count += due_at.after_step(step, epoch, ended, loss, lambda: False).evaluate
    return count


def grid_gpu_hours(
    models: list[dict], epochs: int, n_evaluations: int, train_tokens_per_s: float, eval_tokens_per_s: float
) -> float:
    """GPU-hours of a grid: each model (its train_tokens_per_epoch and eval_tokens) trains `epochs` epochs and
    is evaluated n_evaluations times, at one GPU's rates (the total of the jobs sharing it)."""
    train_s = sum(epochs * model["train_tokens_per_epoch"] for model in models) / train_tokens_per_s
    eval_s = sum(n_evaluations * model["eval_tokens"] for model in models) / eval_tokens_per_s
    return (train_s + eval_s) / 3600


def junit_summary(path: Path) -> dict:
    """pytest's JUnit XML as counts: passed, the failures (name: first line), the skips (name: reason), and
    the properties the tests recorded."""
    summary = {"passed": 0, "failed": [], "skipped": {}, "properties": {}}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = case.get("name")
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        if outcome is None:
            summary["passed"] += 1
        elif outcome.tag == "skipped":
            summary["skipped"][name] = outcome.get("message", "")
        else:
            summary["failed"].append(f"{name}: {(outcome.get('message') or outcome.tag).splitlines()[0][:300]}")
        for prop in case.iter("property"):
            summary["properties"].setdefault(name, {})[prop.get("name")] = prop.get("value")
    return summary


def run_cuda_tests(scratch: Path, timeout: float) -> dict:
    """`pytest -m cuda tests/test_cuda.py`, summarised; its output's last lines are printed."""
    test_file = REPO / "tests" / "test_cuda.py"
    if not test_file.exists():
        raise WorkerFailed(f"{test_file} not found: run the check from a clone of the repository")
    junit = scratch / "cuda-tests.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "cuda",
        str(test_file),
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        "-o",
        f"timeout={int(timeout * 0.6)}",
    ]
    # A session of its own: a timeout ends pytest and every process its tests started.
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        output, _ = process.communicate()
        say(output[-3000:])
        raise WorkerFailed(f"the cuda tests did not finish in {timeout:.0f} s") from None
    say("\n".join(output.strip().splitlines()[-30:]))
    if not junit.exists():
        raise WorkerFailed(f"pytest wrote no report (exit {process.returncode}): {output.strip()[-300:]}")
    return junit_summary(junit)


def run_jobs(n_jobs: int, args, overrides: list[str], scratch: Path, timeout: float) -> dict:
    """n_jobs worker processes on one GPU, each leasing a slot of device.jobs_per_gpu=n_jobs: rates per job, total."""
    barrier = scratch / f"barrier-{n_jobs}"
    barrier.mkdir()
    overrides = with_override(overrides, "device.jobs_per_gpu", n_jobs)
    overrides = with_override(overrides, "device.lease_dir", scratch / f"leases-{n_jobs}")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or "0"
    deadline = time.monotonic() + timeout
    processes = [
        start_worker(
            "job",
            args,
            overrides,
            extra=("--barrier", str(barrier), "--barrier-jobs", str(n_jobs)),
            env={"CUDA_VISIBLE_DEVICES": visible},
        )  # one GPU, whatever the machine has
        for _ in range(n_jobs)
    ]
    try:
        jobs = [finish_worker(process, max(1.0, deadline - time.monotonic())) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    train, evaluation = [job["train_tokens_per_s"] for job in jobs], [job["eval_tokens_per_s"] for job in jobs]
    return {
        "jobs_per_gpu": n_jobs,
        "devices": sorted({job["device"] for job in jobs}),
        "train_tokens_per_s_per_job": train,
        "train_tokens_per_s": sum(train),
        "eval_tokens_per_s_per_job": evaluation,
        "eval_tokens_per_s": sum(evaluation),
        "peak_gpu_mem_mb_per_job": [job.get("peak_gpu_mem_mb") for job in jobs],
    }


def phase_seconds(name: str) -> float:
    """The phase's time limit at the default --budget."""
    if name.startswith("jobs_"):
        least, per_job = JOBS_PHASE_SECONDS
        return max(least, per_job * (int(name.removeprefix("jobs_")) + 1))
    return PHASE_SECONDS[name]


def _phase(phases: dict, name: str, deadline: float, scale: float, run: Callable[[float], dict]) -> dict | None:
    """run(its time limit) within the check's budget: its result, or None with the reason in `phases`."""
    limit = min(phase_seconds(name) * scale, deadline - time.monotonic())
    if limit < MIN_PHASE_SECONDS:
        phases[name] = {"skipped": f"{max(0.0, limit):.0f} s of the time budget left"}
        say(f"gpu-check: {name} skipped ({phases[name]['skipped']})")
        return None
    began = time.monotonic()
    say(f"gpu-check: {name} (at most {limit:.0f} s)")
    try:
        result = run(limit)
    except WorkerFailed as error:
        say(str(error))
        phases[name] = {"seconds": round(time.monotonic() - began, 1), "error": str(error).strip()[-500:]}
        return None
    phases[name] = {"seconds": round(time.monotonic() - began, 1)}
    return result


def _visible_gpu(placement) -> dict:
    if not placement.device.startswith("cuda"):
        return {"device": placement.device, "gpus": 0}
    properties = torch.cuda.get_device_properties(placement.device)
    return {
        "device": properties.name,
        "gpus": torch.cuda.device_count(),
        "gpu_memory_gb": round(properties.total_memory / 2**30, 1),
    }


def gpu_check(args, overrides: list[str]) -> int:
    """The cuda tests, then the GPU's figures (module docstring); prints one JSON line; 0 if all passed."""
    started = time.monotonic()
    device_type = next(item.split("=", 1)[1] for item in overrides if override_key(item) == "device")
    if device_type in ("cuda", "auto") and not torch.cuda.is_available():
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        say(
            json.dumps(
                {
                    "gpu_check": "no_gpu",
                    "reason": f"torch {torch.__version__} ({build}) sees no CUDA GPU: "
                    "run the check on a machine with one (docs/gpu.md)",
                }
            )
        )
        return 0
    cfg = compose(overrides)  # a bad override fails here, before any measurement
    config = list(overrides)
    placement = choose_placement(cfg.device, detect())
    deadline, scale = started + args.budget, args.budget / BUDGET
    phases: dict = {}
    with tempfile.TemporaryDirectory(prefix="stylometry-gpu-check-") as scratch:
        # The check's own GPU slots: it never waits for a sweep's lease (nor a sweep for its).
        overrides = with_override(overrides, "device.lease_dir", Path(scratch) / "leases")
        grid = start_worker("grid", args, overrides)  # on the CPU, while the tests run on the GPU
        try:
            tests = _phase(phases, "cuda_tests", deadline, scale, lambda limit: run_cuda_tests(Path(scratch), limit))
            peak = _phase(
                phases, "peak", deadline, scale, lambda limit: run_worker("peak", args, overrides, timeout=limit)
            )
            jobs = {}
            for n_jobs in args.jobs_per_gpu:
                jobs[n_jobs] = _phase(
                    phases,
                    f"jobs_{n_jobs}",
                    deadline,
                    scale,
                    lambda limit, n=n_jobs: run_jobs(n, args, overrides, Path(scratch), limit),
                )
            models = _phase(phases, "grid", deadline, scale, lambda limit: finish_worker(grid, limit))
            largest = _phase(
                phases,
                "largest_batch",
                deadline,
                scale,
                lambda limit: run_worker("largest_batch", args, overrides, timeout=limit),
            )
        finally:
            if grid.poll() is None:
                grid.kill()
                grid.communicate()
    report = gpu_report(cfg, placement, config, tests, peak, jobs, largest, models, phases)
    report["seconds"] = round(time.monotonic() - started, 1)
    say_figures(report)
    say(json.dumps(report))
    return 0 if report["gpu_check"] == "passed" else 1


def gpu_report(cfg, placement, overrides, tests, peak, jobs, largest, grid, phases) -> dict:
    """The check's JSON: the figures measured, None where a phase did not run (`phases` says why)."""
    flops = flops_per_token(cfg.model)
    peak_flops = peak["peak_flops"] if peak else None

    def mfu(tokens_per_s):
        return tokens_per_s * flops / peak_flops if peak_flops and tokens_per_s else None

    measured = {n: job for n, job in jobs.items() if job}
    for job in measured.values():
        job["mfu"] = mfu(job["train_tokens_per_s"])
    one = measured.get(1, {})
    if largest:
        largest = {
            "batch_size": largest["batch_size"],
            "limited_by": largest["limited_by"],
            "train_tokens_per_s": largest["tokens_per_s"],
            "mfu": mfu(largest["tokens_per_s"]),
            "peak_gpu_mem_mb": largest.get("peak_gpu_mem_mb"),
        }
    projection = grid_projection(cfg, grid["models"], measured) if grid and measured else None
    failed = bool(tests and tests["failed"]) or any("error" in phase for phase in phases.values())
    ran_everything = tests is not None and tests["passed"] > 0 and all("skipped" not in p for p in phases.values())
    return {
        "gpu_check": "failed" if failed else "passed" if ran_everything else "incomplete",
        **_visible_gpu(placement),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "precision": placement.precision,
        "config": overrides,
        "cuda_tests": tests,
        "flops_per_token": flops,
        "peak_flops": peak_flops,
        "batch_size": cfg.data.batch_size,
        "train_tokens_per_s": one.get("train_tokens_per_s"),
        "mfu": one.get("mfu"),
        "peak_gpu_mem_mb": (one.get("peak_gpu_mem_mb_per_job") or [None])[0],
        "eval_tokens_per_s": one.get("eval_tokens_per_s"),
        "largest_batch": largest,
        "jobs": list(measured.values()),
        "grid": projection,
        "phases": phases,
    }


def grid_projection(cfg, models: list[dict], measured: dict) -> dict:
    """The grid's GPU-hours at the study's stop criteria, at each measured number of jobs per GPU, and the best."""
    epochs = minimum_epochs(cfg.stop_criteria)
    windows = models[0]["train_tokens_per_epoch"] // cfg.model.n_positions
    steps_per_epoch = math.ceil(math.ceil(windows / cfg.data.batch_size) / cfg.accumulation_steps)
    n_evaluations = evaluations(cfg.stop_criteria, cfg.cadence, epochs, steps_per_epoch)
    hours = {
        n: grid_gpu_hours(models, epochs, n_evaluations, job["train_tokens_per_s"], job["eval_tokens_per_s"])
        for n, job in measured.items()
    }
    best = min(hours, key=hours.get)
    return {
        "models": len(models),
        "epochs": epochs,
        "evaluations": n_evaluations,
        "train_tokens_per_epoch": statistics.mean(m["train_tokens_per_epoch"] for m in models),
        "eval_tokens_per_model": statistics.mean(m["eval_tokens"] for m in models),
        "gpu_hours_by_jobs_per_gpu": hours,
        "best_jobs_per_gpu": best,
        "gpu_hours": hours[best],
    }


def say_figures(report: dict) -> None:
    """The check's figures in a few lines, before its JSON."""

    def percent(fraction):
        return f"{fraction:.1%}" if fraction is not None else "?"

    if report["peak_flops"]:
        say(f"{report['precision']} matmul peak: {report['peak_flops'] / 1e12:,.1f} TFLOP/s")
    for job in report["jobs"]:
        say(
            f"{job['jobs_per_gpu']} job(s) at batch {report['batch_size']}: training {job['train_tokens_per_s']:,.0f} "
            f"tok/s in all (MFU {percent(job['mfu'])}), evaluation {job['eval_tokens_per_s']:,.0f} tok/s"
        )
    largest = report["largest_batch"]
    if largest:
        say(
            f"largest batch {largest['batch_size']} (then {largest['limited_by']}): training "
            f"{largest['train_tokens_per_s']:,.0f} tok/s (MFU {percent(largest['mfu'])})"
        )
    grid = report["grid"]
    if grid:
        say(
            f"{grid['models']} models x {grid['epochs']} epochs: {grid['gpu_hours']:,.1f} GPU-hours "
            f"({grid['best_jobs_per_gpu']} jobs per GPU)"
        )
    tests = report["cuda_tests"]
    if tests:
        say(f"cuda tests: {tests['passed']} passed, {len(tests['failed'])} failed, {len(tests['skipped'])} skipped")
    say(f"gpu check: {report['gpu_check']}")
