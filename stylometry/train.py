"""Train one author's model, or a sweep of them.

    python -m stylometry.train author=baum seed=0                       # one job, the study's settings
    python -m stylometry.train experiment=smoke author=baum             # seconds on a CPU
    python -m stylometry.train -m author=glob(*) seed=range(10)         # the 8 x 10 grid

The run dir is the job's identity (conf/train.yaml: hydra.run.dir, hydra.sweep.subdir), so running
the same command again resumes every unfinished job and skips every complete one.
"""

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from stylometry.config import register_configs, to_run_config
from stylometry.rundir import METRICS, STATUS, RunDirBusy
from stylometry.trainer import train, write_failed_status

log = logging.getLogger("stylometry.train")

register_configs()


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(dict_cfg: DictConfig) -> str:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        cfg = to_run_config(dict_cfg)
        return train(cfg, run_dir)
    except Exception as error:
        # One line that says what to do; the traceback goes to the job's log file, not the screen.
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        log.debug("traceback", exc_info=True)
        log.error("%s: %s", type(error).__name__, message)
        # A busy dir belongs to the process that holds it; any other failure is recorded in the run's status.
        if not isinstance(error, RunDirBusy) and ((run_dir / STATUS).exists() or (run_dir / METRICS).exists()):
            write_failed_status(run_dir, error)
        if hydra_cfg.mode == RunMode.MULTIRUN:
            return "failed"  # the sweep goes on; its summary lists this job
        sys.exit(1)


if __name__ == "__main__":
    main()
