"""General GPT training on any folder of text: the gpt2_smoke path with a few of Baum's books, real trainer."""

import csv
import json
import math
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from conftest import CORPUS, REPO, TOKENIZER, metrics, run_command, same_weights, start_command, weights
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from transformers import GPT2Config, GPT2LMHeadModel

from stylometry.config.schema import ConfigError
from stylometry.data.splits import load_text_data
from stylometry.data.tokenizer import load_tokenizer
from stylometry.data.tokens import BookReader
from stylometry.data.variants import build_transform, transform_key
from stylometry.data.windows import eval_windows
from stylometry.model.evaluate import evaluate
from stylometry.training.loop import learning_rate, train

BOOKS = ["22566.txt", "26624.txt", "30852.txt"]
# gpt2_smoke: tiny model, batches of 4 x 64 tokens, 2 per step, cosine schedule, 12 steps, evaluation and
# checkpoints every 4 steps, the best kept.
TEXT_RUN = [
    "experiment=gpt2_smoke",
    f"data.root={CORPUS / 'baum'}",
    f"data.files=[{','.join(BOOKS)}]",
    "data.name=baum",
    "device=cpu",
]
# Epochs of 25 windows (4 steps, the last of one batch), checkpoints every 3 steps: some mid-epoch, some not.
SHORT_EPOCHS = ["data.n_train_tokens=1600", "cadence.checkpoint_every_steps=3", "cadence.eval_every_steps=5"]


def scalars(run_dir):
    with open(run_dir / "scalars.csv", newline="") as f:
        return [(int(r["step"]), int(r["epoch"]), r["name"], float(r["value"])) for r in csv.DictReader(f)]


def series(run_dir, name):
    return {step: value for step, _, n, value in scalars(run_dir) if n == name}


def tensorboard_scalars(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {tag: sorted((e.step, e.value) for e in events.Scalars(tag)) for tag in events.Tags()["scalars"]}


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, token_cache):
    """One gpt2_smoke run with TensorBoard, shared by the tests that read its outputs."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        from stylometry.config.schema import to_run_config

        cfg = to_run_config(
            compose(
                "train",
                overrides=[
                    f"data.tokenizer={TOKENIZER}",
                    f"data.cache_dir={token_cache}",
                    *TEXT_RUN,
                    "logger=tensorboard",
                ],
            )
        )
    GlobalHydra.instance().clear()
    run_dir = tmp_path_factory.mktemp("text") / "run"
    assert train(cfg, run_dir) == "complete"
    return cfg, run_dir


def test_a_text_run_logs_validation_perplexity_lr_and_grad_norm(text_run):
    cfg, run_dir = text_run
    val = series(run_dir, "val/loss")
    assert sorted(val) == [0, 4, 8, 12]  # at the start, then every 4 steps
    perplexity = series(run_dir, "val/perplexity")
    assert all(perplexity[step] == pytest.approx(math.exp(loss), rel=1e-12) for step, loss in val.items())
    lr = series(run_dir, "train/lr")
    assert sorted(lr) == list(range(1, 13))  # logger.every_steps=1 in gpt2_smoke
    assert all(lr[step] == pytest.approx(learning_rate(cfg.optimizer, step - 1)) for step in lr)
    assert lr[1] == pytest.approx(5e-4) and lr[2] == pytest.approx(1e-3)  # warmup over 2 steps
    assert all(lr[step + 1] < lr[step] for step in range(3, 12)) and lr[12] > cfg.optimizer.min_lr  # cosine decay
    grad_norm = series(run_dir, "train/grad_norm")
    assert sorted(grad_norm) == list(range(1, 13)) and all(0 < g < 100 for g in grad_norm.values())
    assert len(series(run_dir, "train/loss")) == 12
    assert val[12] < val[0]  # it learns
    rows = metrics(run_dir)  # the per-epoch table: epoch 0, then the (partial) epoch the step budget ended
    assert [(e, d) for e, d, _ in rows] == [(0, "val"), (1, "train"), (1, "val")]
    assert float(rows[-1][2]) == val[12]
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["state"], status["step"], status["author"]) == ("complete", 12, "baum")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["train_files"] == manifest["val_files"] == BOOKS  # val_split=fraction: each file's last 10%


def test_a_resumed_runs_event_file_is_read_after_the_earlier_ones(tmp_path):
    """TensorBoard reads event files in name order, and names made in one second compare their counters as text
    ("10" before "9"): a resumed run's file must come after every earlier one, or its purge is undone."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from stylometry.config.schema import LoggerConfig
    from stylometry.runs.scalars import ScalarLogger

    for resume_step in (None, 1, 2):  # three writers in quick succession, as a run paused after every step
        logger = ScalarLogger(tmp_path, LoggerConfig(name="tensorboard"), resume_step)
        logger.log(resume_step + 1 if resume_step else 1, 0, {"train/loss": float(resume_step or 0)})
        logger.log((resume_step or 0) + 2, 0, {"train/loss": 9.0})  # after the next checkpoint: purged on resume
        logger.close()
    names = [path.name for path in tmp_path.glob("events.out.tfevents.*")]
    seconds = [int(name.split(".")[3]) for name in sorted(names)]
    assert len(names) == 3 and seconds == sorted(set(seconds))  # each in a later second than the one before
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(1, 0.0), (2, 1.0), (3, 2.0), (4, 9.0)]


def test_tensorboard_events_hold_the_same_scalars(text_run):
    _, run_dir = text_run
    assert list(run_dir.glob("events.out.tfevents.*"))
    events = tensorboard_scalars(run_dir)
    assert {"train/loss", "train/lr", "train/grad_norm", "val/loss", "val/perplexity"} <= events.keys()
    for name, values in events.items():
        assert values == [
            (step, pytest.approx(value, rel=1e-6)) for step, value in sorted(series(run_dir, name).items())
        ]


@pytest.mark.slow  # a second run, up to the best step
def test_the_best_checkpoint_holds_the_lowest_validation_loss(text_run, make_config, tmp_path):
    cfg, run_dir = text_run
    best = json.loads((run_dir / "checkpoint.best" / "best.json").read_text())
    val = series(run_dir, "val/loss")
    assert (best["dataset"], best["loss"]) == ("val", min(val.values()))
    assert best["step"] == min(step for step, loss in val.items() if loss == best["loss"])
    model = GPT2LMHeadModel.from_pretrained(run_dir / "checkpoint.best")
    reader = BookReader(
        cfg.data, load_tokenizer(cfg.data.tokenizer), build_transform(cfg.variant), transform_key(cfg.variant)
    )
    data = load_text_data(cfg.data, cfg.seed, reader, 50256)
    from stylometry.hardware.device import Placement

    rows = evaluate(model, {"val": eval_windows(data.eval_texts["val"], 64)}, 16, Placement("cpu", "fp32"))
    assert rows[0].loss == pytest.approx(best["loss"], abs=2e-6)
    # A run stopped at the best step ends with exactly those weights.
    stopped = tmp_path / "stopped"
    train(make_config(*TEXT_RUN, f"stop_criteria.max_steps={best['step']}"), stopped)
    assert same_weights(weights(stopped / "checkpoint"), weights(run_dir / "checkpoint.best"))


def test_a_worse_evaluation_keeps_the_earlier_best(make_config, tmp_path):
    # A learning rate far too high: the validation loss rises after the first steps.
    run_dir = tmp_path / "run"
    train(
        make_config(
            *TEXT_RUN,
            "optimizer.lr=0.3",
            "optimizer.grad_clip=null",
            "stop_criteria.max_steps=4",
            "cadence.eval_every_steps=2",
            "cadence.checkpoint_every_steps=2",
        ),
        run_dir,
    )
    val = series(run_dir, "val/loss")
    best_step = min(val, key=lambda step: (val[step], step))
    assert best_step < 4, f"the loss never rose: {val}"
    assert json.loads((run_dir / "checkpoint.best" / "best.json").read_text())["step"] == best_step
    assert not same_weights(weights(run_dir / "checkpoint.best"), weights(run_dir / "checkpoint"))


@pytest.mark.slow  # 13 runs of the trainer: one straight, twelve paused after a step each
def test_paused_after_every_step_then_resumed_equals_uninterrupted(make_config, tmp_path):
    straight, paused = tmp_path / "straight", tmp_path / "paused"
    run = [*TEXT_RUN, *SHORT_EPOCHS, "model.dropout=0.1", "logger=tensorboard"]  # dropout: the RNG states resume too
    assert train(make_config(*run), straight) == "complete"
    # max_seconds=0 pauses after each step (checkpoint_every_steps is set), mid-epoch or at an epoch's end.
    states = []
    while not states or states[-1] != "complete":
        states.append(train(make_config(*run, "stop_criteria.max_seconds=0"), paused))
        assert len(states) <= 13
    assert states == ["paused"] * 11 + ["complete"]
    assert metrics(paused) == metrics(straight)
    assert {e for e, d, _ in metrics(straight) if d == "train"} == {1, 2, 3}
    assert scalars(paused) == scalars(straight)
    assert same_weights(weights(paused / "checkpoint"), weights(straight / "checkpoint"))
    assert same_weights(weights(paused / "checkpoint.best"), weights(straight / "checkpoint.best"))
    assert tensorboard_scalars(paused) == tensorboard_scalars(straight)  # events after each pause's step purged


def test_rows_written_after_the_checkpoint_are_dropped_on_resume(make_config, tmp_path):
    run_dir = tmp_path / "run"
    run = [*TEXT_RUN, *SHORT_EPOCHS]
    assert train(make_config(*run, "stop_criteria.max_seconds=0"), run_dir) == "paused"  # step 1, mid-epoch
    expected = scalars(run_dir)
    with open(run_dir / "scalars.csv", "a") as f:  # a run killed after logging step 2, and a row cut by the kill
        f.write("2,1,train/loss,9.9\n2,1,train/l")
    assert train(make_config(*run), run_dir) == "complete"
    rows = scalars(run_dir)
    assert rows[: len(expected)] == expected
    assert len(rows) == len({(step, name) for step, _, name, _ in rows})
    assert (2, 1, "train/loss", 9.9) not in rows


def start_cli(run_dir, token_cache, *overrides):
    """`python -m stylometry.train` on the text run with short epochs, 16 steps, started; stderr into stdout."""
    args = [*TEXT_RUN, *SHORT_EPOCHS, "stop_criteria.max_steps=16", *overrides, f"hydra.run.dir={run_dir}"]
    return start_command("stylometry.train", *args, f"data.cache_dir={token_cache}", stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_killed_mid_epoch_then_rerun_equals_never_killed(tmp_path, token_cache):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    process = start_cli(reference, token_cache)
    assert process.wait(timeout=600) == 0, process.stdout.read()
    process = start_cli(killed, token_cache)
    # Killed after step 7 was logged: the last checkpoint is step 6's, mid-epoch 2.
    deadline = time.time() + 300
    while not (
        (killed / "scalars.csv").exists()
        and any(line.startswith("7,") for line in (killed / "scalars.csv").read_text().splitlines())
    ):
        assert process.poll() is None and time.time() < deadline, (
            process.stdout.read() if process.poll() is not None else "timeout"
        )
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    again = start_cli(killed, token_cache)
    output, _ = again.communicate(timeout=600)
    assert again.returncode == 0, output
    assert "resuming" in output
    assert metrics(killed) == metrics(reference)
    assert scalars(killed) == scalars(reference)
    assert same_weights(weights(killed / "checkpoint"), weights(reference / "checkpoint"))
    assert same_weights(weights(killed / "checkpoint.best"), weights(reference / "checkpoint.best"))


def test_a_text_run_is_named_by_its_data(token_cache):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[*TEXT_RUN], return_hydra_config=True)
        study = compose("train", overrides=["author=twain", "seed=3", f"data.root={CORPUS}"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    # The first level is the study: the corpus folder's name unless study=<name> says otherwise.
    assert cfg.hydra.run.dir == "outputs/baum/gpt2_smoke/baseline/baum/seed=0"
    assert cfg.hydra.sweep.dir + "/" + cfg.hydra.sweep.subdir == "multirun/baum/gpt2_smoke/baseline/baum/seed=0"
    assert study.hydra.run.dir == "outputs/corpus/paper/baseline/twain/seed=3"


def test_the_gpt2_small_preset(make_config):
    cfg = make_config("experiment=gpt2_small", f"data.root={CORPUS / 'baum'}")
    model = cfg.model
    assert (model.n_positions, model.n_embd, model.n_layer, model.n_head, model.vocab_size) == (
        1024,
        768,
        12,
        12,
        50257,
    )
    with torch.device("meta"):
        gpt2 = GPT2LMHeadModel(GPT2Config(n_positions=1024, n_embd=768, n_layer=12, n_head=12, vocab_size=50257))
    assert round(sum(p.numel() for p in gpt2.parameters()) / 1e6) == 124
    assert cfg.accumulation_steps == 32 and cfg.optimizer.batch_tokens == 32 * 16 * 1024
    assert (cfg.data.kind, cfg.optimizer.schedule, cfg.optimizer.grad_clip, cfg.logger.name) == (
        "text",
        "cosine",
        1.0,
        "tensorboard",
    )
    smoke = make_config(*TEXT_RUN)
    assert smoke.accumulation_steps == 2 and smoke.experiment_name == "gpt2_smoke"
    assert (smoke.optimizer.schedule, smoke.data.kind, smoke.logger.name) == ("cosine", "text", "tensorboard")


# --- the data option ---------------------------------------------------------------------------------


def text_data(make_config, *overrides):
    cfg = make_config(*TEXT_RUN, *overrides)
    reader = BookReader(
        cfg.data, load_tokenizer(cfg.data.tokenizer), build_transform(cfg.variant), transform_key(cfg.variant)
    )
    return load_text_data(cfg.data, cfg.seed, reader, 50256)


def test_splits_by_fraction_by_file_and_by_given_files(make_config):
    by_fraction = text_data(make_config)
    val_tokens = sum(len(t) for t in by_fraction.eval_texts["val"])
    assert val_tokens == 1024  # data.eval_max_tokens of gpt2_smoke
    whole = text_data(make_config, "data.eval_max_tokens=null")
    n_val = sum(len(t) for t in whole.eval_texts["val"])
    assert n_val + len(whole.train_tokens) - 2 == pytest.approx(10 * n_val, rel=0.01)  # 10%, 2 separators
    assert (whole.train_tokens == 50256).sum() == 2  # end-of-text between the 3 files' training parts

    by_file = text_data(make_config, "data.val_split=files", "data.val_fraction=0.3")
    assert len(by_file.val_files) == 1 and len(by_file.train_files) == 2
    assert set(by_file.val_files) | set(by_file.train_files) == set(BOOKS)
    assert (
        text_data(make_config, "data.val_split=files", "data.val_fraction=0.3", "seed=0").val_files == by_file.val_files
    )

    given = text_data(make_config, "data.files=['*.txt']", "data.val_split=given", "data.val_files=[43936.txt]")
    all_books = sorted(path.name for path in (CORPUS / "baum").glob("*.txt"))
    assert given.val_files == ["43936.txt"] and given.train_files == [b for b in all_books if b != "43936.txt"]


def test_eval_stride_scores_every_token_once_with_more_context():
    tokens = [np.arange(1, 201), np.arange(7, 40)]
    plain, strided = eval_windows(tokens, 64), eval_windows(tokens, 64, 16)
    assert len(strided.input_ids) > len(plain.input_ids)
    scored = strided.labels[:, 1:][strided.labels[:, 1:] != -100]
    assert sorted(scored.tolist()) == sorted([*range(2, 201), *range(8, 40)])  # each token after a book's first, once
    assert strided.n_predicted == len(scored)
    assert plain.n_predicted == eval_windows(tokens, 64, 64).n_predicted


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["data.root=/no/such/folder"], "data.root=/no/such/folder"),
        (["data.files=[nothing*.txt]"], "data.files"),
        (
            ["data.val_split=given", "data.val_files=[22566.txt]", "data.files=[22566.txt]"],
            "data.val_split=given leaves no training",
        ),
        (["data.val_split=files", "data.files=[22566.txt]"], "data.val_split=files needs at least two files"),
        (["data.val_fraction=0.00001", "data.eval_max_tokens=null"], "data.val_fraction"),
        (["data.n_train_tokens=100000000"], "data.n_train_tokens"),
    ],
)
def test_bad_text_data_is_named(make_config, overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.").replace("*", r"\*")) as error:
        text_data(make_config, *overrides)
    assert "\n" not in str(error.value)


def test_an_empty_folder_is_named(make_config, tmp_path):
    with pytest.raises(ConfigError, match="holds no .txt files"):
        text_data(make_config, f"data.root={tmp_path}", "data.files=[]")


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["data.val_fraction=1.5"], "data.val_fraction"),
        (["data.val_fraction=0"], "data.val_fraction"),
        (["data.eval_stride=0"], "data.eval_stride"),
        (["data.eval_stride=65"], "data.eval_stride"),
        (["data.val_split=random"], "data.val_split"),
        (["data.val_split=given"], "data.val_files"),
        (["data.kind=books"], "data.kind"),
        (["data.name=../x"], "data.name"),
        (["optimizer.batch_tokens=500"], "optimizer.batch_tokens"),
        (["optimizer.grad_accum_steps=2"], "optimizer.batch_tokens and optimizer.grad_accum_steps"),
        (["stop_criteria.max_steps=0"], "stop_criteria.max_steps"),
        (["cadence.eval_every_steps=0"], "cadence.eval_every_steps"),
        (["cadence.checkpoint_every_steps=-1"], "cadence.checkpoint_every_steps"),
        (["logger.every_steps=0"], "logger.every_steps"),
        (["logger.name=wandb"], "logger.name"),
        (["author=baum"], "author=baum is for data=corpus"),
    ],
)
def test_impossible_text_settings_name_their_key(make_config, overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as error:
        make_config(*TEXT_RUN, *overrides)
    assert "\n" not in str(error.value)


def test_a_study_run_still_needs_its_author(make_config):
    with pytest.raises(ConfigError, match="author is not set"):
        make_config("experiment=smoke")
    # data.n_train_tokens=null is the study's rule on the corpus (tests/test_corpus.py), not an error.
    assert make_config("author=baum", "data.n_train_tokens=null").data.n_train_tokens is None


@pytest.mark.slow
def test_a_smoke_run_from_the_command_line_then_generate_samples_from_its_best_checkpoint(tmp_path, token_cache):
    """The issue's check as a user runs it: train with a validation split, then sample from checkpoint.best/."""
    run_dir = tmp_path / "run"
    args = [*TEXT_RUN, "logger=tensorboard", f"data.cache_dir={token_cache}", f"hydra.run.dir={run_dir}"]
    trained = run_command("stylometry.train", *args, timeout=300)
    assert trained.returncode == 0, trained.stderr[-2000:]
    names = {name for _, _, name, _ in scalars(run_dir)}
    assert {"val/loss", "val/perplexity", "train/lr", "train/grad_norm"} <= names
    assert (run_dir / "checkpoint.best" / "model.safetensors").is_file() and list(run_dir.glob("events.out.tfevents.*"))

    sampled = run_command("stylometry.generate", run_dir, "prompt=Dorothy said", "max_new_tokens=20", timeout=120)
    assert sampled.returncode == 0, sampled.stderr
    assert sampled.stdout.startswith("Dorothy said") and len(sampled.stdout.strip()) > len("Dorothy said")
    assert "checkpoint.best" in sampled.stderr  # it said which checkpoint it sampled from
