"""`python -m stylometry.train` as a user runs it: the issue's acceptance, in real processes."""

import csv

import pytest
from transformers import GPT2LMHeadModel

from conftest import CORPUS


def epochs_by_dataset(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_dataset = {}
    for row in rows:
        by_dataset.setdefault(row["dataset"], set()).add(int(row["epoch"]))
    return by_dataset


@pytest.mark.slow
def test_smoke_run_trains_resumes_and_skips(run_train, tmp_path):
    run_dir = tmp_path / "smoke"
    first = run_train("experiment=smoke", "author=baum", "seed=0", f"hydra.run.dir={run_dir}")
    assert first.returncode == 0, first.stdout
    GPT2LMHeadModel.from_pretrained(run_dir / "checkpoint")
    epochs = epochs_by_dataset(run_dir)
    for dataset in ["austen", "baum", "dickens", "fitzgerald", "melville", "thompson", "twain", "wells",
                    "contested", "non_oz_baum", "non_oz_thompson"]:
        assert {0, 3} <= epochs[dataset]
    assert "epoch 3/3 | train" in first.stdout  # the per-epoch progress line
    metrics = (run_dir / "metrics.csv").read_bytes()

    again = run_train("experiment=smoke", "author=baum", "seed=0", f"hydra.run.dir={run_dir}")
    assert again.returncode == 0, again.stderr
    assert "nothing to train" in again.stdout
    assert (run_dir / "metrics.csv").read_bytes() == metrics


@pytest.mark.parametrize("override,expected", [
    ("author=nobody", "has no author folder nobody; its authors are austen, baum, dickens"),
    ("data.root=/no/such/dir", "data.root=/no/such/dir: no such folder"),
    ("data.tokenizer=/no/such/tokenizer", "data.tokenizer=/no/such/tokenizer: no such folder"),
    ("model.n_embd=33", "model.n_embd=33 must be divisible by model.n_head=2"),
])
def test_bad_input_fails_with_one_clear_line(run_train, tmp_path, override, expected):
    author = [] if override.startswith("author=") else ["author=baum"]
    result = run_train("experiment=smoke", *author, override, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_an_author_without_books_is_named(run_train, tmp_path):
    corpus = tmp_path / "corpus"
    for author in ["baum", "thompson"]:
        (corpus / author).parent.mkdir(exist_ok=True)
        (corpus / author).symlink_to(CORPUS / author)
    (corpus / "austen").mkdir()
    result = run_train("experiment=smoke", "author=baum", f"data.root={corpus}", "data.authors=[austen,baum,thompson]",
                       "author.extra_eval_sets=[]", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert "austen holds 0 .txt book(s)" in result.stdout + result.stderr
