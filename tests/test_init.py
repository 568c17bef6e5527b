"""How a model's weights start (the `init` group): a background model per seed that its authors are fine-tuned from,
and a pretrained GPT-2 folder; each end to end with the real trainer on the small corpus, and each bad input's line.

    python -m pytest tests/test_init.py -q
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import JOBLIB, TINY, TOKENIZER, kill_when, metrics, run_command, start_command
from safetensors.torch import load_file
from transformers import GPT2Config, GPT2LMHeadModel

from stylometry.config.schema import ModelConfig
from stylometry.model.gpt import build_model
from stylometry.model.starting_weights import load_starting_weights, weights_sha256
from stylometry.runs.checkpoint import read_training_state
from stylometry.runs.status import read_status

BACKGROUND = ["init=background", "init.background_epochs=2"]


def train(*args, cwd=None):
    return run_command("stylometry.train", *args, cwd=cwd)


def final_rows(run_dir: Path) -> dict:
    """The last epoch's evaluation losses: dataset -> loss, as metrics.csv wrote them."""
    rows = metrics(run_dir)
    last = max(epoch for epoch, _, _ in rows)
    return {name: loss for epoch, name, loss in rows if epoch == last and name != "train"}


def first_rows(run_dir: Path) -> dict:
    return {name: loss for epoch, name, loss in metrics(run_dir) if epoch == 0}


# ---- init=background ----------------------------------------------------------------------------------


@pytest.fixture
def background_sweep(small_corpus, tmp_path, token_cache):
    """The command a user types for two authors of one seed, two jobs at a time: its arguments and its sweep dir."""
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        *TINY,
        *BACKGROUND,
        "author=alice,bob",
        "seed=0",
        f"data.root={small_corpus}",
        *JOBLIB,
        f"hydra.sweep.dir={sweep}",
        f"data.cache_dir={token_cache}",
    ]
    return args, sweep


@pytest.mark.slow
def test_the_authors_of_a_seed_start_from_its_background_model_trained_once(background_sweep, monkeypatch):
    monkeypatch.setenv("STYLOMETRY_TOKENIZER", str(TOKENIZER))
    args, sweep = background_sweep
    result = train(*args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    background = sweep / "baseline" / "_background" / "seed=0"
    status = json.loads((background / "status.json").read_text())
    assert status["state"] == "complete" and status["epoch"] == 2
    # Trained once: each epoch's rows once (a second training would have found it complete, or written them again).
    epochs = [epoch for epoch, name, _ in metrics(background) if name == "train"]
    assert epochs == [1, 2]
    # Pooled: every author's training text of the seed (TINY's 512 tokens each), none of their held-out books.
    manifest = json.loads((background / "manifest.json").read_text())
    assert {book.split("/")[0] for book in manifest["train_books"]} == {"alice", "bob", "carol"}
    for author, held_out in manifest["held_out_books"].items():
        assert f"{author}/{held_out}" not in manifest["train_books"]
    # Each author's model starts from the background's final weights: its untrained evaluation (epoch 0) is the
    # background's last one, loss for loss, on every author's held-out book.
    for author in ("alice", "bob"):
        run_dir = sweep / "baseline" / author / "seed=0"
        assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
        assert first_rows(run_dir) == final_rows(background)
        identity = read_training_state(run_dir / "checkpoint", mmap=True).identity
        assert identity["init"] == {"name": "background", "weights_sha256": weights_sha256(background / "checkpoint")}

    # Again: every job and the background complete, so nothing is launched, nothing in the sweep dir changes but
    # its summary, which lists them all.
    logs = {path: path.read_bytes() for path in sweep.rglob("*.log")}
    again = train(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.startswith("every job is complete: nothing to launch\n"), again.stdout
    assert "3 jobs: 3 complete" in again.stdout and "joblib" not in again.stdout + again.stderr
    assert {path: path.read_bytes() for path in sweep.rglob("*.log")} == logs
    # The jobs in turn in the command's own process from here (Hydra's basic launcher): what the trainer decides
    # for each run dir is the same in every launcher, and two joblib workers cost ~9 s of imports each.
    in_turn = [a for a in args if a not in JOBLIB]
    # A background trained further is other starting weights: the authors that started from it refuse, and keep
    # the run they hold.
    extended = train(*[a for a in in_turn if a != "init.background_epochs=2"], "init.background_epochs=3")
    assert json.loads((background / "status.json").read_text())["epoch"] == 3
    output = extended.stdout + extended.stderr
    assert output.count("holds a run that started from other weights (init=background, weights") == 2, output
    for author in ("alice", "bob"):
        kept = read_training_state(sweep / "baseline" / author / "seed=0" / "checkpoint", mmap=True).identity
        assert kept["init"]["weights_sha256"] != weights_sha256(background / "checkpoint")
    # status --plan says so before anything runs: the trainer's own reading of the starting weights.
    from stylometry.status import plan

    lines = plan([a for a in in_turn if a != "-m"])
    assert [line.split()[0] for line in lines] == ["skip", "refuse", "refuse"], lines


@pytest.mark.slow
def test_a_background_paused_at_its_time_limit_is_resumed_then_its_authors_train(background_sweep):
    args, sweep = background_sweep
    # One job, in the command's own process (Hydra's basic launcher): nobody else takes the background on.
    args = [a if a != "author=alice,bob" else "author=alice" for a in args if a not in JOBLIB]
    paused = train(*args, "stop_criteria.max_seconds=0")
    assert paused.returncode == 0, paused.stdout[-3000:] + paused.stderr[-3000:]
    background = sweep / "baseline" / "_background" / "seed=0"
    assert json.loads((background / "status.json").read_text())["state"] == "paused"
    assert not (sweep / "baseline" / "alice" / "seed=0" / "checkpoint").exists()  # no author before its background
    result = train(*args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads((background / "status.json").read_text())["state"] == "complete"
    assert first_rows(sweep / "baseline" / "alice" / "seed=0") == final_rows(background)


def test_background_needs_a_corpus(tmp_path):
    result = train("init=background", "data=text", f"data.root={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2 and result.stderr.startswith("error: init=background pools the authors")
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_background_killed_mid_run_is_resumed_by_the_same_command_then_its_authors_train(background_sweep):
    args, sweep = background_sweep
    # One job in the command's own process (Hydra's basic launcher), which the kill ends; three background epochs.
    drop = {*JOBLIB, "init.background_epochs=2"}
    args = [a if a != "author=alice,bob" else "author=alice" for a in args if a not in drop]
    args.append("init.background_epochs=3")
    background = sweep / "baseline" / "_background" / "seed=0"
    first = start_command("stylometry.train", *args, stderr=subprocess.STDOUT)
    kill_when(first, lambda: (read_status(background) or {}).get("epoch") == 1)  # its epoch-1 checkpoint, saved
    assert not (sweep / "baseline" / "alice" / "seed=0" / "checkpoint").exists()  # no author before its background

    again = train(*args)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"resuming {background}" in again.stdout, again.stdout[-3000:]
    assert read_status(background)["state"] == "complete"
    # Resumed from epoch 1, not trained again from the start: each epoch's rows once.
    assert [epoch for epoch, name, _ in metrics(background) if name == "train"] == [1, 2, 3]
    assert first_rows(sweep / "baseline" / "alice" / "seed=0") == final_rows(background)


@pytest.mark.slow
def test_runs_start_from_another_studys_background_and_are_its_impostors(
    small_corpus, tmp_path, token_cache, monkeypatch
):
    """init.background_study: impostors fine-tuned from the candidates' backgrounds, as the candidates were."""
    from stylometry.runs.impostor_study import impostors_sentence, with_impostors
    from stylometry.runs.study import StudyError, load_study
    from stylometry.status import plan

    monkeypatch.setenv("STYLOMETRY_TOKENIZER", str(TOKENIZER))
    common = [*TINY, *BACKGROUND, "seed=0", f"data.root={small_corpus}", f"data.cache_dir={token_cache}"]
    candidates, impostors = tmp_path / "candidates", tmp_path / "impostors"
    assert train("-m", *common, "author=alice", f"hydra.sweep.dir={candidates}").returncode == 0
    from_theirs = [*common, "author=bob", f"init.background_study={candidates}", f"hydra.sweep.dir={impostors}"]
    result = train("-m", *from_theirs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # No background of its own: bob starts from the candidates' seed-0 background, weights and losses alike.
    background = candidates / "baseline" / "_background" / "seed=0"
    bob = impostors / "baseline" / "bob" / "seed=0"
    assert not (impostors / "baseline" / "_background").exists()
    identity = read_training_state(bob / "checkpoint", mmap=True).identity
    assert identity["init"] == {"name": "background", "weights_sha256": weights_sha256(background / "checkpoint")}
    assert first_rows(bob) == final_rows(background)
    assert [line.split()[0] for line in plan(from_theirs)] == ["skip"]  # no background to plan either

    # As --impostors: accepted, and the report says where they started.
    study = with_impostors(load_study(candidates, min_authors=1), impostors)
    assert [model.author for model in study.impostors] == ["bob"]
    assert "fine-tuned from the candidates' backgrounds" in impostors_sentence(study)
    # Candidates that started elsewhere (their own background, of other authors' text) refuse them.
    others = tmp_path / "others"
    assert (
        train("-m", *common, "author=alice", "data.authors=[alice,carol]", f"hydra.sweep.dir={others}").returncode == 0
    )
    with pytest.raises(StudyError, match="bob seed 0 started from other weights than the candidates of seed 0"):
        with_impostors(load_study(others, min_authors=1), impostors)

    # Bad input: one line each, exit 2, before any job launches (a sweep) or any run dir is made (one run).
    missing = [*common, "author=carol", f"init.background_study={tmp_path / 'nowhere'}"]
    result = train("-m", *missing, f"hydra.sweep.dir={tmp_path / 'm'}")
    assert result.returncode == 2 and "nowhere/baseline/_background/seed=0 is not there" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "m").exists()
    # A background that trained on a book the run holds out (as another study's split can): its losses on that book
    # would be no held-out evaluation.
    held_out = json.loads((bob / "manifest.json").read_text())["held_out_books"]["carol"]
    manifest = json.loads((background / "manifest.json").read_text())
    manifest["train_books"].append(f"carol/{held_out}")
    (background / "manifest.json").write_text(json.dumps(manifest))
    leaked = [*common, "author=carol", f"init.background_study={candidates}", f"hydra.run.dir={tmp_path / 'l'}"]
    result = train(*leaked)
    assert result.returncode == 2 and f"trained on carol/{held_out}, a book this run holds out" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "l").exists(), result.stderr
    # A sweep is refused so before any of its jobs launches.
    result = train("-m", *leaked[:-1], f"hydra.sweep.dir={tmp_path / 'ml'}")
    assert result.returncode == 2 and f"trained on carol/{held_out}, a book this run holds out" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "ml").exists(), result.stderr
    # A background whose manifest keeps no list of its training books cannot be checked: refused, not passed.
    del manifest["train_books"]
    (background / "manifest.json").write_text(json.dumps(manifest))
    result = train(*leaked)
    assert result.returncode == 2 and "keeps no list of the books it trained on" in result.stderr, result.stderr
    assert not (tmp_path / "l").exists()


# ---- init=pretrained ----------------------------------------------------------------------------------


def save_gpt2(folder: Path, vocab_size: int = 50257, model_type: str = "gpt2") -> Path:
    """A tiny GPT-2 saved as a user saves one (save_pretrained, and the tokenizer's files beside it)."""
    torch.manual_seed(0)
    config = GPT2Config(n_positions=64, n_embd=32, n_layer=1, n_head=2, vocab_size=vocab_size)
    GPT2LMHeadModel(config).save_pretrained(folder)
    for path in TOKENIZER.iterdir():
        if path.is_file() and path.name != "config.json":
            shutil.copy(path, folder / path.name)
    if model_type != "gpt2":
        saved = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**saved, "model_type": model_type}))
    return folder


def test_starting_weights_are_the_folders_bit_for_bit(tmp_path):
    folder = save_gpt2(tmp_path / "gpt2")
    model = build_model(ModelConfig(n_positions=32, n_embd=32, n_layer=1, n_head=2))
    load_starting_weights(model, folder)
    saved = load_file(folder / "model.safetensors")
    for name, parameter in model.named_parameters():
        expected = saved[name]
        if name.endswith("wpe.weight"):
            expected = expected[:32]  # the first positions: the model's windows are 32 long
        assert torch.equal(parameter, expected), name


@pytest.mark.slow
def test_a_pretrained_folder_is_the_model_and_tokenizer_of_its_runs(small_corpus, tmp_path, token_cache):
    folder = save_gpt2(tmp_path / "gpt2")
    run_dir = tmp_path / "run"
    common = [*TINY, "author=alice", f"data.root={small_corpus}", f"data.cache_dir={token_cache}"]
    result = train(*common, "init=pretrained", f"init.path={folder}", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    config = (run_dir / "config.yaml").read_text()
    assert "n_embd: 32" in config and f"tokenizer: {folder}" in config
    identity = read_training_state(run_dir / "checkpoint", mmap=True).identity
    assert identity["init"] == {"name": "pretrained", "weights_sha256": weights_sha256(folder)}

    # Bad folders: one line each, exit 2, no run dir.
    (tmp_path / "bert").mkdir()
    save_gpt2(tmp_path / "bert", model_type="bert")
    small_vocab = save_gpt2(tmp_path / "small_vocab", vocab_size=1000)
    for path, says in [
        (tmp_path / "missing", "no config.json there"),
        (tmp_path / "bert", "holds a bert model: init=pretrained takes a GPT-2"),
        (small_vocab, "its model's vocabulary (1,000) is smaller than its tokenizer's (50,257)"),
    ]:
        bad = tmp_path / f"run_{path.name}"
        result = train(*common, "init=pretrained", f"init.path={path}", f"hydra.run.dir={bad}")
        assert result.returncode == 2 and says in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and not bad.exists(), result.stderr


def test_the_plan_lists_each_seeds_background_once_before_its_authors(small_corpus, tmp_path, token_cache, monkeypatch):
    from stylometry.status import plan

    monkeypatch.setenv("STYLOMETRY_TOKENIZER", str(TOKENIZER))
    sweep = tmp_path / "sweep"
    lines = plan(
        [
            *TINY,
            "init=background",
            "author=alice,bob",
            "seed=0,1",
            f"data.root={small_corpus}",
            f"hydra.sweep.dir={sweep}",
            f"data.cache_dir={token_cache}",
        ]
    )
    runs = [line.split()[-1] for line in lines]
    assert [line.split()[0] for line in lines] == ["start"] * 6
    assert runs.count(str(sweep / "baseline" / "_background" / "seed=0")) == 1
    assert runs.index(str(sweep / "baseline" / "_background" / "seed=1")) < runs.index(
        str(sweep / "baseline" / "alice" / "seed=1")
    )
    assert not sweep.exists()  # planning writes nothing
