"""How fast a job trains and evaluates here, against the study's original loop.

    python -m stylometry.bench                                  # the paper's model, batch 4, CPU (~5-10 min)
    python -m stylometry.bench model=tiny data.batch_size=8     # any config: Hydra overrides, as for train
    python -m stylometry.bench --no-study-loop --repeats 5 author=austen seed=3
    python -m stylometry.bench --gpu-check                      # the GPU check: stylometry/benchmark/gpu_check.py

Measured, each in a fresh process (`--worker ...`) so that every phase's peak memory is its own:
  - the machine's matmul peak in the job's precision (fp32 on a CPU, bf16 on most GPUs; square GEMMs
    on the job's threads), the denominator of MFU;
  - training tokens/s of the trainer's step (`nll_sum`, the trainer's optimizer step) (optimized), and
    of the study's loop (`GPT2LMHeadModel` with gradient checkpointing,
    `model(input_ids, labels=input_ids)`, `torch.optim.AdamW()` with its defaults, batches from a
    DataLoader over Python lists of token ids);
  - evaluation tokens/s (`stylometry.model.evaluate` over `data.eval_batch_size` windows), both ways;
  - time from a job's start (`trainer.train` called, imports done, token cache warm) to its first
    training step, in a scratch run dir; the epoch-0 evaluation is skipped there (it is evaluation).
Each figure is the median of `--repeats` repetitions after `--warmup` steps. From them: MFU (model
FLOPs per token x tokens/s / peak) and the cost of evaluating every evaluation text of this job (its
author, seed and extra sets, whole windows) as a fraction of one epoch's training.
The last line printed is one JSON object with every figure.

The work is stylometry.benchmark's (cpu_bench.py, gpu_check.py; workers.py measures, driver.py starts the
workers); this module parses the command line and calls it.
"""

import argparse
import json
import sys

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from stylometry.benchmark import gpu_check
from stylometry.benchmark.cpu_bench import cpu_bench
from stylometry.benchmark.driver import WorkerFailed
from stylometry.benchmark.overrides import DEFAULTS, TIMING, compose, with_defaults
from stylometry.benchmark.workers import WORKERS
from stylometry.config.arguments import CommandParser
from stylometry.config.schema import ConfigError, first_line

USAGE = "usage: python -m stylometry.bench [<override> ...] [--repeats N] [--no-study-loop] [--gpu-check]"


def job_counts(text: str) -> tuple[int, ...]:
    """--jobs-per-gpu's comma-separated counts, e.g. 1,2,4."""
    try:
        counts = tuple(int(count) for count in text.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of job counts (1 or more): 1,2,4")
    return counts


def parse_args(argv=None) -> argparse.Namespace:
    """The command line, with the CPU benchmark's (or the GPU check's) timing and job where it sets none."""
    parser = CommandParser(prog="python -m stylometry.bench", description=__doc__.split("\n")[0], usage_line=USAGE)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/train.yaml, e.g. model=tiny")
    parser.add_argument("--repeats", type=int, help="timed repetitions; the median is reported (3)")
    parser.add_argument("--warmup", type=int, help="untimed training steps first (CPU 1, GPU 10)")
    parser.add_argument("--steps", type=int, help="training steps per repetition (CPU 2, GPU 10)")
    parser.add_argument("--eval-steps", type=int, help="evaluation batches per repetition (CPU 1, GPU 4)")
    parser.add_argument("--min-seconds", type=float, help="a repetition runs at least this long (CPU 0, GPU 2)")
    parser.add_argument("--no-study-loop", action="store_true", help="skip the study's loop (no ratios)")
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
    parser.add_argument(
        "--jobs-per-gpu",
        type=job_counts,
        default=gpu_check.JOBS_PER_GPU,
        help="the GPU check's numbers of jobs sharing one GPU, each measured at once (1,2,4)",
    )
    parser.add_argument("--grid-seeds", type=int, default=10, help="seeds of the GPU check's grid (the study's 10)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=["optimized", "study"], default="optimized", help=argparse.SUPPRESS)
    parser.add_argument("--barrier", help=argparse.SUPPRESS)
    parser.add_argument("--barrier-jobs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_intermixed_args(argv)
    timing = gpu_check.TIMING if args.gpu_check else TIMING
    for key, value in timing.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.overrides = with_defaults(args.overrides, gpu_check.DEFAULTS if args.gpu_check else DEFAULTS)
    return args


def main(argv=None) -> dict:
    """The CPU benchmark's figures ({} for a worker, whose result is its printed JSON line); the GPU check exits."""
    args = parse_args(argv)
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
