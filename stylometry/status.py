"""Where the runs stand, and what a sweep command would do, without launching anything.

    python -m stylometry.status                                             # every run under multirun/ and outputs/
    python -m stylometry.status multirun/corpus/paper                       # one sweep
    python -m stylometry.status --plan -m 'author=glob(*)' 'seed=range(10)' [experiment=smoke ...]

The first two read the run dirs alone (no scheduler): complete, running (epoch, loss, ETA, host, device),
failed (the error's first line, the log), interrupted, or not started (a job of the sweep's command, as its
multirun.yaml records it, with no dir yet). `--plan` takes the overrides of a `python -m stylometry.train -m ...`
command, expands the sweep as Hydra would, composes and validates every job's config and inputs (corpus
folders, tokenizer, the variant's transform, and each job's books as the job checks them), and says which jobs
would be skipped, extended, resumed, started or refused, as the trainer will decide (stylometry/runs/decision.py).
Launcher overrides (`hydra/launcher=...`) are accepted and ignored. A bad command is one line on stderr and exit
code 2; output cut short by its reader (`| head`) ends quietly.
"""

import argparse
import os
import sys
from pathlib import Path

from stylometry.config.schema import ConfigError, first_line
from stylometry.runs.sweep import format_table, sweep_states

DEFAULT_DIRS = ("multirun", "outputs")  # where `python -m stylometry.train` puts sweeps and single runs
BROKEN_PIPE = 141  # the shell's code for a writer whose reader went away (128 + SIGPIPE)


def plan(overrides: list[str]) -> list[str]:
    """One line per job of the sweep: what its run dir needs and why, then the dir; ConfigError for a bad command."""
    from stylometry.runs.plan import plan_sweep

    return [_plan_line(job) for job in plan_sweep(overrides)]


def plan_text(overrides: list[str]) -> str:
    """The number of jobs of each action, then a line per job."""
    from stylometry.runs.plan import plan_sweep

    jobs = plan_sweep(overrides)
    from stylometry.runs.decision import ACTIONS, REFUSE  # imported once the sweep composes (it imports torch)

    counts = {action: sum(job.decision.action == action for job in jobs) for action in ACTIONS}
    said = [f"{n} to {action}" for action, n in counts.items() if n or action != REFUSE]  # refusals, when any
    return "\n".join([f"{len(jobs)} jobs: {', '.join(said)}", *map(_plan_line, jobs)])


def _plan_line(job) -> str:
    decision = job.decision
    action = f"{decision.action:<7} ({decision.reason})" if decision.reason else decision.action
    return f"{action:<36} {job.run_dir}"


def states_text(args: list[str]) -> str:
    """Each sweep dir's jobs and where they stand (args: sweep or run dirs; none: multirun/ and outputs/ here)."""
    dirs = [Path(arg) for arg in args] or [Path(name) for name in DEFAULT_DIRS if Path(name).is_dir()]
    if not dirs:
        return (
            f"no runs here: {Path.cwd()} has no {' or '.join(d + '/' for d in DEFAULT_DIRS)} "
            "(python -m stylometry.train makes them); or name a sweep dir"
        )
    for sweep_dir in dirs:
        if not sweep_dir.is_dir():
            raise ConfigError(f"no such dir {sweep_dir}: name a sweep dir (multirun/<study>/<experiment>) or run dir")
    return "\n".join(f"{sweep_dir}: " + format_table(sweep_states(sweep_dir)) for sweep_dir in dirs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stylometry.status", description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", action="store_true", help="expand and check a sweep's overrides instead")
    parser.add_argument("-m", "--multirun", action="store_true", help="accepted, as in the train command, and ignored")
    parser.add_argument(
        "args",
        nargs="*",
        help="run or sweep dirs (default: multirun/ and outputs/), or with --plan the sweep's overrides",
    )
    args = parser.parse_args(argv)
    try:
        print(plan_text(args.args) if args.plan else states_text(args.args))
        sys.stdout.flush()  # here, where a reader gone away (`| head`) is caught, not at exit
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        sys.exit(BROKEN_PIPE)
    except (ConfigError, OSError) as error:  # bad input: a command, a corpus, a tokenizer, a dir
        print(f"error: {first_line(error)}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
