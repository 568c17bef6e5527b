"""Your own corpus: authors are its folders, one study per corpus, a complete run checked like any other.

The corpora here are conftest's small corpus: real books under other folder names (alice/, bob/, carol/), cut
short so that every job trains in seconds.
"""

import dataclasses
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import (
    CORPUS,
    SMALL_CORPUS,
    TINY,
    TINY_TRAIN_TOKENS,
    TOKENIZER,
    build_small_corpus,
    run_command,
    shared_data,
)
from safetensors.torch import load_file

from stylometry.config.schema import STUDY_NOT_AUTHORS, ConfigError
from stylometry.data.authors import prepare_overrides
from stylometry.data.corpus import author_folders
from stylometry.data.splits import largest_train_tokens, load_study_data
from stylometry.data.tokenizer import load_tokenizer
from stylometry.data.tokens import BookReader
from stylometry.runs.layout import read_run_config
from stylometry.training.loop import train


@pytest.fixture
def corpus(small_corpus):
    """The small corpus, with what a corpus of your own may hold besides its authors' books."""
    root = small_corpus
    (root / "disputed").mkdir()  # extra texts, declared with data.not_authors
    (root / "disputed" / "letter.txt").write_bytes((CORPUS / "contested" / "30537.txt").read_bytes()[:12_000])
    (root / ".git").mkdir()  # hidden folders and files, and files that are not .txt, are ignored
    (root / "alice" / ".notes.txt").write_text("not a book")
    (root / "alice" / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    return root


def corpus_overrides(root, cache, *more):
    return [
        f"data.root={root}",
        f"data.tokenizer={TOKENIZER}",
        f"data.cache_dir={cache}",
        "data.not_authors=[disputed]",
        *TINY,
        *more,
    ]


def test_authors_are_the_corpus_folders(corpus):
    assert author_folders(corpus, ["disputed"]) == ["alice", "bob", "carol"]
    expanded = prepare_overrides(
        ["author=glob(*)", "seed=range(3)", f"data.root={corpus}", "data.not_authors=[disputed]"]
    )
    assert expanded[0] == "author=alice,bob,carol"
    assert (
        prepare_overrides(["author=glob(*,exclude=bob)", f"data.root={corpus}", "data.not_authors=[disputed]"])[0]
        == "author=alice,carol"
    )
    with pytest.raises(ConfigError, match="no author folder dave; its authors are alice, bob, carol"):
        prepare_overrides(["author=dave", f"data.root={corpus}", "data.not_authors=[disputed]"])


def test_data_authors_default_to_every_folder_and_train_tokens_to_the_studys_rule(corpus, make_config, token_cache):
    prepare_overrides([f"data.root={corpus}"])  # registers alice, bob, carol as `author` options
    cfg = make_config(*corpus_overrides(corpus, token_cache, "author=bob", "data.n_train_tokens=null"))
    assert cfg.data.authors == [] and cfg.data.n_train_tokens is None
    tokenizer = load_tokenizer(str(TOKENIZER))
    reader = BookReader(cfg.data, tokenizer, lambda text: text, "baseline")
    data = load_study_data(cfg.data, "bob", [], 0, reader)
    assert data.authors == ["alice", "bob", "carol"] and set(data.held_out_books) == {"alice", "bob", "carol"}
    # By hand: each author's tokens minus its longest book; the smallest of those.
    counts = {
        author: [len(reader.read(corpus / author / f"book{i}.txt").tokens) for i in range(3)] for author in SMALL_CORPUS
    }
    expected = min(sum(lengths) - max(lengths) for lengths in counts.values())
    assert data.n_train_tokens == expected == len(data.train_tokens)
    too_many = make_config(
        *corpus_overrides(corpus, token_cache, "author=bob", f"data.n_train_tokens={expected + 5000}")
    )
    with pytest.raises(
        ConfigError, match=f"author bob for seed 0: the largest value every author's models hold is {expected}"
    ):
        load_study_data(too_many.data, "bob", [], 0, reader)


@pytest.mark.slow
@pytest.mark.parametrize("corpus, expected", [("study", 643041), ("demo", 35152)])
def test_the_rule_gives_the_training_tokens_the_docs_state(token_cache, corpus, expected):
    """The study's corpus keeps 643,041 training tokens (README.md), the demo corpus 35,152 (docs/your-corpus.md)."""
    root = shared_data("corpus") if corpus == "study" else CORPUS
    reader = BookReader(token_cache, load_tokenizer(str(TOKENIZER)), lambda text: text, "baseline")
    authors = author_folders(root, STUDY_NOT_AUTHORS)
    assert authors == ["austen", "baum", "dickens", "fitzgerald", "melville", "thompson", "twain", "wells"]
    assert largest_train_tokens(root, authors, reader) == expected


@pytest.mark.parametrize(
    "damage,message",
    [
        (
            lambda root: [shutil.rmtree(root / "bob"), (root / "carol").rename(root / ".carol")],
            "holds 1 author folder(s) (alice)",
        ),
        (lambda root: [(root / "carol" / f"book{i}.txt").unlink() for i in (1, 2)], "carol holds 1 .txt book(s)"),
        (lambda root: (root / "bob" / "book1.txt").write_text("  \n"), "bob/book1.txt is empty"),
        (lambda root: (root / "bob" / "book2.txt").write_bytes(b"caf\xe9 au lait"), "bob/book2.txt is not UTF-8"),
    ],
)
def test_a_corpus_no_study_can_use_fails_in_one_line(tmp_path, make_config, token_cache, damage, message):
    root = build_small_corpus(tmp_path / "bad")
    damage(root)
    prepare_overrides([f"data.root={root}"])
    cfg = make_config(*corpus_overrides(root, token_cache, "author=alice"))
    reader = BookReader(cfg.data, load_tokenizer(str(TOKENIZER)), lambda text: text, "baseline")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_study_data(cfg.data, "alice", [], 0, reader)


@pytest.mark.slow
def test_the_command_line_trains_exactly_the_corpus_authors_apart_from_the_study(corpus, token_cache, tmp_path):
    overrides = [
        "experiment=smoke",
        "model.n_positions=32",
        "data.n_train_tokens=1024",
        "data.eval_max_tokens=256",
        "stop_criteria.max_epochs=1",
        "device=cpu",
        f"data.cache_dir={token_cache}",
        "data.not_authors=[disputed]",
    ]
    env = {"STYLOMETRY_DATA": corpus}
    plan = run_command("stylometry.status", "--plan", "-m", "author=glob(*)", "seed=range(2)", *overrides, env=env)
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.splitlines()[0] == "6 jobs: 0 to skip, 0 to extend, 0 to resume, 6 to start"
    planned = sorted(line.split()[-1] for line in plan.stdout.splitlines()[1:])
    assert planned == [
        f"multirun/mycorpus/smoke/baseline/{a}/seed={s}" for a in ("alice", "bob", "carol") for s in (0, 1)
    ]

    sweep = tmp_path / "sweeps"
    result = run_command(
        "stylometry.train",
        "-m",
        "author=glob(*)",
        "seed=range(2)",
        *overrides,
        f"hydra.sweep.dir={sweep}/${{study}}/${{experiment_name}}",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    runs = sorted(str(path.parent.relative_to(sweep)) for path in sweep.rglob("status.json"))
    assert runs == [f"mycorpus/smoke/baseline/{a}/seed={s}" for a in ("alice", "bob", "carol") for s in (0, 1)]
    status = json.loads((sweep / "mycorpus/smoke/baseline/bob/seed=1/status.json").read_text())
    assert (status["state"], status["study"], status["author"]) == ("complete", "mycorpus", "bob")

    alone = run_command(
        "stylometry.train",
        "author=alice",
        *overrides,
        "study=letters",
        f"data.root={corpus}",
        f"hydra.run.dir={tmp_path}/one/${{study}}",
        env={"STYLOMETRY_DATA": None},
    )
    assert alone.returncode == 0, alone.stderr
    assert yaml.safe_load((tmp_path / "one/letters/config.yaml").read_text())["study"] == "letters"


def run_dir_files(run_dir: Path):
    """Every file of the run dir but its log, with a hash of its bytes."""
    return {
        str(path.relative_to(run_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and path.name != "train.log"
    }


@pytest.mark.slow  # three runs of the trainer (2 and 3 epochs), four refused
def test_a_complete_run_refuses_another_identity_and_extends_when_asked_for_more(
    corpus, make_config, token_cache, tmp_path
):
    prepare_overrides([f"data.root={corpus}"])
    base = corpus_overrides(corpus, token_cache, "author=carol")
    run_dir = tmp_path / "run"
    assert train(make_config(*base), run_dir) == "complete"  # 2 epochs
    before = run_dir_files(run_dir)

    for changed in ["model.n_layer=3", "seed=1", "optimizer.lr=0.002", "variant=content"]:
        with pytest.raises(ConfigError, match=f"{run_dir} holds a run with"):
            train(make_config(*base, changed), run_dir)
        assert run_dir_files(run_dir) == before, changed
    assert train(make_config(*base), run_dir) == "complete"  # nothing to train
    assert run_dir_files(run_dir) == before
    # A book the run read, edited since: the corpus files' hash is part of the identity.
    trained_on = corpus / "carol" / json.loads((run_dir / "manifest.json").read_text())["train_books"][0]
    original = trained_on.read_bytes()
    trained_on.write_bytes(original.replace(b"the", b"teh"))
    with pytest.raises(ConfigError, match="corpus files"):
        train(make_config(*base), run_dir)
    assert run_dir_files(run_dir) == before
    trained_on.write_bytes(original)

    # Asked for more (a higher max_epochs), the run continues from its final checkpoint and ends as if it had
    # been started with 3 epochs: the same metrics rows, none twice, and the same weights.
    assert train(make_config(*base, "stop_criteria.max_epochs=3"), run_dir) == "complete"
    straight = tmp_path / "straight"
    assert train(make_config(*base, "stop_criteria.max_epochs=3"), straight) == "complete"
    assert metric_rows(run_dir) == metric_rows(straight)
    assert [row[:2] for row in metric_rows(run_dir)].count(["3", "train"]) == 1
    a, b = load_file(run_dir / "checkpoint/model.safetensors"), load_file(straight / "checkpoint/model.safetensors")
    assert all((a[key] == b[key]).all() for key in a)
    assert read_run_config(run_dir).stop_criteria.max_epochs == 3


def metric_rows(run_dir):
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    return [line.split(",")[:4] for line in lines]  # seconds differ


@pytest.mark.slow
def test_a_refused_run_keeps_its_state_on_the_command_line(corpus, token_cache, tmp_path):
    overrides = [
        *corpus_overrides(corpus, token_cache, "author=alice", "stop_criteria.max_epochs=1"),
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    assert run_command("stylometry.train", *overrides).returncode == 0
    status = (tmp_path / "run" / "status.json").read_text()
    refused = run_command("stylometry.train", *overrides, "model.n_layer=3")
    assert refused.returncode == 2 and "holds a run with model.n_layer=2, not 3" in refused.stdout + refused.stderr
    assert (tmp_path / "run" / "status.json").read_text() == status
    assert yaml.safe_load((tmp_path / "run" / ".hydra" / "config.yaml").read_text())["model"]["n_layer"] == 2


def test_a_run_records_what_it_was_trained_on(corpus, make_config, token_cache, tmp_path):
    prepare_overrides([f"data.root={corpus}"])
    cfg = make_config(*corpus_overrides(corpus, token_cache, "author=alice", "stop_criteria.max_epochs=1"))
    train(cfg, tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["corpus_root"] == str(corpus.resolve())
    assert (
        manifest["tokenizer"]["path"] == str(TOKENIZER.resolve()) and len(manifest["tokenizer"]["files_sha256"]) == 64
    )
    assert len(manifest["corpus_sha256"]) == 64 and manifest["corpus_sha256"] != manifest["files_sha256"]
    resolved = (tmp_path / "run" / "config.yaml").read_text()
    assert "${" not in resolved
    saved = read_run_config(tmp_path / "run")
    assert saved.data.authors == ["alice", "bob", "carol"] and saved.data.n_train_tokens == TINY_TRAIN_TOKENS
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["corpus_sha256"] == manifest["corpus_sha256"] and len(status["config_sha256"]) == 64
    # A run written while the cadence group was named `schedule` reads back the same, and resumes (the same train).
    config_yaml = tmp_path / "run" / "config.yaml"
    config_yaml.write_text(resolved.replace("\ncadence:", "\nschedule:"))
    assert "\nschedule:" in config_yaml.read_text() and read_run_config(tmp_path / "run") == saved
    train(
        dataclasses.replace(cfg, stop_criteria=dataclasses.replace(cfg.stop_criteria, max_epochs=2)), tmp_path / "run"
    )
    assert json.loads((tmp_path / "run" / "status.json").read_text())["epoch"] == 2


@pytest.mark.parametrize("added", ["+model.n_embdd=64", "++model.n_embdd=64", "+optimizer.lrr=0.1", "+colour=red"])
def test_keys_the_schema_does_not_know_are_refused_however_spelt(make_config, added):
    with pytest.raises(ConfigError, match="is not a setting"):
        make_config("author=baum", added)
