"""The likelihood ratio (stylometry/attribution/verification.py): its metrics on numbers worked by hand, its trials
and calibration on tables of known answer, and `attribute` with one candidate, two and three on the tests' study."""

import math

import numpy as np
import pandas as pd
import pytest
from conftest import CORPUS, attribute

from stylometry.analysis.baselines import LANGUAGE_MODELS
from stylometry.attribution.impostors import GENERAL_IMPOSTORS
from stylometry.attribution.open_set import BY_LR, NONE_OF_THEM
from stylometry.attribution.texts import Text
from stylometry.attribution.verification import (
    ANYONE,
    CALIBRATION_COLUMNS,
    MIN_TRIALS,
    CalibrationError,
    c_llr,
    c_llr_min,
    calibrate,
    calibration_at,
    cross_validated,
    held_out_losses,
    log10_lr,
    metrics,
    model_levels,
    pair_trials,
    support_words,
    text_verification,
    trials,
    verification_words,
)

CONTESTED = CORPUS / "contested" / "30537.txt"


def test_c_llr_is_one_bit_for_a_system_that_always_says_one_and_near_zero_for_a_confident_right_one():
    assert c_llr(np.zeros(5), np.zeros(7)) == pytest.approx(1.0)
    assert c_llr(np.full(5, 4.0), np.full(5, -4.0)) < 0.001
    # Worked by hand: LR 10 on a same-author trial costs log2(1 + 1/10); LR 1/10 on a different one log2(1 + 1/10).
    assert c_llr(np.array([1.0]), np.array([-1.0])) == pytest.approx(math.log2(1.1))
    assert c_llr(np.array([-1.0]), np.array([1.0])) == pytest.approx(math.log2(11))  # confidently wrong


def test_c_llr_min_is_what_no_recalibration_beats():
    rng = np.random.default_rng(0)
    same = np.r_[np.ones(50, bool), np.zeros(100, bool)]
    llr = np.where(same, 0.5, -0.5) + rng.normal(0, 0.8, len(same))
    scaled = 5 * llr  # the same order, badly calibrated
    assert c_llr_min(scaled, same) == pytest.approx(c_llr_min(llr, same))
    assert c_llr_min(scaled, same) < c_llr(scaled[same], scaled[~same])
    separated = np.where(same, 1.0, -1.0)
    assert c_llr_min(separated, same) < 1e-6


def test_support_follows_enfsis_scale():
    assert support_words(2.5, "baum") == "moderately strong support for baum"
    assert support_words(-1.2, "baum") == "moderate support against baum"
    assert support_words(0.4, "baum") == "limited support for baum"
    assert support_words(float("nan"), "baum") == "not calibrated"
    assert support_words(1.5, "baum", "thompson") == "moderate support for baum over thompson"
    assert support_words(-3.2, "baum", "thompson") == "strong support for thompson over baum"


def test_two_candidates_get_lr_a_vs_b_from_their_own_books_excerpts():
    # Seed 0, two candidates a and b and an impostor c, each book one 4-token excerpt.
    # Model a's whole loss on c's book is 7.0, every other whole book's 5.0.
    losses = {
        (model, seed, author): (7.0 if (model, author) == ("a", "c") else 5.0, [loss])
        for seed in (0,)
        for model, author, loss in [
            ("a", "a", 4.0), ("a", "b", 5.5), ("a", "c", 5.4),
            ("b", "a", 5.6), ("b", "b", 4.2), ("b", "c", 5.3),
            ("c", "a", 5.1), ("c", "b", 5.2), ("c", "c", 4.1),
        ]
    }  # fmt: skip
    held_out = _held_out(losses)
    rows = trials(held_out, ["a", "b"])
    pair = pair_trials(rows).set_index("author")
    assert set(pair.index) == {"a", "b"}  # c's book is no trial of a against b
    assert (pair["candidate"] == "a").all() and (pair["against"] == "b").all()
    # Each model's level over both candidates' books (the excerpt's own too, so that it is not chosen by the answer):
    # the impostor's book moves each candidate's score (a's on a's excerpt: 4.0 - mean(5.0, 5.0, 7.0)), not the pair's.
    by_candidate = rows.set_index(["candidate", "author"])
    assert by_candidate.loc[("a", "a"), "score"] == pytest.approx(4.0 - 17.0 / 3)
    assert pair.loc["a", "score"] == pytest.approx((4.0 - 5.0) - (5.6 - 5.0))
    # Whole-book losses that differ by candidate book, excerpts that carry no author signal: the pair's scores of an
    # excerpt of a's book and of b's are the same, so the trials cannot tell them apart.
    blind = {(m, 0, au): ({("a", "a"): 4.0, ("b", "b"): 4.0}.get((m, au), 6.0), [5.0]) for m in "abc" for au in "abc"}
    blind_pair = pair_trials(trials(_held_out(blind), ["a", "b"])).set_index("author")["score"]
    assert blind_pair["a"] == pytest.approx(blind_pair["b"])
    levels = model_levels(held_out, ["a", "b"]).set_index("model_author")
    assert levels.loc["a", "reference_loss"] == pytest.approx(17.0 / 3)
    assert levels.loc["a", "pair_reference_loss"] == 5.0
    assert pair.loc["a", "same"] and not pair.loc["b", "same"]
    assert pair_trials(trials(held_out, ["a", "b", "c"])).empty  # only two candidates make a pair

    # A text through a calibration of each question: the pair's LR is read from A's score minus B's.
    calibration = pd.DataFrame(
        [[ANYONE, 4, -1.0, -2.0, 0.0, 10, 1000, 0.0], ["b", 4, -3.0, math.nan, 0.5, 10, 10, math.nan]],
        columns=CALIBRATION_COLUMNS,
    )
    text = Text("q.txt", CONTESTED, np.zeros(4), 4)
    text_scores = pd.DataFrame({"text": "q.txt", "excerpt_tokens": pd.array([pd.NA] * 3, dtype="Int64"),
                                "model_author": ["a", "b", "c"], "seed": 0, "loss": [4.0, 5.0, 4.5]})  # fmt: skip
    levels = pd.DataFrame({"model_author": ["a", "b", "c"], "seed": 0, "reference_loss": [5.0, 5.0, 5.0],
                           "pair_reference_loss": [5.0, 5.0, 5.0]})  # fmt: skip
    table = text_verification(text_scores, levels, [text], calibration, ["a", "b"]).set_index(["candidate", "against"])
    # a: score -1, relative -1 - mean(b 0, c -0.5) = -0.75: LR = -1 * -1 + -2 * -0.75 = 2.5.
    assert table.loc[("a", ANYONE), "log10_lr"] == pytest.approx(2.5)
    # -3 * (-1 - 0) + 0.5 = 3.5, bounded by its 10 different-author trials: log10(11).
    assert table.loc[("a", "b"), "log10_lr"] == pytest.approx(math.log10(11))
    assert table.loc[("a", "b"), "support"] == "moderate support for a over b"
    # Each question reads its own level: the pair's pair_reference_loss, each candidate's reference_loss.
    pair_levels = levels.assign(pair_reference_loss=[3.5, 5.0, 5.0])
    moved = text_verification(text_scores, pair_levels, [text], calibration, ["a", "b"]).set_index(
        ["candidate", "against"]
    )
    assert moved.loc[("a", "b"), "log10_lr"] == pytest.approx(-3.0 * ((4.0 - 3.5) - (5.0 - 5.0)) + 0.5)
    assert moved.loc[("a", ANYONE), "log10_lr"] == pytest.approx(2.5)
    # A text shorter than the shortest calibrated length is read there, and its words say so.
    words = verification_words(table.reset_index())
    assert words.startswith("; log10 LR at 4 tokens: ") and "a vs b +1.04" in words
    pair_elsewhere = table.reset_index()
    pair_elsewhere.loc[pair_elsewhere["against"] != ANYONE, "calibrated_tokens"] = 2  # the pair's at another length
    assert "a vs b at 2 tokens +1.04" in verification_words(pair_elsewhere)
    shorter = verification_words(table.reset_index().assign(text_tokens=3))
    assert shorter.startswith("; log10 LR at 4 tokens (the text's 3 tokens are fewer: its LRs vary more than the")


def _held_out(losses: dict) -> pd.DataFrame:
    """held_out_losses from losses: (model author, seed, book author) -> (whole book's loss, [each excerpt's loss])
    at 4 tokens."""
    rows, books = [], {}
    for (model, seed, author), (whole, excerpts) in losses.items():
        name = f"{author}/{seed}.txt"
        books[name] = Text(name, CONTESTED, np.zeros(8), 8, author=author, seeds=frozenset([seed]))
        rows.append({"text": name, "excerpt_tokens": pd.NA, "excerpt": pd.NA, "model_author": model, "seed": seed,
                     "loss": whole, "tokens": 8})  # fmt: skip
        for i, loss in enumerate(excerpts):
            rows.append({"text": name, "excerpt_tokens": 4, "excerpt": i, "model_author": model, "seed": seed,
                         "loss": loss, "tokens": 4})  # fmt: skip
    table = pd.DataFrame(rows)
    for column in ("excerpt_tokens", "excerpt"):
        table[column] = table[column].astype("Int64")
    return held_out_losses(table, list(books.values()))


def test_a_trials_level_is_its_models_mean_on_every_held_out_book_whatever_the_answer():
    losses = {
        ("a", 0, "a"): (4.0, [3.9]),
        ("a", 0, "b"): (5.0, [5.2]),
        ("a", 0, "c"): (6.0, [6.1]),
    }
    table = trials(_held_out(losses), ["a"]).set_index("author")
    assert table.loc["a", "score"] == pytest.approx(3.9 - 5.0)  # the level a questioned text is read against
    assert table.loc["b", "score"] == pytest.approx(5.2 - 5.0)
    assert table["same"].to_dict() == {"a": True, "b": False, "c": False}
    assert table["relative"].isna().all()  # a study of one model has no reference model
    # Each model best on its own author's whole book, excerpts that carry no author signal: every trial scores the
    # same, same-author or not, so the trials cannot tell them apart. A level that left the excerpt's own book out
    # would leave out the model's best book on exactly its same-author trials (a's: -1.0 there, 0.0 elsewhere).
    blind = {(m, s, au): (4.0 if m == au else 6.0, [5.0]) for m in "abc" for s in (0, 1) for au in "abc"}
    blind_trials = trials(_held_out(blind), ["a", "b", "c"])
    assert blind_trials["score"].to_numpy() == pytest.approx(np.full(len(blind_trials), 5.0 - 16.0 / 3))
    assert blind_trials["relative"].to_numpy() == pytest.approx(np.zeros(len(blind_trials)))
    assert blind_trials["same"].any() and not blind_trials["same"].all()


def test_a_trials_relative_score_leaves_out_the_candidate_and_the_excerpts_author():
    # Three models of seed 0 (a, b, c) on two books each (a's and b's), one excerpt each.
    losses = {
        (model, 0, author): (whole, [excerpt])
        for model, author, whole, excerpt in [
            ("a", "a", 4.0, 3.8), ("a", "b", 5.0, 5.3),
            ("b", "a", 5.5, 5.6), ("b", "b", 4.5, 4.4),
            ("c", "a", 5.0, 5.1), ("c", "b", 5.0, 4.9),
        ]
    }  # fmt: skip
    table = trials(_held_out(losses), ["a", "b"]).set_index(["candidate", "author"])
    # Each score is the excerpt's loss minus the model's mean on both books.
    score = {("a", "a"): 3.8 - 4.5, ("a", "b"): 5.3 - 4.5, ("b", "a"): 5.6 - 5.0, ("b", "b"): 4.4 - 5.0,
             ("c", "a"): 5.1 - 5.0, ("c", "b"): 4.9 - 5.0}  # fmt: skip
    assert table.loc[("a", "a"), "score"] == pytest.approx(score["a", "a"])
    # a on its own book: against b and c; a on b's book: against c only (b's model is the excerpt's author's).
    assert table.loc[("a", "a"), "relative"] == pytest.approx(score["a", "a"] - (score["b", "a"] + score["c", "a"]) / 2)
    assert table.loc[("a", "b"), "relative"] == pytest.approx(score["a", "b"] - score["c", "b"])
    assert table.loc[("b", "a"), "relative"] == pytest.approx(score["b", "a"] - score["c", "a"])
    assert set(table.index.get_level_values("candidate")) == {"a", "b"}  # c is an impostor: reference only
    # Without c (a study of two authors) a different-author trial has no reference model left.
    two = trials(_held_out({key: value for key, value in losses.items() if key[0] != "c"}), ["a", "b"])
    assert two.loc[two["same"], "relative"].notna().all() and two.loc[~two["same"], "relative"].isna().all()


def _separable_trials(seeds: int, per_seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for seed in range(seeds):
        for i in range(per_seed):
            same = i % 3 == 0
            rows.append({"excerpt_tokens": 256, "seed": seed, "candidate": "a", "author": "a" if same else "b",
                         "book": "x", "excerpt": i, "score": (-0.3 if same else 0.3) + rng.normal(0, 0.2),
                         "against": ANYONE, "relative": math.nan, "same": same})  # fmt: skip
    return pd.DataFrame(rows)


def test_the_calibration_gives_own_author_trials_support_and_others_none_and_its_metrics_say_so():
    rows = _separable_trials(seeds=3, per_seed=60)
    calibration = calibrate(rows)
    chosen = calibration_at(calibration, 300)
    assert chosen["slope"] < 0  # a lower score (the text easier for the model than its level) is support
    assert math.isnan(chosen["slope_relative"])  # no trial has a reference model: the own score alone
    assert (log10_lr(rows[rows["same"]], chosen) > 0).mean() > 0.9
    assert (log10_lr(rows[~rows["same"]], chosen) < 0).mean() > 0.9
    table = metrics(cross_validated(rows)).iloc[0]
    assert table["auc"] > 0.95 and table["c_llr"] < 0.5 and table["c_llr_min"] <= table["c_llr"]
    assert table["own_rejected"] < 0.1 and table["others_accepted"] < 0.1
    assert (table["num_same"], table["num_different"]) == (60, 120)


def test_the_calibration_fuses_the_relative_score_where_every_trial_has_one():
    rows = _separable_trials(seeds=3, per_seed=60)
    rng = np.random.default_rng(2)
    # The own score blurred by each text's difficulty, which the relative score (against other models) cancels.
    difficulty = rng.normal(0, 0.6, len(rows))
    rows = rows.assign(relative=rows["score"], score=rows["score"] + difficulty)
    chosen = calibration_at(calibrate(rows), 256)
    assert chosen["slope_relative"] < 0
    fused = metrics(cross_validated(rows)).iloc[0]
    alone = metrics(cross_validated(rows.assign(relative=math.nan))).iloc[0]
    assert fused["c_llr"] < alone["c_llr"] and fused["auc"] > alone["auc"]


def test_a_calibration_from_too_few_trials_or_one_seed_fails_saying_why():
    few = _separable_trials(seeds=1, per_seed=3 * MIN_TRIALS - 3)  # MIN_TRIALS - 1 same-author trials
    with pytest.raises(CalibrationError, match=f"256 tokens: {MIN_TRIALS - 1} same-author.*{MIN_TRIALS} of each"):
        calibrate(few)
    with pytest.raises(CalibrationError, match="two seeds or more"):
        cross_validated(_separable_trials(seeds=1, per_seed=60))


@pytest.mark.slow
def test_one_candidate_gets_a_likelihood_ratio_or_says_why_not(study, tmp_path, capsys, caplog):
    code, stdout, stderr = attribute(study, CONTESTED, "--authors", "baum", "--out", tmp_path / "one", capsys=capsys)
    assert code == 0, stderr
    assert stdout.startswith("30537.txt: baum (mean loss ") and "no other candidate to compare" in stdout
    # The tests' study holds 2 excerpts of 256 tokens per book: too few same-author trials, said in one line.
    assert "no likelihood ratio: too few trials to calibrate on (256 tokens: 4 same-author, 8 different" in caplog.text
    assert "No likelihood ratio: too few trials" in (tmp_path / "one" / "report.md").read_text()


@pytest.mark.slow
def test_every_candidate_gets_a_likelihood_ratio_beside_the_studys_verdict(study, tmp_path, capsys):
    code, stdout, stderr = attribute(study, CONTESTED, "--out", tmp_path / "all", capsys=capsys)
    assert code == 0, stderr
    table = pd.read_csv(tmp_path / "all" / "verification.csv")
    assert sorted(table["candidate"]) == ["austen", "baum", "thompson"]
    assert (table["log10_lr_low"] <= table["log10_lr"]).all() and (table["log10_lr"] <= table["log10_lr_high"]).all()
    assert (table["calibrated_tokens"] == 256).all()
    line = stdout.splitlines()[0]
    assert "; log10 LR at 256 tokens: " in line and line.count("support") == 3
    assert "## Likelihood ratios" in (tmp_path / "all" / "report.md").read_text()
    # The LR decides the open set: none of the candidates exactly where every candidate's LR is below the threshold
    # (0, or lower as the stated false rejection needs: none_of_them.py), which the calibration table states.
    verdict = pd.read_csv(tmp_path / "all" / "verdicts.csv").iloc[0]
    assert verdict["open_set"] == BY_LR
    calibration = pd.read_csv(tmp_path / "all" / "verification_calibration.csv")
    assert (calibration["none_below"] <= 0).all() and (table["none_below"].isin(calibration["none_below"])).all()
    assert (verdict["verdict"] == NONE_OF_THEM) == (table["log10_lr"] < table["none_below"]).all()
    assert (verdict["verdict"] == NONE_OF_THEM) == ("the LR says none of the candidates" in line)


@pytest.mark.slow
def test_two_candidates_are_measured_against_the_impostors_books_and_models(study, tmp_path, capsys):
    """--authors baum,thompson on a study of three: austen's models are the impostors (reference only), its books the
    different-author trials whose author is neither candidate."""
    out = tmp_path / "two"
    code, _, stderr = attribute(
        study, "--held-out", "--authors", "baum,thompson", "--excerpt-tokens", "32", "--out", out, capsys=capsys
    )
    assert code == 0, stderr
    judged = pd.read_csv(out / "verification_trials.csv")
    assert set(judged["candidate"]) == {"baum", "thompson"}
    assert set(judged["author"]) == {"austen", "baum", "thompson"}
    asked = judged[judged["against"] == ANYONE]
    assert asked["relative"].notna().all()  # austen's models are every trial's reference
    measured = pd.read_csv(out / "verification.csv").iloc[0]
    assert measured["against"] == ANYONE and (measured["num_same"], measured["num_different"]) == (64, 128)
    assert measured[["own_called_none", "outsiders_called_none"]].between(0, 1).all()
    calibration = pd.read_csv(out / "verification_calibration.csv").set_index("against")
    assert calibration.loc[ANYONE, "slope_relative"] == calibration.loc[ANYONE, "slope_relative"]  # fused
    # LR(baum vs thompson): calibrated on their own books' excerpts, 32 each, by the score alone.
    pair = pd.read_csv(out / "verification.csv").set_index("against").loc["thompson"]
    assert (pair["num_same"], pair["num_different"]) == (32, 32) and pair["auc"] == pair["auc"]
    assert pd.isna(calibration.loc["thompson", "slope_relative"])
    held_out = pd.read_csv(out / "held_out.csv")
    assert set(held_out["author"]) == {"baum", "thompson"}  # austen's books are trials only, not attributed


@pytest.mark.slow
def test_held_out_measures_the_likelihood_ratio_on_trials_each_seed_judged_by_the_other(study, tmp_path, capsys):
    out = tmp_path / "held_out"
    code, stdout, stderr = attribute(study, "--held-out", "--excerpt-tokens", "64,128", "--out", out, capsys=capsys)
    assert code == 0, stderr
    table = pd.read_csv(out / "verification.csv")
    measured = table[table["method"] == LANGUAGE_MODELS]
    assert list(measured["excerpt_tokens"]) == [64, 128]
    # General Impostors on Delta's words, on the same trials: the baseline beside it.
    impostors = table[table["method"] == GENERAL_IMPOSTORS]
    assert list(impostors["excerpt_tokens"]) == [64, 128] and impostors["auc"].between(0, 1).all()
    assert (
        impostors[["num_same", "num_different"]].to_numpy() == measured[["num_same", "num_different"]].to_numpy()
    ).all()
    assert (measured["num_same"] == [48, 24]).all() and (measured["num_different"] == [96, 48]).all()
    for column in ("auc", "c_llr", "c_llr_min", "brier", "c_at_1", "f05u"):
        assert measured[column].between(0, 2).all(), column
    assert (measured["c_llr_min"] <= measured["c_llr"] + 1e-9).all()
    judged = pd.read_csv(out / "verification_trials.csv")
    assert judged["log10_lr"].notna().all()
    assert (out / "figures" / "tippett.png").is_file()
    assert "## Verification: the likelihood ratio measured" in (out / "report.md").read_text()
