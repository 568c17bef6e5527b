"""The benchmark's driver: each measurement in a fresh process, its JSON result read back, and the lines the
benchmark prints as it goes.

    python -m stylometry.bench    # start_worker("train", ...) runs `python -m stylometry.bench --worker train ...`
"""

import json
import os
import subprocess
import sys


class WorkerFailed(RuntimeError):
    """A worker failed, or outlasted its time: the message says which, with its error's last lines."""


def worker_command(name: str, args, overrides: list[str], impl: str = "optimized", extra: tuple = ()) -> list[str]:
    """`python -m stylometry.bench --worker <name> ...`: one measurement, with the benchmark's timing and job."""
    return [
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


def start_worker(
    name: str, args, overrides: list[str], impl: str = "optimized", extra: tuple = (), env: dict | None = None
) -> subprocess.Popen:
    command = worker_command(name, args, overrides, impl, extra)
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


def say(text: str) -> None:
    print(text, flush=True)
