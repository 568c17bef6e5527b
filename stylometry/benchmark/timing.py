"""What a benchmark worker measures with: tokens/s over timed repetitions, and peak memory.

    python -m stylometry.bench    # every figure is the median of --repeats repetitions after --warmup calls

A GPU runs asynchronously: every timing ends with a synchronization, so that it counts the work, not its launch.
"""

import resource
import statistics
import time
from collections.abc import Callable

import torch


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def gpu_memory(device) -> dict:
    if device.type != "cuda":
        return {}
    return {
        "peak_gpu_mem_mb": torch.cuda.max_memory_allocated(device) / 2**20,
        "peak_gpu_reserved_mb": torch.cuda.max_memory_reserved(device) / 2**20,
    }


def timed_repeats(
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
    synchronize(device)
    if start is not None:
        start()
    rates = []
    for _ in range(repeats):
        began, done = time.perf_counter(), 0
        while done == 0 or time.perf_counter() - began < min_seconds:
            for _ in range(calls):
                run_one()
            synchronize(device)
            done += calls
        rates.append(tokens_per_call * done / (time.perf_counter() - began))
    return {"tokens_per_s": statistics.median(rates), "tokens_per_s_all": [round(r, 1) for r in rates]}
