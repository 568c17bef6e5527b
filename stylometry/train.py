"""Train one author's model, or a sweep of them; or a GPT-2 on any text, on one or many GPUs.

    python -m stylometry.train author=baum seed=0                       # one job, the study's settings
    python -m stylometry.train experiment=smoke author=baum             # seconds on a CPU
    python -m stylometry.train -m author=glob(*) seed=range(10)         # the 8 x 10 grid
    python -m stylometry.train experiment=gpt2_small data.root=/my/texts data.name=mytexts
    torchrun --nproc_per_node 8 -m stylometry.train experiment=gpt2_small data.root=/my/texts   # DDP

The run dir is the job's identity (conf/train.yaml: hydra.run.dir, hydra.sweep.subdir), so running
the same command again resumes every unfinished job and skips every complete one.
"""

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from stylometry import distributed
from stylometry.checkpoint import CheckpointError, RunMismatch, latest_checkpoint
from stylometry.config import ConfigError, register_configs, to_run_config
from stylometry.corpus import prepare_argv
from stylometry.device import place_job, usable_cores
from stylometry.rundir import STATUS, RunDirBusy
from stylometry.trainer import train, write_failed_status

log = logging.getLogger("stylometry.train")

register_configs()


def parallel_jobs(hydra_cfg) -> int:
    """How many jobs of this sweep run at once on this machine (joblib's n_jobs; 1 otherwise)."""
    n_jobs = hydra_cfg.launcher.get("n_jobs") if hydra_cfg.mode == RunMode.MULTIRUN else None
    if not n_jobs:
        return 1
    return n_jobs if n_jobs > 0 else max(1, usable_cores() + 1 + n_jobs)  # joblib: -1 is every core


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(dict_cfg: DictConfig) -> str:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    world = distributed.World()
    # Hydra's record of the job, which the trainer writes once the run dir is known to hold this run.
    record = {"config.yaml": dict_cfg, "hydra.yaml": OmegaConf.create({"hydra": hydra_cfg}),
              "overrides.yaml": OmegaConf.create(list(hydra_cfg.overrides.task))}
    try:
        cfg = to_run_config(dict_cfg)
        world = distributed.world_from_env()  # torchrun's or submitit's processes of one data-parallel job
        if world.size > 1:
            if not world.is_main:
                logging.getLogger("stylometry").setLevel(logging.WARNING)  # one progress line per epoch, rank 0's
            with distributed.process_group(cfg.device, world) as placement:
                return train(cfg, run_dir, placement, world, record)
        with place_job(cfg.device, parallel_jobs(hydra_cfg)) as placement:
            return train(cfg, run_dir, placement, record=record)
    except Exception as error:
        # One line that says what to do; the traceback goes to the run's status.json, not the screen.
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        log.error("%s: %s", type(error).__name__, message)
        # A failure once training began is recorded by the trainer. One before it is recorded in a fresh dir only:
        # a busy dir belongs to the process that holds it, and a run refused or not started keeps its own state.
        fresh = not (run_dir / STATUS).exists() and latest_checkpoint(run_dir) is None
        if fresh and not isinstance(error, (RunDirBusy, RunMismatch)) and world.is_main:
            identity = {key: OmegaConf.select(dict_cfg, path, default=None, throw_on_resolution_failure=False)
                        for key, path in [("study", "study"), ("experiment", "experiment_name"), ("variant", "variant.name"),
                                          ("author", "run_name"), ("seed", "seed")]}
            write_failed_status(run_dir, error, identity)
        if hydra_cfg.mode == RunMode.MULTIRUN:
            return "failed"  # the sweep goes on; its summary lists this job
        sys.exit(2 if isinstance(error, (ConfigError, RunDirBusy, CheckpointError)) else 1)  # 2: bad input


if __name__ == "__main__":
    try:
        sys.argv[1:] = prepare_argv(sys.argv[1:])  # the corpus's author folders become the `author` options
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    main()
