"""Tests of the classical baselines (stylometry/analysis/baselines.py): the classifiers on real books, and
the whole path on the tests' trained study (conftest's `study`), judged on books the baselines did not train on.

    python -m pytest tests/test_baselines.py -q
"""

import numpy as np
import pandas as pd
import pytest
from conftest import CORPUS, FINAL, STUDY_AUTHORS, STUDY_EVAL_TOKENS, STUDY_SEEDS, TOKENIZER, hand_sweep

from stylometry.analysis import baselines, stats
from stylometry.analysis.baselines import DELTA, LANGUAGE_MODELS, NAIVE_BAYES
from stylometry.analysis.load import load_sweeps
from stylometry.analysis.tables import compute_tables
from stylometry.attribution.report import read_held_out_attribution
from stylometry.data.tokenizer import encode, load_tokenizer

AUTHORS = ("austen", "baum", "dickens")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(str(TOKENIZER))


def book_tokens(tokenizer, author: str, index: int, num_tokens: int) -> np.ndarray:
    """The first num_tokens tokens of the author's index-th book (by file name)."""
    path = sorted((CORPUS / author).glob("*.txt"))[index]
    return np.asarray(encode(tokenizer, path.read_text()[: num_tokens * 8])[:num_tokens])


@pytest.fixture(scope="module")
def seed_texts(tokenizer):
    """Three authors: 7,000 tokens (about all of a demo corpus book) of five books each to train on, 4,000 of a sixth
    book held out."""
    train = {
        a: baselines.decode(tokenizer, np.concatenate([book_tokens(tokenizer, a, i, 7_000) for i in range(5)]))
        for a in AUTHORS
    }
    held_out = {a: book_tokens(tokenizer, a, 5, 4_000) for a in AUTHORS}
    extra = {"contested": (book_tokens(tokenizer, "contested", 0, 4_000), ["baum", "dickens"])}
    return baselines.SeedTexts(("s", "st", "e", "baseline"), 0, train, held_out, extra, tokenizer)


def test_both_methods_attribute_books_they_did_not_train_on(seed_texts):
    verdicts = baselines.classify_seed(seed_texts, excerpt_tokens=(512,))
    books = verdicts[verdicts["kind"] == "book"]
    for method in (NAIVE_BAYES, DELTA):
        chosen = books[books["method"] == method]
        assert chosen["correct"].all(), chosen[["book", "attributed_to"]]
    cut = verdicts[verdicts["kind"] == "excerpt"]
    # Every consecutive excerpt, as stylometry.data.excerpts cuts them: 7 of 512 tokens in 4,000, per book and method.
    assert len(cut) == 2 * 3 * 7 and set(cut["excerpt"]) == set(range(7))
    assert cut.groupby("method")["correct"].mean().min() >= 2 / 3
    extra = verdicts[verdicts["kind"] == "extra"]
    assert set(extra["attributed_to"]) <= {"baum", "dickens"}  # among the authors whose models evaluated it


def test_a_verdict_among_some_authors_is_the_best_of_those(seed_texts):
    documents = [seed_texts.train_text[a] for a in AUTHORS]
    text = seed_texts.text("austen")
    bayes = baselines.naive_bayes().fit(documents, list(AUTHORS))
    scores = dict(zip(bayes.classes_, bayes.predict_log_proba([text])[0]))
    assert baselines._among(bayes, text, ["baum", "dickens"], NAIVE_BAYES) == max(["baum", "dickens"], key=scores.get)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = baselines.burrows_delta().fit(documents, list(AUTHORS))
    z = delta[:-1].transform([text])[0]
    centroids = dict(zip(delta[-1].classes_, delta[-1].centroids_))
    nearest = min(["baum", "dickens"], key=lambda a: np.abs(z - centroids[a]).sum())
    assert baselines._among(delta, text, ["baum", "dickens"], DELTA) == nearest
    assert baselines._among(delta, text, list(AUTHORS), DELTA) == delta.predict([text])[0] == "austen"


def write_attribution(directory, results: pd.DataFrame, loss_shift: float = 0.0):
    """What `stylometry.attribute --held-out` writes, for a hand sweep: each model's whole-book loss (its final
    logged loss) in scores.csv, and one excerpt of each book, attributed, in held_out.csv."""
    final = stats.at_epoch(results, stats.OWN_FINAL)
    books = final[final["eval_set"].isin(FINAL)]
    directory.mkdir()
    pd.DataFrame(
        {
            "text": books["eval_set"] + "/1.txt",
            "excerpt_tokens": pd.NA,
            "excerpt": pd.NA,
            "model_author": books["model_author"],
            "seed": books["seed"],
            "loss": books["loss"] + loss_shift,
            "tokens": 100,
        }
    ).to_csv(directory / "scores.csv", index=False)
    rows = [
        {
            "text": f"{book}/1.txt",
            "excerpt_tokens": 64,
            "excerpt": 0,
            "author": book,
            "seed": seed,
            "attributed_to": "baum",
            "loss": 1.0,
            "num_models": 3,
            "correct": book == "baum",
        }
        for seed in range(3)
        for book in FINAL
    ]
    pd.DataFrame(rows).to_csv(directory / "held_out.csv", index=False)


def test_the_language_models_excerpt_verdicts_are_read_for_the_group_whose_losses_they_are(tmp_path):
    root = hand_sweep(tmp_path / "multirun")
    hand_sweep(root, variant="content", offset=0.5)
    tables = compute_tables(load_sweeps([root]))
    write_attribution(tmp_path / "attribution", tables.results[tables.results["variant"] == "content"])
    rows = baselines.read_attribution(read_held_out_attribution(tmp_path / "attribution"), tables)
    assert set(rows["variant"]) == {"content"} and set(rows["method"]) == {LANGUAGE_MODELS} and len(rows) == 9
    assert rows["correct"].sum() == 3 and set(rows["excerpt_tokens"]) == {64}
    write_attribution(tmp_path / "elsewhere", tables.results[tables.results["variant"] == "content"], loss_shift=0.1)
    with pytest.raises(baselines.BaselineError, match="match no group"):
        baselines.read_attribution(read_held_out_attribution(tmp_path / "elsewhere"), tables)
    with pytest.raises(baselines.BaselineError, match="stylometry.attribute"):
        read_held_out_attribution(tmp_path / "nothing")


# ---- the tests' trained study --------------------------------------------------------------------------


@pytest.mark.slow
def test_baselines_on_a_trained_study(study, tmp_path):
    """conftest's study: each model's training text is 32,768 tokens long (what the baselines learn from), though a
    tiny model trains 2 steps on it: the baselines need the runs, not good models."""
    from stylometry.analyze import main

    out = tmp_path / "analysis"
    assert main([str(study), "--out", str(out), "--baselines", "--excerpt-tokens", "256,512"]) == 0

    accuracy = pd.read_csv(out / "baseline_accuracy.csv")
    overall = accuracy[accuracy["seed"].isna()].set_index("method")
    # Six held-out books (3 authors x 2 seeds, their first 512 tokens), none in any training text; chance names 2.
    # Measured on the demo corpus with 32,768 training tokens per author: naive Bayes and Delta each name at least
    # 5 (on the study's corpus with 131,072: naive Bayes 6, Delta 4 or 5, a 0.07% tie at Thompson's seed-0 book).
    books = len(STUDY_AUTHORS) * len(STUDY_SEEDS)
    assert set(overall["num_books"]) == {books}
    assert overall.loc[NAIVE_BAYES, "num_correct"] >= 5 and overall.loc[DELTA, "num_correct"] >= 4
    verdicts = pd.read_csv(out / "baselines.csv")
    assert verdicts[verdicts["kind"] == "book"]["seed"].nunique() == len(STUDY_SEEDS)
    contested = verdicts[(verdicts["kind"] == "extra") & (verdicts["book"] == "contested")]
    assert len(contested) == 2 * len(STUDY_SEEDS)  # each method, each seed
    assert set(contested["attributed_to"]) <= {"baum", "thompson"}  # only the Oz authors' models evaluated it

    by_length = pd.read_csv(out / "accuracy_by_length.csv")
    overall = by_length[by_length["seed"].isna()].set_index(["excerpt_tokens", "method"])
    # Every consecutive excerpt: 512 tokens give 2 of 256 tokens and 1 of 512 per book, 3 books, 2 seeds.
    per_book = {256: STUDY_EVAL_TOKENS // 256, 512: STUDY_EVAL_TOKENS // 512}
    assert overall["num_excerpts"].to_dict() == {
        (length, method): count * books for length, count in per_book.items() for method in (DELTA, NAIVE_BAYES)
    }
    # Measured: 0.50 (Delta) and 0.83 (naive Bayes) at 256 tokens, 0.83 and 1.00 at 512; chance is 1/3.
    assert overall["accuracy"].min() >= 0.45
    report = (out / "report.md").read_text()
    assert "## Classical baselines under the same protocol" in report and "| all | " in report
    assert "The classical baselines took" in report
    assert (out / "figures" / "baseline" / "accuracy_by_length.png").stat().st_size > 1000
