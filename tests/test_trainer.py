"""The real trainer on a tiny model and real books: outputs, skip, resume, and refusals."""

import json

import pytest
import torch
from conftest import AUTHORS, EXTRA_SETS, TINY, metrics, same_weights, weights
from transformers import GPT2LMHeadModel

from stylometry.config.schema import ConfigError
from stylometry.runs.checkpoint import CheckpointError
from stylometry.runs.decision import should_stop
from stylometry.runs.layout import RunDirBusy, lock_run_dir
from stylometry.training.loop import learning_rate, train

EVAL_SETS = {*AUTHORS, *EXTRA_SETS}


def small_run(author: str) -> list:
    """TINY for one author, evaluated on two authors' books instead of all eleven sets: the first test checks that
    a run evaluates every set; what the others check (stopping, resuming, refusing) takes fewer evaluations."""
    other = "thompson" if author == "baum" else "baum"
    return [f"author={author}", *TINY, f"data.authors=[{author},{other}]", "author.extra_eval_sets=[]"]


def test_a_run_writes_everything_a_sweep_is_read_from(make_config, tmp_path):
    run_dir = tmp_path / "run"
    assert train(make_config("author=baum", *TINY), run_dir) == "complete"

    rows = metrics(run_dir)
    assert {d for e, d, _ in rows if e == 0} == EVAL_SETS
    assert {d for e, d, _ in rows if e == 2} == EVAL_SETS | {"train"}
    assert len(rows) == len(set((e, d) for e, d, _ in rows)) == 11 + 2 * 12
    model = GPT2LMHeadModel.from_pretrained(run_dir / "checkpoint")
    assert model.config.n_positions == 32
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["state"], status["epoch"], status["author"], status["seed"]) == ("complete", 2, "baum", 0)
    assert status["losses"]["baum"] == pytest.approx(float([r for r in rows if r[:2] == (2, "baum")][0][2]))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["held_out_books"]["baum"] not in manifest["train_books"]
    assert len(manifest["corpus_sha256"]) == 64 and manifest["torch"] == torch.__version__


def test_training_lowers_the_loss_on_real_text(make_config, tmp_path):
    run_dir = tmp_path / "run"
    train(make_config(*small_run("austen"), "stop_criteria.max_epochs=4"), run_dir)
    rows = metrics(run_dir)
    train_losses = [float(loss) for _, d, loss in rows if d == "train"]
    assert train_losses[-1] < train_losses[0]
    assert float([loss for e, d, loss in rows if (e, d) == (4, "austen")][0]) < float(
        [loss for e, d, loss in rows if (e, d) == (0, "austen")][0]
    )


def test_a_complete_run_is_skipped_and_left_as_it_was(make_config, tmp_path):
    run_dir = tmp_path / "run"
    cfg = make_config(*small_run("thompson"))
    train(cfg, run_dir)
    before = {p.name: p.read_bytes() for p in [run_dir / "metrics.csv", run_dir / "checkpoint" / "model.safetensors"]}
    assert train(cfg, run_dir) == "complete"
    assert before == {
        p.name: p.read_bytes() for p in [run_dir / "metrics.csv", run_dir / "checkpoint" / "model.safetensors"]
    }


def test_stopped_and_resumed_equals_never_stopped(make_config, tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train(make_config(*small_run("twain"), "stop_criteria.max_epochs=3"), straight)
    # Stop after one epoch (as a wall-clock limit would), then resume with the same command.
    assert (
        train(make_config(*small_run("twain"), "stop_criteria.max_epochs=3", "stop_criteria.max_seconds=0"), stopped)
        == "paused"
    )
    assert json.loads((stopped / "status.json").read_text())["state"] == "paused"
    assert train(make_config(*small_run("twain"), "stop_criteria.max_epochs=3"), stopped) == "complete"
    assert metrics(stopped) == metrics(straight)
    assert same_weights(weights(straight / "checkpoint"), weights(stopped / "checkpoint"))


def test_rows_after_the_checkpoint_are_replaced_not_duplicated(make_config, tmp_path):
    run_dir = tmp_path / "run"
    cfg = make_config(*small_run("wells"))
    train(make_config(*small_run("wells"), "stop_criteria.max_seconds=0"), run_dir)  # paused after epoch 1
    expected = metrics(run_dir)
    # A crash after the checkpoint of epoch 1 but before its rows; and stray rows of an unfinished epoch 2.
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    (run_dir / "metrics.csv").write_text(
        "\n".join([line for line in lines if not line.startswith("1,")] + ["2,train,9.9,1,1.0"]) + "\n"
    )
    train(cfg, run_dir)
    rows = metrics(run_dir)
    assert [r for r in rows if r[0] <= 1] == expected
    assert len(rows) == len({(e, d) for e, d, _ in rows})


def test_resuming_under_another_config_is_refused(make_config, tmp_path):
    run_dir = tmp_path / "run"
    train(make_config(*small_run("baum"), "stop_criteria.max_seconds=0"), run_dir)
    with pytest.raises(ConfigError, match="model.n_layer=2, not 3"):
        train(make_config(*small_run("baum"), "model.n_layer=3"), run_dir)


def test_an_unreadable_checkpoint_is_named_and_nothing_is_overwritten(make_config, tmp_path):
    run_dir = tmp_path / "run"
    train(make_config(*small_run("baum"), "stop_criteria.max_seconds=0"), run_dir)
    weights_file = run_dir / "checkpoint" / "model.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:1000])
    metrics_before = (run_dir / "metrics.csv").read_bytes()
    with pytest.raises(CheckpointError, match="model.safetensors is unreadable.*checkpoint.prev"):
        train(make_config(*small_run("baum")), run_dir)
    assert (run_dir / "metrics.csv").read_bytes() == metrics_before
    assert weights_file.stat().st_size == 1000


def test_a_busy_run_dir_is_refused(make_config, tmp_path):
    import multiprocessing

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    ready, done = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.get_context("fork").Process(target=_hold_lock, args=(run_dir, ready, done))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RunDirBusy, match="in use by another process"):
            train(make_config(*small_run("baum")), run_dir)
    finally:
        done.set()
        holder.join()
    assert not (run_dir / "metrics.csv").exists()


def _hold_lock(run_dir, ready, done):
    handle = lock_run_dir(run_dir)  # noqa: F841
    ready.set()
    done.wait(30)


def test_stop_criteria_are_the_studys(make_config):
    stop = make_config("author=baum").stop_criteria
    assert not should_stop(stop, 499, 2.0)  # converged, but fewer than 500 epochs
    assert not should_stop(stop, 500, 3.01)
    assert should_stop(stop, 500, 3.0)
    assert should_stop(stop, 10000, 5.0)


def test_learning_rate_schedules(make_config):
    constant = make_config("author=baum").optimizer
    assert learning_rate(constant, 0) == learning_rate(constant, 10**6) == 5e-5
    cosine = make_config(
        "author=baum",
        "optimizer.schedule=cosine",
        "optimizer.warmup_steps=10",
        "optimizer.decay_steps=100",
        "optimizer.min_lr=1e-6",
    ).optimizer
    assert learning_rate(cosine, 0) == pytest.approx(5e-6)
    assert learning_rate(cosine, 9) == pytest.approx(5e-5)
    assert learning_rate(cosine, 60) == pytest.approx(1e-6 + 0.5 * (5e-5 - 1e-6))
    assert learning_rate(cosine, 10**6) == pytest.approx(1e-6)
