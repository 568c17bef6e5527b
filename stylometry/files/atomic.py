"""Files that are either whole or absent: write to a temp file beside the target, then rename."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w"):
    """Yields a file open for writing; on success it replaces `path`, on any error it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # concurrent writers of the same content: the last rename wins, whole
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
