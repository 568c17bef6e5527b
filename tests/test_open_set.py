"""The open-set verdict: "none of the candidates" where a text's best candidate scores it outside what that
candidate's models give their own author's unseen text, the fallback where a study is too small to say, and the rule
measured with each author left out.

    python -m pytest tests/test_open_set.py -q
"""

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from conftest import CORPUS, STUDY_AUTHORS, attribute

from stylometry.attribution.open_set import (
    CLOSED,
    MIN_EXCERPTS,
    NONE_OF_THEM,
    NOT_CALIBRATED,
    OUTSIDE,
    WITHIN,
    book_bound,
    bounds,
    calibration,
    open_set_columns,
    open_set_rates,
)
from stylometry.attribution.texts import Text

CONTESTED = CORPUS / "contested" / "30537.txt"


def held_out_scores(rng, seeds=(0, 1), excerpts=15, lengths=(256,), outsider="carol") -> tuple[pd.DataFrame, list]:
    """Each seed's held-out book of alice, bob and carol cut into excerpts, scored by every model of the seed: a
    model scores its own author's text about 5.0 and the others' about 5.6 (sd 0.1); carol has no models when she is
    the outsider, but her books are scored by the others'."""
    rows, books = [], []
    for seed in seeds:
        for author in ("alice", "bob", "carol"):
            name = f"{author}/book{seed}.txt"
            books.append(Text(name, None, np.zeros(1), 1, author=author, seeds=frozenset([seed])))
            for length in lengths:
                for excerpt in range(excerpts):
                    for model in ("alice", "bob", "carol"):
                        loss = (5.0 if model == author else 5.6) + rng.normal(0, 0.1)
                        rows.append([name, length, excerpt, model, seed, loss, length - 1])
    columns = ["text", "excerpt_tokens", "excerpt", "model_author", "seed", "loss", "tokens"]
    return pd.DataFrame(rows, columns=columns), books


def test_a_candidates_bound_is_what_a_new_book_of_its_author_gives_from_its_own_unseen_books():
    """A candidate's gap: its model's score minus the mean of the other candidates' models of the seed. Its bound:
    the mean of its own books' gaps plus Student's t times an excerpt's spread within a book and between books."""
    scores, books = held_out_scores(np.random.default_rng(0))
    calibrated = calibration(scores, books)
    assert set(calibrated["author"]) == {"alice", "bob", "carol"} and len(calibrated) == 3 * 2 * 15
    by_model = scores[scores["text"].str.startswith("alice/")].pivot_table(
        index=["seed", "excerpt"], columns="model_author", values="loss"
    )
    own_gaps = by_model["alice"] - (by_model["bob"] + by_model["carol"]) / 2
    book_means = own_gaps.groupby(level="seed").mean()
    within = own_gaps.groupby(level="seed").var().mean()  # two books of 15 excerpts: the pooled variance
    between = book_means.var() * (1 + 1 / 2)
    df = (within + between) ** 2 / (between**2 / 1 + within**2 / 28)
    expected = book_means.mean() + scipy.stats.t.ppf(0.95, df) * np.sqrt(within + between)
    limit = bounds(calibrated, 0.05).set_index("author").loc["alice"]
    assert limit["bound"] == pytest.approx(expected) and limit["num_excerpts"] == 30
    one_book = calibrated[calibrated["seed"] == 0]  # no spread between books to measure: the plain quantile
    alone = bounds(one_book, 0.05).set_index("author").loc["alice", "bound"]
    assert alone == pytest.approx(own_gaps.loc[0].quantile(0.95))


def test_the_bound_holds_its_rate_on_a_new_book_where_books_differ():
    """Four books of 30 excerpts, each book's level drawn with as much spread as an excerpt's within a book: the
    pooled quantile rejects more of a fifth book than it states; the bound about what it states."""
    rng = np.random.default_rng(0)
    rejected = {"bound": [], "pooled quantile": []}
    for _ in range(400):
        levels = rng.normal(0, 1, 5)
        gaps = pd.Series((levels[:, None] + rng.normal(0, 1, (5, 30))).ravel())
        books = pd.Series(np.repeat(np.arange(5), 30))
        seen, new = books < 4, (books == 4).to_numpy()
        rejected["bound"].append((gaps[new] > book_bound(gaps[seen], books[seen], 0.05)).mean())
        rejected["pooled quantile"].append((gaps[new] > gaps[seen].quantile(0.95)).mean())
    assert np.mean(rejected["pooled quantile"]) > 0.075
    assert 0.04 < np.mean(rejected["bound"]) < 0.065


def test_a_text_outside_its_best_candidates_bound_is_none_of_the_candidates():
    scores, books = held_out_scores(np.random.default_rng(0))
    calibrated = calibration(scores, books)
    calibrated = calibrated[~((calibrated["author"] == "bob") & (calibrated["seed"] == 1))]  # bob: 15 excerpts
    texts = [Text(name, None, np.zeros(300), 300) for name in ("hers.txt", "stranger.txt", "bobs.txt")]
    # Two seeds' models on each text: alice's own text, a stranger's (every model finds it alike), bob's text.
    losses = {
        "hers.txt": {"alice": 5.0, "bob": 5.6, "carol": 5.6},
        "stranger.txt": {"alice": 5.55, "bob": 5.6, "carol": 5.6},
        "bobs.txt": {"alice": 5.6, "bob": 5.0, "carol": 5.6},
    }
    text_scores = pd.DataFrame(
        [
            [text, None, None, model, seed, loss + 0.01 * seed, 299]
            for text, by_model in losses.items()
            for model, loss in by_model.items()
            for seed in (0, 1)
        ],
        columns=["text", "excerpt_tokens", "excerpt", "model_author", "seed", "loss", "tokens"],
    ).astype({"excerpt_tokens": "Int64", "excerpt": "Int64"})
    verdicts = pd.DataFrame(
        {
            "text": list(losses),
            "excerpt_tokens": pd.array([None] * 3, dtype="Int64"),
            "excerpt": pd.array([None] * 3, dtype="Int64"),
            "verdict": ["alice", "no verdict", "bob"],
            "attributed_to": ["alice", "alice", "bob"],
        }
    )
    table = open_set_columns(verdicts, text_scores, texts, calibrated, 0.05)
    assert table["open_set"].tolist() == [WITHIN, OUTSIDE, NOT_CALIBRATED]
    assert table["open_set_gap"].tolist() == pytest.approx([-0.6, -0.05, -0.6])
    # The stranger's text is none of them, whatever the test between candidates said; alice stays the closest.
    assert table["verdict"].tolist() == ["alice", NONE_OF_THEM, "bob"]
    assert table["attributed_to"].tolist() == ["alice", "alice", "bob"]
    assert table["open_set_tokens"].tolist() == [256, 256, 256]
    assert table["open_set_excerpts"].tolist() == [30, 30, 15] and 15 < MIN_EXCERPTS
    closed = open_set_columns(verdicts, text_scores, texts, None, 0.05)
    assert (closed["open_set"] == CLOSED).all() and closed["verdict"].tolist() == verdicts["verdict"].tolist()


def test_the_rule_measured_with_each_author_left_out():
    """With carol left out, her excerpts go to alice or bob with a gap of about 0 where their own text's is about
    -0.6: nearly all called none of them (the best of two is always a little below the other); the others' still go
    to their authors, about 5% of them rejected (the bound's rate)."""
    scores, books = held_out_scores(np.random.default_rng(1), seeds=(0, 1, 2), excerpts=20)
    rates = open_set_rates(scores, books, 0.05).set_index("left_out")
    carol = rates.loc["carol"]
    assert carol["num_left_out_excerpts"] == 60 and carol["left_out_rejected"] >= 0.95
    assert carol["num_other_excerpts"] == 120 and carol["closed_set_accuracy"] == 1.0
    assert 0.9 <= carol["open_set_accuracy"] < 1.0 and carol["others_rejected"] == pytest.approx(
        1 - carol["open_set_accuracy"]
    )


@pytest.mark.slow
def test_a_study_too_small_to_calibrate_keeps_the_closed_set_and_says_so(study, tmp_path, capsys):
    out = tmp_path / "out"
    # --no-lr: where the likelihood ratio is calibrated it decides the open set instead (test_verification.py).
    code, stdout, _ = attribute(study, CONTESTED, "--no-trust", "--no-lr", "--out", out, capsys=capsys)
    assert code == 0
    row = pd.read_csv(out / "verdicts.csv").iloc[0]
    # Each seed's held-out book is scored on its first 512 tokens: 2 excerpts of 256 per seed, 4 per author.
    assert (row["open_set"], row["open_set_tokens"], row["open_set_excerpts"]) == (NOT_CALIBRATED, 256, 4)
    assert row["verdict"] != NONE_OF_THEM
    words = f"closed set: {row['attributed_to']} has 4 held-out excerpts at 256 tokens to calibrate on (20 needed)"
    assert words in stdout and words in (out / "report.md").read_text()
    code, stdout, _ = attribute(study, CONTESTED, "--no-trust", "--closed-set", "--out", tmp_path / "c", capsys=capsys)
    assert code == 0 and "closed set:" not in stdout
    assert pd.read_csv(tmp_path / "c" / "verdicts.csv")["open_set"].tolist() == [CLOSED]

    held_out = tmp_path / "held_out"
    assert attribute(study, "--held-out", "--excerpt-tokens", 64, "--out", held_out, capsys=capsys)[0] == 0
    rates = pd.read_csv(held_out / "open_set_rates.csv")
    assert rates["left_out"].tolist() == list(STUDY_AUTHORS) and (rates["excerpt_tokens"] == 64).all()
    # 8 excerpts of 64 tokens per book and seed, 2 seeds: 16 of the left-out author's, 32 of the others'.
    assert rates["num_left_out_excerpts"].tolist() == [16] * 3 and rates["num_other_excerpts"].tolist() == [32] * 3
    assert "## None of the candidates: the rule measured" in (held_out / "report.md").read_text()


def test_bad_false_rejection_rate_is_one_line(tmp_path, capsys):
    code, stdout, stderr = attribute(
        tmp_path, CONTESTED, "--false-rejection", 1.5, "--out", tmp_path / "o", capsys=capsys
    )
    assert (code, stdout) == (2, "")
    assert stderr == "error: --false-rejection 1.5: choose a share between 0 and 1, e.g. 0.05\n"
    assert not (tmp_path / "o").exists()
