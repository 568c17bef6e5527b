"""What an attribution computes from the study's held-out books and keeps for the next one: tables in the study's
token cache (data.cache_dir) under one key per study, models and score, so a retrained model or another score is
another table. A cache that cannot be written or read is only slower: the table is computed again.

    python -m stylometry.attribute multirun/mycorpus/small letter.txt --out attribution/letter
"""

import hashlib
import json
import logging
from pathlib import Path

import pandas as pd

from stylometry.files.atomic import atomic_file
from stylometry.runs.layout import WEIGHTS
from stylometry.runs.study import Study

log = logging.getLogger("stylometry.attribute")


def kept_key(study: Study, *settings) -> str:
    """A hash of the study's models' final weights (path, time written; the impostors' too) and the settings the
    tables depend on."""
    models = [
        (str(model.checkpoint.resolve()), (model.checkpoint / WEIGHTS).stat().st_mtime_ns)
        for model in [*study.models, *study.impostors]
    ]
    return hashlib.sha256(json.dumps([models, *settings]).encode()).hexdigest()[:32]


def kept_path(study: Study, key: str, table: str) -> Path:
    """Where the study's table `table` is kept under `key`."""
    return Path(study.cfg.data.cache_dir).expanduser() / "held_out_curves" / f"{key}{table}.csv"


def read_kept(path: Path, columns: list[str], whole_numbers: tuple[str, ...] = ()) -> pd.DataFrame | None:
    """The kept table, or None where it is absent, unreadable or of other columns (computed again); `whole_numbers`:
    columns read as nullable integers."""
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError):
        return None
    if list(table.columns) != columns:
        return None
    for column in whole_numbers:
        table[column] = table[column].astype("Int64")
    return table


def keep(table: pd.DataFrame, path: Path, what: str) -> None:
    """Writes the table whole; where the cache is read-only, says so and goes on."""
    try:
        with atomic_file(path) as f:
            table.to_csv(f, index=False)
    except OSError as error:
        log.warning("the %s is not kept (%s): the next attribution computes it again", what, error)
