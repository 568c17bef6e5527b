"""Train one GPT-2 per author (and seed) of a corpus, or a sweep of them; or a GPT-2 on any text.

    python -m stylometry.train author=baum seed=0                       # one model, the study's settings
    python -m stylometry.train experiment=smoke author=baum             # the same, tiny: seconds on a CPU
    python -m stylometry.train -m 'author=glob(*)' 'seed=range(10)'     # the study's grid: 8 authors x 10 seeds
    python -m stylometry.train -m 'author=glob(*)' 'seed=range(10)' variant=content           # a variant's grid
    python -m stylometry.train -m 'author=glob(*)' 'seed=range(10)' hydra/launcher=slurm      # on a SLURM cluster
    python -m stylometry.train -m 'author=glob(*)' seed=0 data.root=/path/to/your/corpus      # your own corpus
    python -m stylometry.train experiment=gpt2_small data.root=/path/to/texts data.name=mytexts   # any text

A run's dir is its identity (study, experiment, variant, author, seed), so the same command run again resumes
every unfinished job from its last checkpoint and skips every complete one (a sweep whose every job is complete
launches nothing: it prints the sweep's summary). Before Hydra creates anything, every job of the command is
composed and checked: a bad command is one line on stderr and exit code 2.
"""

import logging
import os
import shutil
import sys
import textwrap
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from stylometry.config.compose import CONF_DIR, compose_jobs, hydra_args
from stylometry.config.schema import (
    DEMO_CORPUS,
    STUDY_NOT_AUTHORS,
    ConfigError,
    first_line,
    register_configs,
)
from stylometry.data.authors import prepare_argv
from stylometry.data.corpus import author_folders, demo_corpus_note
from stylometry.runs.background_run import check_background_study, trains_background
from stylometry.runs.layout import (
    CHECKPOINT,
    LOCK,
    MANIFEST,
    METRICS,
    RUN_CONFIG,
    RUN_DIR_PATTERN,
    STATUS,
    TRAIN_LOG,
    hydra_record,
    run_dir_tail,
)
from stylometry.runs.plan import every_run_done
from stylometry.runs.status import COMPLETE, FAILED, read_status
from stylometry.runs.sweep import write_sweep_summary

log = logging.getLogger("stylometry.train")

# At import, on purpose: a launcher's jobs in other processes (joblib, submitit) import this module to unpickle
# `main`, and Hydra resolves their run dirs (`${folder_name:...}`, a resolver registered here) before `main` runs.
register_configs()

# Hydra's own flags that print something and train nothing: their commands are passed to Hydra unchecked.
HYDRA_FLAGS = ("--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc", "--resolve")
CTRL_C_EXIT = 130  # the shell's code for a command ended by Ctrl-C (128 + SIGINT)


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(dict_cfg: DictConfig) -> str:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    sweep = hydra_cfg.mode == RunMode.MULTIRUN
    log_name = f"{hydra_cfg.job.name}.log"
    new_dir = _holds_only(run_dir, {log_name}, empty_log=log_name)  # Hydra made it for this job, just now
    # The job's first line: in its log at once; on the terminal with the job's next line, so that an input the
    # job refuses before training (a tokenizer, a corpus too small) is the terminal's one line.
    untag = tag_log_lines(job_name(dict_cfg), first=f"run dir {_shown(run_dir)}")
    try:
        return _train(dict_cfg, hydra_cfg, run_dir)
    except KeyboardInterrupt:
        if sweep:
            raise  # the sweep's process says it in one line (cli below)
        status = read_status(run_dir) or {}
        if new_dir and _holds_only(run_dir, {log_name, LOCK}):
            _remove_new_dir(run_dir)
            _fail(
                "interrupted before the first checkpoint, so nothing was kept: the same command starts again",
                CTRL_C_EXIT,
            )
        _fail(
            f"interrupted at epoch {status.get('epoch', 0)}: the same command resumes {_shown(run_dir)} from its "
            "last checkpoint",
            CTRL_C_EXIT,
        )
    except Exception as error:
        bad_input = _is_bad_input(error)
        message = first_line(error) if bad_input else f"{type(error).__name__}: {first_line(error)}"
        if sweep:
            log.error("%s", message, exc_info=not bad_input)
            _record_failure(run_dir, error, dict_cfg, new_dir and _holds_only(run_dir, {log_name, LOCK}))
            return FAILED  # the sweep goes on; its summary lists this job
        if new_dir and _holds_only(run_dir, {log_name, LOCK}):
            _remove_new_dir(run_dir)  # nothing ran: no run dir is left behind
        else:
            _log_to_file(logging.ERROR, message, None if bad_input else error)
            if not bad_input:
                message += f" (traceback in {run_dir / log_name})"
        _fail(message, 2 if bad_input else 1)
    finally:
        untag()


def _train(dict_cfg: DictConfig, hydra_cfg, run_dir: Path) -> str:
    # A tokenizer named by its hub name loads from the local Hugging Face cache only: without a network,
    # transformers would otherwise retry its downloads for a minute before failing. Set for this job's process
    # (a launcher's worker too) before transformers is imported, which reads it once.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Imported here, not at the top: torch and transformers take seconds (10-17 s on a busy machine), and every
    # bad command's answer should not wait for them.
    from stylometry.config.schema import to_run_config
    from stylometry.hardware import distributed
    from stylometry.hardware.device import place_job, usable_cores
    from stylometry.training.loop import train

    record = hydra_record(dict_cfg, hydra_cfg)  # written by the trainer once the run dir is known to hold this run
    cfg = to_run_config(dict_cfg)
    world = distributed.world_from_env()  # torchrun's or submitit's processes of one data-parallel job
    if world.size > 1 and trains_background(cfg):
        raise ConfigError("init=background trains each job in one process: run it without torchrun or tasks_per_node")
    if world.size > 1:
        if not world.is_main:
            logging.getLogger("stylometry").setLevel(logging.WARNING)  # one progress line per epoch, rank 0's
        with distributed.process_group(cfg.device, world) as placement:
            return train(cfg, run_dir, placement, world, record)
    n_jobs = hydra_cfg.launcher.get("n_jobs") if hydra_cfg.mode == RunMode.MULTIRUN else None
    parallel_jobs = 1 if not n_jobs else n_jobs if n_jobs > 0 else max(1, usable_cores() + 1 + n_jobs)  # joblib's -1
    with place_job(cfg.device, parallel_jobs) as placement:
        if trains_background(cfg):  # its seed's background model first: trained here, or by another job
            from stylometry.training.background_training import train_background

            state, background = train_background(cfg, run_dir, placement)
            if state != COMPLETE:
                log.info("the background model %s is %s: the same command goes on with it", background, state)
                return state
        return train(cfg, run_dir, placement, record=record)


def job_name(dict_cfg: DictConfig) -> str:
    """`<variant>/<author or data.name>/seed=<seed>`: the job's identity, as its run dir ends."""

    def value(key):
        return OmegaConf.select(dict_cfg, key, default="?", throw_on_resolution_failure=False)

    return run_dir_tail(value("variant.name"), value("run_name"), value("seed"))


def tag_log_lines(tag: str, first: str = ""):
    """Starts every line this job logs (on the terminal and in its log file) with `tag`, so the lines of the jobs
    of a sweep, interleaved on one terminal, can be told apart. `first`, the job's first line, is logged now: in
    the log file at once, on the terminal just before the job's next line (never, if the job logs none). Returns
    the function that takes the tags off: a launcher that runs jobs one after another in one process reuses the
    handlers."""
    first_record = log.makeRecord(log.name, logging.INFO, __file__, 0, "%s", (first,), None) if first else None
    if not log.isEnabledFor(logging.INFO):
        first_record = None
    handlers = [handler for handler in logging.getLogger().handlers if handler.formatter is not None]
    for handler in handlers:
        to_file = isinstance(handler, logging.FileHandler)
        handler.setFormatter(_Tagged(tag, handler.formatter, held=None if to_file else first_record))
        if to_file and first_record is not None and first_record.levelno >= handler.level:
            handler.handle(first_record)
    return lambda: [
        handler.setFormatter(handler.formatter.inner) for handler in handlers if isinstance(handler.formatter, _Tagged)
    ]


class _Tagged(logging.Formatter):
    """Each line with the job's tag; `held`, a record held back, goes out before the next record formatted."""

    def __init__(self, tag: str, inner: logging.Formatter, held: logging.LogRecord | None = None):
        super().__init__()
        self.tag, self.inner, self.held = tag, inner, held

    def format(self, record: logging.LogRecord) -> str:
        lines = self.inner.format(record).splitlines()
        if self.held is not None:
            held, self.held = self.held, None
            lines = self.inner.format(held).splitlines() + lines
        return "\n".join(f"{self.tag} {line}" for line in lines)


def _is_bad_input(error: Exception) -> bool:
    """A config, a corpus, a tokenizer or a run dir that cannot work: the user's to fix, said in one line."""
    from stylometry.runs.checkpoint import CheckpointError
    from stylometry.runs.layout import RunDirBusy

    return isinstance(error, (ConfigError, RunDirBusy, CheckpointError))


def _record_failure(run_dir: Path, error: Exception, dict_cfg: DictConfig, before_training: bool) -> None:
    """A sweep's job that failed before training is recorded as failed in its dir, for the sweep's summary (once
    training began, the trainer records it). A busy dir belongs to the process that holds it, and a refused run
    keeps its own state."""
    from stylometry.hardware import distributed
    from stylometry.runs.checkpoint import RunMismatch
    from stylometry.runs.layout import RunDirBusy
    from stylometry.runs.status import write_failed_status

    if before_training and not isinstance(error, (RunDirBusy, RunMismatch)) and distributed.world_from_env().is_main:
        identity = {
            key: OmegaConf.select(dict_cfg, path, default=None, throw_on_resolution_failure=False)
            for key, path in [
                ("study", "study"),
                ("experiment", "experiment_name"),
                ("variant", "variant.name"),
                ("author", "run_name"),
                ("seed", "seed"),
            ]
        }
        write_failed_status(run_dir, error, identity)


def _holds_only(run_dir: Path, names: set, empty_log: str = "") -> bool:
    """The dir holds no file but these (and `empty_log`, if there, is empty)."""
    entries = list(run_dir.iterdir()) if run_dir.is_dir() else []
    return all(entry.name in names for entry in entries) and not any(
        entry.name == empty_log and entry.stat().st_size for entry in entries
    )


def _remove_new_dir(run_dir: Path) -> None:
    """Removes a run dir that Hydra created for a job that then ran nothing, and the empty folders above it up to
    the working dir (outputs/<study>/...): a failed command leaves nothing behind."""
    for handler in list(logging.getLogger().handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).parent == run_dir:
            logging.getLogger().removeHandler(handler)
            handler.close()
    shutil.rmtree(run_dir, ignore_errors=True)
    cwd = Path.cwd().resolve()
    for parent in run_dir.resolve().parents:
        if cwd not in parent.parents:
            break
        try:
            parent.rmdir()  # only an empty folder
        except OSError:
            break


def _log_to_file(level: int, message: str, error: Exception | None) -> None:
    """The run's log keeps what stderr says (a refused attempt, an error's traceback), the terminal only one line."""
    record = log.makeRecord(
        log.name,
        level,
        __file__,
        0,
        "%s",
        (message,),
        (type(error), error, error.__traceback__) if error is not None else None,
    )
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _shown(path: Path) -> Path:
    """The path as the user would type it: relative to the working dir when below it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _fail(message: str, code: int) -> None:
    print(f"error: {message}" if code != CTRL_C_EXIT else message, file=sys.stderr)
    sys.exit(code)


def check_command(argv: list[str]) -> tuple[list[str], list]:
    """The command line made ready for Hydra (the corpus's author folders as `author` options), once every job it
    would run has been composed, typed and checked, and those jobs (none for Hydra's own flags); ConfigError for
    the first that cannot run."""
    if any(arg.split("=")[0] in HYDRA_FLAGS for arg in argv):
        return prepare_argv(argv), []
    argv = prepare_argv(argv)
    args = hydra_args(argv)
    jobs = compose_jobs(args.overrides, multirun=args.multirun)
    for job in jobs:  # where another study's background is what the jobs start from, it is there before any launches
        check_background_study(job.config, job.run_dir)
    launcher = jobs[0].launcher_target
    if args.multirun and launcher.endswith("SlurmLauncher") and shutil.which("srun") is None:
        raise ConfigError(
            f"hydra/launcher={jobs[0].launcher} submits to a SLURM cluster, and this machine has none "
            "(no srun): run the command on the cluster, or here with hydra/launcher=joblib (jobs side by "
            "side) or hydra/launcher=local (one process per job)"
        )
    return argv, jobs


def help_text(argv: list[str]) -> str:
    """`--help`: the examples above, what is required, the config groups and their options as conf/ holds them,
    and where the runs go. Read from the files, without composing: it answers at once."""
    defaults = {}
    for entry in OmegaConf.load(CONF_DIR / "train.yaml").defaults:
        if isinstance(entry, DictConfig):
            group, option = next(iter(entry.items()))
            defaults[str(group).removeprefix("override ").strip("/")] = option
    root = next(
        (arg.split("=", 1)[1] for arg in argv if arg.startswith("data.root=")), os.environ.get("STYLOMETRY_DATA")
    )
    try:
        authors = ", ".join(author_folders(Path(root or DEMO_CORPUS).expanduser(), STUDY_NOT_AUTHORS))
    except ConfigError:
        authors = ""
    groups = []
    for group, default in defaults.items():
        options = [
            f"{path.stem}*" if path.stem == default else path.stem for path in sorted((CONF_DIR / group).glob("*.yaml"))
        ]
        if group == "author":  # the corpus's folders, which need no YAML (stylometry/data/corpus.py)
            options = ["a folder of data.root" + (":" if authors else "")]
            options += textwrap.wrap(authors, 100, initial_indent=" " * 17, subsequent_indent=" " * 17)
        groups.append(f"  {group:<14} {', '.join(options) if group != 'author' else chr(10).join(options)}")
    launchers = sorted({"basic", "joblib", *(path.stem for path in (CONF_DIR / "hydra" / "launcher").glob("*.yaml"))})
    groups.append(
        f"  {'hydra/launcher':<14} {', '.join(name + '*' if name == 'basic' else name for name in launchers)}"
        "  (with -m; basic: one job after another)"
    )
    now = f" [now {root}]" if root else " [now the demo corpus]"
    return f"""{__doc__.splitlines()[0]}

Usage: python -m stylometry.train [-m] [key=value ...] [group=option ...]

Examples:
{__doc__.split(chr(10) * 2)[1]}

Required:
  author          with data=corpus: one author folder of data.root (-m 'author=glob(*)' for all of them)

Where the text comes from (unset: what ships with the package):
  data.root       the corpus: one folder of .txt books per author (or set STYLOMETRY_DATA); unset, the demo
                  corpus (the study's books, each cut to its opening){now}
  data.tokenizer  a local tokenizer folder (or STYLOMETRY_TOKENIZER); unset, GPT-2's, bundled; a hub name loads
                  from the local cache

Config groups (group=option; * the default):
{chr(10).join(groups)}

Any key can be set (model.n_embd=256, data.batch_size=8, stop_criteria.max_epochs=6): see the whole config with
--cfg job, or conf/ and docs/config.md.

Outputs:
  one run        outputs/{RUN_DIR_PATTERN}/
  a sweep (-m)   multirun/{RUN_DIR_PATTERN}/, and summary.csv beside them
  <study> is the corpus folder's name (name it with study=<name>). Each run dir holds {METRICS}, {STATUS},
  {CHECKPOINT}/, {RUN_CONFIG}, {MANIFEST} and {TRAIN_LOG}; python -m stylometry.status shows them all.

Hydra's own flags: --hydra-help.
"""


def cli(argv: list[str]) -> None:
    if any(arg in ("--help", "-h") for arg in argv):
        print(help_text(argv), end="")
        return
    try:
        prepared, jobs = check_command(argv)
    except ConfigError as error:
        _fail(str(error), 2)
    notes = {demo_corpus_note(job.config.data.root) for job in jobs if job.config.data.kind == "corpus"}
    for note in notes - {None}:
        print(note, file=sys.stderr)
    try:
        if jobs and jobs[0].sweep_dir is not None and every_run_done(jobs):
            # Nothing for a launcher to do: no SLURM array whose every task finds its run complete, no worker
            # processes that import torch to find it (the tests' 6-job study run again takes 4.5 s this way, 9.9 s
            # through joblib's 2 workers: median of 3 on 2 cores).
            print(f"every job is complete: nothing to launch\n{write_sweep_summary(jobs[0].sweep_dir)}")
            return
        # @hydra.main reads its command line from sys.argv only (its wrapper takes none): the prepared one goes there.
        sys.argv[1:] = prepared
        main()
    except KeyboardInterrupt:  # a sweep's process (a single run says where it stopped itself)
        _fail("interrupted: the same command resumes every unfinished job from its last checkpoint", CTRL_C_EXIT)


if __name__ == "__main__":
    cli(sys.argv[1:])
