"""The benchmark's job: Hydra overrides of conf/train.yaml, as `train` takes them, with the benchmark's defaults.

    python -m stylometry.bench model=tiny data.batch_size=8    # compose(with_defaults(["model=tiny", ...]))

A job the command line does not name is the CPU benchmark's reference point (DEFAULTS); the GPU check has its own.
"""

from stylometry.config.compose import compose as compose_config
from stylometry.config.compose import override_key
from stylometry.config.schema import to_run_config
from stylometry.data.authors import prepare_overrides

DEFAULTS = {"author": "baum", "device": "cpu", "data.batch_size": "4"}  # the CPU benchmark's reference point
# The CPU benchmark's timing, where the command line does not set it.
TIMING = {"repeats": 3, "warmup": 1, "steps": 2, "eval_steps": 1, "min_seconds": 0.0}


def compose(overrides: list[str]):
    # prepare_overrides: the corpus's author folders are `author` options, YAML or not
    return to_run_config(compose_config("train", prepare_overrides(overrides)))


def with_defaults(overrides: list[str], defaults: dict | None = None) -> list[str]:
    keys = {override_key(item) for item in overrides}
    defaults = DEFAULTS if defaults is None else defaults
    return [f"{key}={value}" for key, value in defaults.items() if key not in keys] + list(overrides)


def with_override(overrides: list[str], key: str, value) -> list[str]:
    """The overrides with `key` set to `value` (any earlier setting of it dropped: Hydra refuses a key twice)."""
    return [item for item in overrides if override_key(item) != key] + [f"{key}={value}"]
