"""Where the runs stand, and what a sweep command would do, without launching anything.

    python -m stylometry.status                                             # every run under multirun/ and outputs/
    python -m stylometry.status multirun/corpus/paper                       # one sweep
    python -m stylometry.status --plan -m 'author=glob(*)' 'seed=range(10)' [experiment=smoke ...]

The first two read the run dirs alone (no scheduler): complete, running (epoch, loss, ETA, host, device),
failed (the error's first line, the log), interrupted or not started. `--plan` takes the overrides of a
`python -m stylometry.train -m ...` command, expands the sweep as Hydra would, composes and validates every
job's config and inputs (corpus folders, tokenizer, the variant's transform), and says which jobs would be
skipped, extended, resumed or started. Launcher overrides (`hydra/launcher=...`) are accepted and ignored.
A bad command is one line on stderr and exit code 2.
"""

import argparse
import sys
from pathlib import Path

from stylometry.config.schema import ConfigError, first_line
from stylometry.runs.layout import latest_checkpoint
from stylometry.runs.sweep import format_table, sweep_states

DEFAULT_DIRS = ("multirun", "outputs")  # where `python -m stylometry.train` puts sweeps and single runs


def plan(overrides: list[str]) -> list[str]:
    """One line per job of the sweep: skip / extend / resume / start, and its dir; ConfigError for the first bad job."""
    from stylometry.config.compose import compose_jobs
    from stylometry.data.corpus import prepare_overrides
    from stylometry.runs.status import read_status
    from stylometry.training.cadence import should_stop

    job_overrides = [o for o in overrides if not o.lstrip("~+").startswith(("hydra/launcher", "hydra.launcher"))]
    jobs = compose_jobs(prepare_overrides(job_overrides), multirun=True)  # the config errors first: no torch yet
    # The inputs, once each: folders and books, the tokenizer, the variant's transform. Imported here: the
    # tokenizer's loading imports transformers and torch (seconds), which a config error never waits for.
    from stylometry.data.tokens import load_tokenizer
    from stylometry.data.variants import build_transform

    checked, lines = set(), []
    for job in jobs:
        cfg = job.config
        extra_sets = tuple(cfg.author.extra_eval_sets) if cfg.author is not None else ()
        for key, check, argument in [
            (
                ("root", cfg.data.root, tuple(cfg.data.authors), tuple(cfg.data.not_authors), extra_sets),
                _check_corpus,
                cfg,
            ),
            (("tokenizer", cfg.data.tokenizer), load_tokenizer, cfg.data.tokenizer),
            (("variant", repr(cfg.variant)), build_transform, cfg.variant),
        ]:
            if key not in checked:
                check(argument)
                checked.add(key)
        status = read_status(job.run_dir) or {}
        losses = status.get("losses") or {}
        if status.get("state") == "complete" and should_stop(
            cfg.stop_criteria, status.get("epoch", 0), losses.get("train"), status.get("step") or 0
        ):
            action = "skip    (complete)"
        elif status.get("state") == "complete":
            action = f"extend  (complete at epoch {status.get('epoch')})"
        elif latest_checkpoint(job.run_dir):
            action = f"resume  (checkpoint at epoch {status.get('epoch', '?')})"
        else:
            action = "start"
        lines.append(f"{action:<36} {job.run_dir}")
    return lines


def _check_corpus(cfg) -> None:
    """The corpus's folders and books (data=text: its root; the files are matched when the job starts)."""
    from stylometry.data.corpus import author_folders, check_corpus
    from stylometry.data.tokens import corpus_root, list_books

    root = corpus_root(cfg.data)
    if cfg.author is not None:
        check_corpus(root, list(cfg.data.authors) or author_folders(root, cfg.data.not_authors), cfg.data.not_authors)
        for name in cfg.author.extra_eval_sets:
            list_books(root / name, key=f"author {cfg.author.name}'s extra_eval_sets")


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
        if args.plan:
            lines = plan(args.args)
            counts = {
                word: sum(line.startswith(word) for line in lines) for word in ("skip", "extend", "resume", "start")
            }
            print(
                f"{len(lines)} jobs: {counts['skip']} to skip, {counts['extend']} to extend, {counts['resume']} to "
                f"resume, {counts['start']} to start"
            )
            print("\n".join(lines))
            return
        dirs = [Path(arg) for arg in args.args] or [Path(name) for name in DEFAULT_DIRS if Path(name).is_dir()]
        if not dirs:
            print(
                f"no runs here: {Path.cwd()} has no {' or '.join(d + '/' for d in DEFAULT_DIRS)} "
                "(python -m stylometry.train makes them); or name a sweep dir"
            )
            return
        for sweep_dir in dirs:
            if not sweep_dir.is_dir():
                raise ConfigError(
                    f"no such dir {sweep_dir}: name a sweep dir (multirun/<study>/<experiment>) or run dir"
                )
            print(f"{sweep_dir}: " + format_table(sweep_states(sweep_dir)))
    except KeyboardInterrupt:
        sys.exit(130)
    except (ConfigError, OSError) as error:  # bad input: a command, a corpus, a tokenizer, a dir
        print(f"error: {first_line(error)}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
