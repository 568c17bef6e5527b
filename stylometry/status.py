"""Where a sweep stands, and what a sweep command would do, without launching anything.

    python -m stylometry.status multirun/corpus/paper                                   # every job's state
    python -m stylometry.status --plan author='glob(*)' seed='range(10)' [experiment=smoke ...]

The first reads the run dirs alone (no scheduler): complete, running (epoch, loss, ETA, host,
device), failed (the error's first line, the log), interrupted or not started. The second takes the
overrides of a `python -m stylometry.train -m ...` command, expands the sweep as Hydra would,
composes and validates every job's config and inputs, and says which jobs would be skipped,
resumed or started. Launcher overrides (`hydra/launcher=...`) are accepted and ignored.
"""

import argparse
import sys
from pathlib import Path
from typing import List

from stylometry.sweep import format_table, sweep_states


def plan(overrides: List[str]) -> List[str]:
    """One line per job of the sweep: skip / resume / start, and its dir; raises on the first bad job."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import open_dict

    from stylometry.checkpoint import latest_checkpoint
    from stylometry.config import register_configs, to_run_config
    from stylometry.corpus import author_folders, check_corpus, prepare_overrides
    from stylometry.data import corpus_root, list_books, load_tokenizer
    from stylometry.rundir import STATUS, read_json
    from stylometry.schedule import should_stop
    from stylometry.variants import build_transform

    register_configs()
    job_overrides = [o for o in overrides if not o.lstrip("~+").startswith(("hydra/launcher", "hydra.launcher"))]
    job_overrides = prepare_overrides(job_overrides)  # the corpus's author folders are the `author` options
    conf_dir = Path(__file__).resolve().parents[1] / "conf"
    GlobalHydra.instance().clear()
    lines, checked = [], set()
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(job_overrides)
        jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
        for job in jobs:
            cfg = compose("train", overrides=list(job), return_hydra_config=True)
            run_dir = Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)
            with open_dict(cfg):
                del cfg["hydra"]
            typed = to_run_config(cfg)
            # The inputs too, once each: folders, books, tokenizer, the variant's transform.
            def check_study(data=typed.data, author=typed.author):
                root = corpus_root(data)
                if author is not None:  # data=text: the root; its files are matched at the start
                    check_corpus(root, list(data.authors) or author_folders(root, data.not_authors), data.not_authors)
                    for name in author.extra_eval_sets:
                        list_books(root / name, key=f"author {author.name}'s extra_eval_sets")

            extra_sets = tuple(typed.author.extra_eval_sets) if typed.author is not None else ()
            for key, check in [
                (("root", typed.data.root, tuple(typed.data.authors), tuple(typed.data.not_authors), extra_sets),
                 check_study),
                (("tokenizer", typed.data.tokenizer), lambda: load_tokenizer(typed.data.tokenizer)),
                (("variant", repr(typed.variant)), lambda: build_transform(typed.variant)),
            ]:
                if key not in checked:
                    check()
                    checked.add(key)
            status = read_json(run_dir / STATUS) or {}
            checkpoint = latest_checkpoint(run_dir)
            losses = status.get("losses") or {}
            if status.get("state") == "complete" and should_stop(
                    typed.stop_criteria, status.get("epoch", 0), losses.get("train"), status.get("step") or 0):
                action = "skip    (complete)"
            elif status.get("state") == "complete":
                action = f"extend  (complete at epoch {status.get('epoch')})"
            elif checkpoint:
                action = f"resume  (checkpoint at epoch {(status.get('epoch') if status else '?')})"
            else:
                action = "start"
            lines.append(f"{action:<36} {run_dir}")
    GlobalHydra.instance().clear()
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stylometry.status", description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", action="store_true", help="expand and validate a sweep's overrides instead")
    parser.add_argument("-m", "--multirun", action="store_true", help="accepted, as in the train command, and ignored")
    parser.add_argument("args", nargs="+", help="sweep dir(s), or with --plan the sweep's overrides")
    args = parser.parse_args(argv)
    try:
        if args.plan:
            lines = plan(args.args)
            counts = {word: sum(line.startswith(word) for line in lines) for word in ("skip", "extend", "resume", "start")}
            print(f"{len(lines)} jobs: {counts['skip']} to skip, {counts['extend']} to extend, {counts['resume']} to "
                  f"resume, {counts['start']} to start")
            print("\n".join(lines))
            return
        for sweep_dir in map(Path, args.args):
            if not sweep_dir.is_dir():
                raise FileNotFoundError(f"no sweep dir {sweep_dir}")
            print(f"{sweep_dir}: " + format_table(sweep_states(sweep_dir)))
    except Exception as error:
        print(f"error: {str(error).splitlines()[0] if str(error) else type(error).__name__}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
