"""A run dir written by the trainer, read back file by file through the runs/ module that owns each file: every file
in it has an owner, and the owners' answers agree with one another and with the run's config."""

from pathlib import Path

import pytest
from conftest import STUDY_AUTHORS, STUDY_SEEDS

from stylometry.runs import layout
from stylometry.runs.checkpoint import read_training_state
from stylometry.runs.manifest import read_manifest, run_inputs
from stylometry.runs.metrics import TRAIN, read_metrics
from stylometry.runs.scalars import SCALARS, read_scalars
from stylometry.runs.status import read_status

pytestmark = pytest.mark.slow  # reads the trained study

# Each file of a finished run dir, relative to it, and the checkpoint folders' own files.
CHECKPOINT_FILES = {layout.WEIGHTS, layout.TRAINING_STATE, "config.json", "generation_config.json"}
RUN_FILES = {
    layout.METRICS,
    layout.STATUS,
    layout.MANIFEST,
    layout.RUN_CONFIG,
    layout.TRAIN_LOG,
    layout.LOCK,
    SCALARS,
    str(layout.HYDRA_CONFIG),
    str(layout.HYDRA_RUNTIME),
    str(layout.HYDRA_OVERRIDES),
}


def test_every_file_of_a_trained_run_dir_is_read_back_by_its_owner_and_they_agree(study):
    run_dir = study / "baseline" / STUDY_AUTHORS[1] / f"seed={STUDY_SEEDS[1]}"
    files = {str(path.relative_to(run_dir)) for path in run_dir.rglob("*") if path.is_file()}
    checkpoints = {layout.CHECKPOINT, layout.PREVIOUS}
    unowned = {name for name in files if name not in RUN_FILES and Path(name).parts[0] not in checkpoints}
    assert not unowned, f"files no runs/ module names: {sorted(unowned)}"
    assert RUN_FILES - {layout.LOCK} <= files
    assert {name for name in files if name.startswith(layout.CHECKPOINT + "/")} == {
        f"{layout.CHECKPOINT}/{name}" for name in CHECKPOINT_FILES
    }

    cfg = layout.read_run_config(run_dir)
    assert (cfg.author.name, cfg.seed) == (STUDY_AUTHORS[1], STUDY_SEEDS[1])
    assert layout.read_saved_config(run_dir)["seed"] == cfg.seed

    rows = read_metrics(run_dir)
    last_epoch = max(row.epoch for row in rows)
    at_last = {row.dataset for row in rows if row.epoch == last_epoch}
    assert at_last == {TRAIN, *STUDY_AUTHORS, *cfg.author.extra_eval_sets}, at_last
    assert all(isinstance(row.epoch, int) and row.loss > 0 and row.tokens > 0 for row in rows)

    status = read_status(run_dir)
    assert status["state"] == "complete" and status["epoch"] == last_epoch

    state = read_training_state(layout.latest_checkpoint(run_dir))
    assert state.epoch == last_epoch and state.step > 0
    assert {row.dataset for row in state.metric_rows} == at_last  # the checkpoint's epoch's rows, as logged
    assert state.identity["seed"] == cfg.seed

    manifest = read_manifest(run_dir)
    assert set(manifest["held_out_books"]) == set(STUDY_AUTHORS)
    assert manifest["held_out_books"][cfg.author.name] not in manifest["train_books"]
    inputs = run_inputs(run_dir, cfg)
    assert inputs.corpus_root.is_dir() and Path(inputs.tokenizer).is_dir()
    assert manifest["tokenizer"]["path"] == str(Path(inputs.tokenizer).resolve())

    scalars = read_scalars(run_dir)
    assert scalars and max(int(row["step"]) for row in scalars) <= state.step
    assert layout.TRAIN_LOG in files and (run_dir / layout.TRAIN_LOG).read_text().strip()
