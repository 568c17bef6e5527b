"""An append-only CSV log, trimmed back to a checkpoint on resume: a run's per-epoch losses
(stylometry/runs/metrics.py) and per-step scalars (stylometry/runs/scalars.py), whose modules own their files.

Rows are appended and fsynced as the run goes. A kill can cut the last row in half; `keep` rewrites the
file (atomically) with only the whole rows it is told to keep, which is how a resume drops the rows written
after its checkpoint, so no row is ever missing or written twice.
"""

import csv
import os
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Sequence

from stylometry.files.atomic import atomic_file


class CsvLog:
    def __init__(self, path: Path, fields: Sequence[str], is_whole: Callable[[Dict], bool]):
        """is_whole(row): whether a row read back is whole (every field present and well-formed)."""
        self.path, self.fields, self.is_whole = path, list(fields), is_whole

    def append(self, rows: Iterable[Dict]) -> None:
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields)
            if new:
                writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> List[Dict]:
        if not self.path.exists():
            return []
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def keep(self, wanted: Callable[[Dict], bool]) -> None:
        """Keeps the whole rows for which wanted(row) holds; drops the others and any row cut by a kill."""
        if not self.path.exists():
            return
        rows = self.read()
        kept = [row for row in rows if self.is_whole(row) and wanted(row)]
        if len(kept) == len(rows):
            return
        with atomic_file(self.path) as f:
            writer = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(kept)
