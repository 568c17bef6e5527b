"""Faults: kills at any moment, corrupt and hostile files, a full disk, divergence, generated bad input."""

import json
import os
import pickle
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from conftest import (
    CORPUS,
    TINY,
    TOKENIZER,
    kill_when,
    metrics,
    metrics_has_epoch,
    same_weights,
    start_command,
    weights,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stylometry.config.compose import compose_jobs
from stylometry.config.schema import ConfigError
from stylometry.data.splits import load_study_data
from stylometry.data.tokenizer import load_tokenizer
from stylometry.data.tokens import BookReader
from stylometry.data.variants import build_transform, transform_key
from stylometry.data.windows import eval_windows, sample_windows
from stylometry.runs.checkpoint import CheckpointError
from stylometry.training.loop import TrainingDiverged, train

# TINY evaluated on two authors' books only (not on all eleven sets): what these tests check is where a run stops
# and how it goes on, which fewer evaluations leave as it is, in a third of the time.
RUN = [*TINY, "author=baum", "data.authors=[baum,thompson]", "author.extra_eval_sets=[]"]
KILL_RUN = [*RUN, "stop_criteria.max_epochs=4"]


def start_training(run_dir, token_cache, *overrides):
    """`python -m stylometry.train <KILL_RUN> <overrides>` into run_dir, stderr into stdout."""
    args = [*KILL_RUN, *overrides, f"hydra.run.dir={run_dir}", f"data.cache_dir={token_cache}"]
    return start_command("stylometry.train", *args, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def never_killed(tmp_path_factory, token_cache):
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    process = start_training(run_dir, token_cache)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    return run_dir


KILL_POINTS = {
    # during the first training steps, after epoch 0's checkpoint
    "during a step": lambda d: metrics_has_epoch(d, 0),
    # while a checkpoint is being written (its scratch dir exists)
    "during a checkpoint write": lambda d: metrics_has_epoch(d, 1) and (d / "checkpoint.tmp").exists(),
    # between a checkpoint's renames: checkpoint/ gone, checkpoint.prev/ there
    "during evaluation or the save of epoch 2": lambda d: (
        metrics_has_epoch(d, 1)
        and not metrics_has_epoch(d, 2)
        and json.loads((d / "status.json").read_text() or "{}").get("epoch") == 1
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_at_any_moment_then_resumed_equals_never_killed(point, never_killed, tmp_path, token_cache):
    run_dir = tmp_path / "run"
    process = start_training(run_dir, token_cache)
    kill_when(process, lambda: _safe(KILL_POINTS[point], run_dir))
    again = start_training(run_dir, token_cache)
    output, _ = again.communicate(timeout=600)
    assert again.returncode == 0, output
    assert metrics(run_dir) == metrics(never_killed)  # each (epoch, dataset) once, same values
    assert same_weights(weights(run_dir / "checkpoint"), weights(never_killed / "checkpoint"))


def _safe(condition, run_dir):
    try:
        return condition(run_dir)
    except (OSError, ValueError):  # a file caught mid-replace: not yet
        return False


@pytest.mark.slow
def test_the_same_command_twice_at_once_is_refused(tmp_path, token_cache):
    run_dir = tmp_path / "run"
    first = start_training(
        run_dir, token_cache, "stop_criteria.max_epochs=1000"
    )  # still running when the second starts
    deadline = time.time() + 300
    while not (run_dir / "metrics.csv").exists():
        assert time.time() < deadline and first.poll() is None
        time.sleep(0.05)
    second = start_training(run_dir, token_cache, "stop_criteria.max_epochs=1000")
    output, _ = second.communicate(timeout=120)
    assert second.returncode != 0
    assert "in use by another process" in output
    assert first.poll() is None  # the first run was not disturbed
    first.send_signal(signal.SIGKILL)
    first.wait()
    # Nothing was corrupted: the run resumes and finishes (a lower max_epochs ends it at once).
    again = start_training(run_dir, token_cache, "stop_criteria.max_epochs=3")
    output, _ = again.communicate(timeout=600)
    assert again.returncode == 0, output
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    rows = metrics(run_dir)
    assert len(rows) == len({(e, d) for e, d, _ in rows})


def test_a_diverging_run_fails_naming_the_epoch_and_checkpoint(make_config, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"at epoch 1; the last good checkpoint is in .*checkpoint"):
        train(make_config(*RUN, "optimizer.lr=1e30"), run_dir)
    assert len([r for r in metrics(run_dir) if r[0] == 1]) == 0  # no row of the diverged epoch


def test_a_failed_save_keeps_the_previous_checkpoint(make_config, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    train(make_config(*RUN, "stop_criteria.max_seconds=0"), run_dir)  # paused at epoch 1
    before = weights(run_dir / "checkpoint")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        train(make_config(*RUN), run_dir)
    monkeypatch.undo()
    assert same_weights(weights(run_dir / "checkpoint"), before)
    assert {r[0] for r in metrics(run_dir)} == {0, 1}  # the failed epoch's rows were never written
    assert train(make_config(*RUN), run_dir) == "complete"  # and the run goes on


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {_Exploit.marker}",))


@pytest.mark.parametrize("damage", ["truncated weights", "garbage state", "missing state", "pickled code"])
def test_a_damaged_checkpoint_is_named_never_silently_restarted(damage, make_config, tmp_path):
    run_dir = tmp_path / "run"
    train(make_config(*RUN, "stop_criteria.max_seconds=0"), run_dir)
    ckpt = run_dir / "checkpoint"
    _Exploit.marker = tmp_path / "pwned"
    if damage == "truncated weights":
        (ckpt / "model.safetensors").write_bytes((ckpt / "model.safetensors").read_bytes()[:500])
    elif damage == "garbage state":
        (ckpt / "training_state.pt").write_bytes(os.urandom(2000))
    elif damage == "missing state":
        (ckpt / "training_state.pt").unlink()
    else:
        (ckpt / "training_state.pt").write_bytes(pickle.dumps({"identity": _Exploit()}))
    bad_file = "model.safetensors" if damage == "truncated weights" else "training_state.pt"
    metrics_before = (run_dir / "metrics.csv").read_bytes()
    with pytest.raises(
        CheckpointError, match=f"{bad_file} is unreadable .*move checkpoint/ aside to resume from checkpoint.prev/"
    ):
        train(make_config(*RUN), run_dir)
    assert not _Exploit.marker.exists()  # nothing from the file ran
    assert (run_dir / "metrics.csv").read_bytes() == metrics_before
    # Following the message's advice resumes from the previous checkpoint (epoch 0).
    ckpt.rename(run_dir / "bad-checkpoint")
    assert train(make_config(*RUN), run_dir) == "complete"
    assert [r[:2] for r in metrics(run_dir)].count((1, "train")) == 1


# Generated bad input: every corpus either loads into what training needs, or fails with a ConfigError
# before training; no other exception, and nothing in between.
book_bytes = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    st.text(max_size=400).map(lambda s: s.encode("utf-8")),
    st.sampled_from([b"\xff\xfe\x00bad", "the end.".encode("utf-16")]),
)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(str(TOKENIZER))  # loaded once: every example reads with it


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    corpus=st.dictionaries(st.sampled_from(["a", "b"]), st.lists(book_bytes, min_size=0, max_size=3), min_size=2),
    n_train_tokens=st.integers(2, 300),
    n_positions=st.integers(2, 64),
)
def test_any_corpus_loads_or_fails_before_training(
    corpus, n_train_tokens, n_positions, make_config, tmp_path_factory, tokenizer
):
    root = tmp_path_factory.mktemp("corpus")
    for author, books in corpus.items():
        (root / author).mkdir()
        for i, content in enumerate(books):
            (root / author / f"{i}.txt").write_bytes(content)
    cfg = make_config(
        "author=baum",
        "author.name=a",
        "author.extra_eval_sets=[]",
        "experiment=smoke",
        f"data.root={root}",
        "data.authors=[a,b]",
        f"data.n_train_tokens={n_train_tokens}",
        f"model.n_positions={n_positions}",
    )
    assert cfg.data.tokenizer == str(TOKENIZER)
    reader = BookReader(cfg.data, tokenizer, build_transform(cfg.variant), transform_key(cfg.variant))
    try:
        data = load_study_data(cfg.data, "a", [], cfg.seed, reader)
        windows = sample_windows(
            torch.from_numpy(data.train_tokens.astype(np.int64)), n_positions, np.random.default_rng(0)
        )
    except ConfigError as error:
        assert "\n" not in str(error)
        return
    assert len(data.train_tokens) == n_train_tokens and len(windows) >= 1
    for texts in data.eval_texts.values():
        assert eval_windows(texts, n_positions).n_predicted >= 1  # every evaluation set has a loss


@settings(max_examples=60, deadline=None)
@given(
    n_embd=st.integers(-2, 64),
    n_head=st.integers(-1, 9),
    lr=st.floats(-1, 1, allow_nan=False),
    name=st.text(min_size=1, max_size=12),
    dropout=st.floats(-1, 2, allow_nan=False),
)
def test_any_config_value_is_accepted_or_named(n_embd, n_head, lr, name, dropout):
    """The command line composed as `python -m stylometry.train` composes it (compose_jobs): either a config whose
    rules hold, or a ConfigError of one line naming the setting at fault. Any other exception fails, Hydra's and
    OmegaConf's included: a name the override grammar refuses (a quote, a backslash) is a one-line error too."""
    settings_given = {
        "model.n_embd": n_embd,
        "model.n_head": n_head,
        "optimizer.lr": lr,
        "model.dropout": dropout,
        "variant.name": f"'{name}'",
    }
    overrides = ["author=baum", f"data.root={CORPUS}", *(f"{key}={value}" for key, value in settings_given.items())]
    try:
        [job] = compose_jobs(overrides, multirun=False)
    except ConfigError as error:
        message = str(error)
        assert message and "\n" not in message
        assert any(key in message for key in settings_given), message
        return
    cfg = job.config
    assert cfg.model.n_embd % cfg.model.n_head == 0 and cfg.optimizer.lr > 0 and 0 <= cfg.model.dropout < 1
    assert "/" not in cfg.variant.name and ".." not in cfg.variant.name


def test_a_row_cut_by_a_kill_is_dropped_on_resume(make_config, tmp_path):
    run_dir = tmp_path / "run"
    train(make_config(*RUN, "stop_criteria.max_seconds=0"), run_dir)  # paused at epoch 1
    expected = metrics(run_dir)
    with open(run_dir / "metrics.csv", "a") as f:
        f.write("0,bau")  # a cut append whose epoch field reads as an epoch before the checkpoint
    train(make_config(*RUN), run_dir)
    rows = metrics(run_dir)
    assert rows[: len(expected)] == expected and all(loss for _, _, loss in rows)
    assert len(rows) == len(set((e, d) for e, d, _ in rows))
