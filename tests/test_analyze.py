"""Tests of the analysis command on small hand-built sweeps whose answers are worked out by hand,
and on the study's published final losses, which must give back its Table 1.

    python -m pytest tests/test_analyze.py -q
"""

import json
import math
from pathlib import Path
from typing import Dict

import pandas as pd
import pytest
from scipy import stats as scipy_stats

from stylometry.analysis import stats
from stylometry.analysis.load import load_sweeps, parse_study_name
from stylometry.analysis.tables import compute_tables
from stylometry.analyze import analyze, main

# ---- a hand-built sweep ---------------------------------------------------------------------------
# Three authors x three seeds, evaluated at epochs 0, 1 and 2 (the final epoch). FINAL[author][seed]
# is that model's final loss on each author's book; the Oz authors' models also see three extra sets.
FINAL = {
    "austen": [{"austen": 2, "baum": 5, "thompson": 5}, {"austen": 3, "baum": 6, "thompson": 6},
               {"austen": 4, "baum": 7, "thompson": 7}],
    "baum": [{"austen": 6, "baum": 1, "thompson": 2}] * 3,
    # seed 2's Thompson model predicts Thompson's book worse (8) than the Baum model does (2):
    # the one misattributed book.
    "thompson": [{"austen": 7, "baum": 3, "thompson": 1.5}, {"austen": 7, "baum": 3, "thompson": 1.5},
                 {"austen": 7, "baum": 3, "thompson": 8}],
}
EXTRA = {  # final losses per seed on the extra sets
    "baum": {"contested": [6.0, 6.2, 6.4], "non_oz_baum": [4.0, 4.2, 4.4], "non_oz_thompson": [7.0, 7.0, 7.1]},
    "thompson": {"contested": [5.0, 5.1, 5.2], "non_oz_baum": [4.5, 4.6, 4.7], "non_oz_thompson": [6.0, 6.1, 6.3]},
}
UNTRAINED = 10.0  # every loss at epoch 0


def final_losses(author: str, seed: int) -> Dict[str, float]:
    """Seeds past 2 repeat seeds 0-2 (seed % 3)."""
    losses = dict(FINAL[author][seed % 3])
    losses.update({name: values[seed % 3] for name, values in EXTRA.get(author, {}).items()})
    return losses


def write_job(root: Path, author: str, seed: int, epochs=(0, 1, 2), variant="baseline", experiment="paper",
              state="complete", offset=0.0, status=True) -> Path:
    """A run dir as the trainer writes it: epoch 0 untrained, epoch 1 = final + 1, then the final losses."""
    job = root / experiment / variant / author / f"seed={seed}"
    job.mkdir(parents=True)
    rows = []
    for epoch in epochs:
        if epoch > 0:
            rows.append((epoch, "train", 3.0 + 2.0 / epoch))
        for name, loss in final_losses(author, seed).items():
            value = UNTRAINED if epoch == 0 else loss + offset + (1.0 if epoch == 1 else 0.0)
            rows.append((epoch, name, value))
    lines = ["epoch,dataset,loss,tokens,seconds"] + [f"{e},{d},{v:.6f},1000,{e * 1.5}" for e, d, v in rows]
    (job / "metrics.csv").write_text("\n".join(lines) + "\n")
    if status:
        (job / "status.json").write_text(json.dumps({
            "experiment": experiment, "variant": variant, "author": author, "seed": seed, "state": state,
            "epoch": max(epochs)}))
    return job


def hand_sweep(root: Path, **kwargs) -> Path:
    for author in FINAL:
        for seed in range(3):
            write_job(root, author, seed, **kwargs)
    return root


def by_hand_welch(a, b):
    """Welch's t-test from its textbook formulas (a vs b), to check the scipy-based code against."""
    n_a, n_b = len(a), len(b)
    mean_a, mean_b = sum(a) / n_a, sum(b) / n_b
    var_a = sum((x - mean_a) ** 2 for x in a) / (n_a - 1)
    var_b = sum((x - mean_b) ** 2 for x in b) / (n_b - 1)
    se2 = var_a / n_a + var_b / n_b
    t = (mean_a - mean_b) / math.sqrt(se2)
    df = se2 ** 2 / ((var_a / n_a) ** 2 / (n_a - 1) + (var_b / n_b) ** 2 / (n_b - 1))
    return t, df, 2 * scipy_stats.t.sf(abs(t), df)


def one(table: pd.DataFrame, **where) -> pd.Series:
    for column, value in where.items():
        table = table[table[column] == value]
    assert len(table) == 1, f"{len(table)} rows match {where}"
    return table.iloc[0]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """The hand-built sweep's tables, computed once: tests only read them."""
    return compute_tables(load_sweeps([hand_sweep(tmp_path_factory.mktemp("hand") / "multirun")]))


# ---- the tidy table -------------------------------------------------------------------------------


def test_results_hold_one_row_per_model_epoch_and_eval_set(tables):
    results = tables.results
    assert list(results.columns) == ["sweep", "experiment", "variant", "model_author", "seed", "epoch", "eval_set", "loss"]
    # Austen's models: 3 books x 3 epochs + 2 training losses; the Oz models add 3 extra sets x 3 epochs.
    assert len(results) == 3 * (9 + 2) + 6 * (18 + 2)
    assert not results.duplicated(["sweep", "experiment", "variant", "model_author", "seed", "epoch", "eval_set"]).any()
    assert one(results, model_author="thompson", seed=2, epoch=2, eval_set="thompson")["loss"] == 8.0
    assert one(results, model_author="baum", seed=0, epoch=0, eval_set="contested")["loss"] == UNTRAINED
    assert set(tables.runs["state"]) == {"complete"} and set(tables.runs["final_epoch"]) == {2}


# ---- attribution ----------------------------------------------------------------------------------


def test_each_book_goes_to_the_author_whose_model_has_the_lowest_loss(tables):
    attribution = tables.attribution[tables.attribution["at"] == stats.OWN_FINAL]
    assert len(attribution) == 9  # 3 seeds x 3 books
    wrong = attribution[~attribution["correct"]]
    # Seed 2, Thompson's book: Baum's model 2 < Austen's 7 < Thompson's own 8.
    assert wrong[["seed", "book", "attributed_to", "loss", "own_author_loss"]].values.tolist() == [[2, "thompson", "baum", 2.0, 8.0]]
    assert one(attribution, seed=0, book="thompson")["attributed_to"] == "thompson"  # 1.5 < 2 < 5
    assert set(attribution["num_models"]) == {3}


def test_accuracy_per_seed_and_overall(tables):
    accuracy = tables.accuracy[tables.accuracy["at"] == stats.OWN_FINAL]
    per_seed = accuracy[accuracy["seed"].notna()]
    assert per_seed[["seed", "num_correct", "num_books"]].values.tolist() == [[0, 3, 3], [1, 3, 3], [2, 2, 3]]
    overall = accuracy[accuracy["seed"].isna()].iloc[0]
    assert (overall["num_correct"], overall["num_books"]) == (8, 9)
    assert overall["accuracy"] == pytest.approx(8 / 9)


def test_accuracy_as_a_function_of_epoch(tables):
    overall = tables.accuracy_by_epoch[tables.accuracy_by_epoch["seed"].isna()].set_index("epoch")
    assert list(overall.index) == [0, 1, 2]
    # Epoch 1 is the final losses + 1 for every model: the same ranking, the same 8 of 9.
    assert overall.loc[1, "num_correct"] == 8 and overall.loc[2, "num_correct"] == 8
    # Epoch 0 is a three-way tie on every book (untrained): ties go to the first author by name, Austen.
    assert overall.loc[0, "num_correct"] == 3


def test_confusion_matrix_is_the_mean_final_loss_over_seeds(tables):
    confusion = tables.confusion[tables.confusion["at"] == stats.OWN_FINAL]
    assert one(confusion, model_author="austen", book="austen")["mean_loss"] == pytest.approx((2 + 3 + 4) / 3)
    assert one(confusion, model_author="thompson", book="thompson")["mean_loss"] == pytest.approx((1.5 + 1.5 + 8) / 3)
    assert one(confusion, model_author="baum", book="thompson")["mean_loss"] == pytest.approx(2.0)
    assert len(confusion) == 9 and set(confusion["num_seeds"]) == {3}
    by_epoch = tables.confusion_by_epoch
    assert one(by_epoch, epoch=1, model_author="austen", book="austen")["mean_loss"] == pytest.approx(4.0)


# ---- own book vs other books: the study's Table 1 test --------------------------------------------


def test_welch_ttest_of_other_books_against_own_book(tables):
    ttests = tables.author_ttests[tables.author_ttests["at"] == stats.OWN_FINAL].set_index("model_author")
    # Austen: own [2, 3, 4] (mean 3, var 1); other [5, 5, 6, 6, 7, 7] (mean 6, var 4/5).
    # se^2 = (4/5)/6 + 1/3 = 7/15, t = 3 / sqrt(7/15); df = (7/15)^2 / ((2/15)^2/5 + (1/3)^2/2) = 4410/1197.
    austen = ttests.loc["austen"]
    assert (austen["num_own"], austen["num_other"]) == (3, 6)
    assert austen["t"] == pytest.approx(3 / math.sqrt(7 / 15))
    assert austen["df"] == pytest.approx(4410 / 1197)
    assert austen["p"] == pytest.approx(2 * scipy_stats.t.sf(3 / math.sqrt(7 / 15), 4410 / 1197))
    # Baum: own [1, 1, 1] has no variance, so the test rests on other [6, 2] x 3 (var 24/5): t = 3/sqrt(4/5), df = 5.
    assert ttests.loc["baum", "t"] == pytest.approx(3 / math.sqrt(4 / 5))
    assert ttests.loc["baum", "df"] == pytest.approx(5)
    t, df, p = by_hand_welch([7, 3, 7, 3, 7, 3], [1.5, 1.5, 8])
    assert tuple(ttests.loc["thompson", ["t", "df", "p"]]) == pytest.approx((t, df, p))
    assert ttests.loc["thompson", "mean_own"] == pytest.approx(11 / 3)


def test_significance_onset_is_the_epoch_from_which_p_stays_below_alpha():
    by_epoch = pd.DataFrame({
        "sweep": "s", "experiment": "e", "variant": "v",
        "model_author": ["a"] * 5 + ["b"] * 3 + ["c"] * 2,
        "epoch": [0, 1, 2, 3, 4] + [0, 1, 2] + [0, 1],
        "p": [0.5, 0.01, 0.2, 0.001, 0.0001] + [0.02, 0.03, 0.04] + [0.9, 0.8],
    })
    onset = stats.significance_onset(by_epoch, alpha=0.05).set_index("model_author")
    assert (onset.loc["a", "first_below"], onset.loc["a", "stays_below_from"]) == (1, 3)  # dips at 1, back at 2
    assert (onset.loc["b", "first_below"], onset.loc["b", "stays_below_from"]) == (0, 0)
    assert pd.isna(onset.loc["c", "first_below"]) and pd.isna(onset.loc["c", "stays_below_from"])


def test_ttests_by_epoch_cover_every_evaluated_epoch(tables):
    austen = tables.ttests_by_epoch[tables.ttests_by_epoch["model_author"] == "austen"].set_index("epoch")
    assert list(austen.index) == [0, 1, 2]
    assert pd.isna(austen.loc[0, "t"])  # untrained: every loss 10, no variance at all
    assert austen.loc[1, "t"] == pytest.approx(3 / math.sqrt(7 / 15))  # +1 everywhere: the same test
    # p = 0.014 at epochs 1 and 2 with three seeds: significant at 0.05, never at the study's 0.001.
    onset = tables.onset.set_index("model_author")
    assert pd.isna(onset.loc["austen", "stays_below_from"])
    loose = stats.significance_onset(tables.ttests_by_epoch, alpha=0.05).set_index("model_author")
    assert loose.loc["austen", "stays_below_from"] == 1


# ---- the contested book ---------------------------------------------------------------------------


def test_contested_book_goes_to_the_oz_author_with_the_lower_loss(tables):
    extra = tables.extra_sets[tables.extra_sets["at"] == stats.OWN_FINAL].set_index("eval_set")
    contested = extra.loc["contested"]
    assert (contested["attributed_to"], contested["runner_up"]) == ("thompson", "baum")
    assert contested["mean_loss"] == pytest.approx(5.1) and contested["runner_up_mean_loss"] == pytest.approx(6.2)
    # Welch, Baum [6.0, 6.2, 6.4] (var 0.04) vs Thompson [5.0, 5.1, 5.2] (var 0.01):
    # t = 1.1 / sqrt(0.05/3); df = (0.05/3)^2 / (((0.04/3)^2 + (0.01/3)^2) / 2) = 0.0025/0.00085.
    assert contested["welch_t"] == pytest.approx(1.1 / math.sqrt(0.05 / 3))
    assert contested["welch_df"] == pytest.approx(0.0025 / 0.00085)
    # Paired over seeds: differences [1.0, 1.1, 1.2], mean 1.1, sd 0.1: t = 1.1 / (0.1 / sqrt 3), df 2.
    assert contested["paired_t"] == pytest.approx(1.1 / (0.1 / math.sqrt(3)))
    assert contested["paired_df"] == 2
    assert (contested["seeds_won"], contested["num_paired_seeds"]) == (3, 3)
    assert extra.loc["non_oz_baum", "attributed_to"] == "baum"
    assert extra.loc["non_oz_thompson", "attributed_to"] == "thompson"


# ---- partial sweeps, variants, identities ---------------------------------------------------------


def test_a_partial_sweep_is_reported_not_crashed_on(tmp_path):
    root = tmp_path / "multirun"
    for author in FINAL:
        for seed in range(3):
            if (author, seed) == ("thompson", 1):
                continue  # never ran
            if (author, seed) == ("austen", 2):
                write_job(root, author, seed, epochs=(0, 1), state="failed")  # stopped after epoch 1
            else:
                write_job(root, author, seed)
    tables = compute_tables(load_sweeps([root]))

    coverage = tables.coverage.iloc[0]
    assert coverage["missing_models"] == "thompson seed 1"
    assert coverage["not_complete"] == "austen seed 2 (failed, epoch 1)"
    assert (coverage["min_final_epoch"], coverage["max_final_epoch"], coverage["common_epoch"]) == (1, 2, 1)

    attribution = tables.attribution.set_index(["at", "seed", "book"])
    # Seed 1 has no Thompson model: its book goes to Baum's (2 < Austen's 6), with no own-author loss.
    seed1 = attribution.loc[(stats.OWN_FINAL, 1, "thompson")]
    assert (seed1["attributed_to"], seed1["num_models"]) == ("baum", 2) and pd.isna(seed1["own_author_loss"])
    # The failed model is judged at its own last epoch (1): Austen's book 5 vs Baum's 6 vs Thompson's 7.
    assert attribution.loc[(stats.OWN_FINAL, 2, "austen"), "loss"] == 5.0
    # At the common epoch (1) every model is at final + 1 except that one, which is at its own epoch 1.
    assert attribution.loc[(stats.COMMON, 2, "austen"), "loss"] == 5.0
    assert attribution.loc[(stats.COMMON, 0, "austen"), "loss"] == 3.0
    accuracy = tables.accuracy[tables.accuracy["seed"].isna()].set_index("at")
    assert accuracy.loc[stats.OWN_FINAL, "num_correct"] == 7 and accuracy.loc[stats.COMMON, "num_correct"] == 7
    assert one(tables.author_ttests, at=stats.OWN_FINAL, model_author="thompson")["num_own"] == 2


def test_an_author_with_no_model_is_named_and_a_lone_extra_set_is_not_compared(tmp_path):
    root = tmp_path / "multirun"
    for author in ("austen", "baum"):
        for seed in range(3):
            write_job(root, author, seed)
    tables = compute_tables(load_sweeps([root]))
    assert tables.coverage.iloc[0]["books_without_model"] == "thompson"
    assert set(tables.attribution["book"]) == {"austen", "baum"}  # a book with no model of its author is no test
    contested = one(tables.extra_sets, at=stats.OWN_FINAL, eval_set="contested")
    assert contested["attributed_to"] == "baum" and pd.isna(contested["runner_up"])


def test_variants_are_analysed_apart(tmp_path):
    root = tmp_path / "multirun"
    hand_sweep(root)
    hand_sweep(root, variant="content", offset=0.5)
    tables = compute_tables(load_sweeps([root]))
    ttests = tables.author_ttests[tables.author_ttests["at"] == stats.OWN_FINAL]
    assert len(ttests) == 6 and set(ttests["num_own"]) == {3} and set(ttests["num_other"]) == {6}
    austen = ttests[ttests["model_author"] == "austen"].set_index("variant")
    assert austen.loc["content", "mean_own"] == pytest.approx(austen.loc["baseline", "mean_own"] + 0.5)
    assert set(tables.coverage["num_models"]) == {9}
    assert len(tables.headline) == 2


def test_identity_falls_back_to_the_hydra_config_and_unreadable_jobs_are_reported(tmp_path):
    root = tmp_path / "multirun"
    hand_sweep(root)
    job = write_job(root, "austen", 3, status=False)
    (job / ".hydra").mkdir()
    (job / ".hydra" / "config.yaml").write_text(
        "experiment_name: paper\nseed: 3\nauthor:\n  name: austen\nvariant:\n  name: baseline\n")
    orphan = root / "stray"
    orphan.mkdir()
    (orphan / "metrics.csv").write_text("epoch,dataset,loss,tokens,seconds\n0,austen,10,1,0\n")
    sweeps = load_sweeps([root, tmp_path / "nowhere"])
    run = one(sweeps.runs, model_author="austen", seed=3)
    assert (run["state"], run["variant"], run["experiment"]) == ("unknown", "baseline", "paper")
    assert any("stray" in p and "whose model" in p for p in sweeps.problems)
    assert any("nowhere" in p for p in sweeps.problems)
    coverage = compute_tables(sweeps).coverage.iloc[0]
    assert "austen seed 3 (unknown, epoch 2)" in coverage["not_complete"]


def test_the_same_model_twice_is_counted_once(tmp_path):
    hand_sweep(tmp_path / "a")
    write_job(tmp_path / "a" / "rerun", "austen", 0, epochs=(0, 1))
    sweeps = load_sweeps([tmp_path / "a"])
    assert len(sweeps.runs) == 9
    assert one(sweeps.runs, model_author="austen", seed=0)["final_epoch"] == 2
    assert any("same model" in p for p in sweeps.problems)


# ---- the study's published layout -----------------------------------------------------------------


def test_study_model_names_are_parsed():
    assert parse_study_name("baum_tokenizer=gpt2_seed=0") == {"model_author": "baum", "variant": "baseline", "seed": 0}
    assert parse_study_name("austen_variant=content_tokenizer=gpt2_seed=5") == {
        "model_author": "austen", "variant": "content", "seed": 5}
    assert parse_study_name("twain_tokenizer=gpt2_ntokens=10000_seed=9")["variant"] == "baseline_ntokens=10000"
    assert parse_study_name("README.md") is None


def test_study_logs_keep_the_first_epoch_0_and_the_last_of_a_repeated_epoch(tmp_path):
    model = tmp_path / "models" / "baum_variant=pos_tokenizer=gpt2_seed=4"
    model.mkdir(parents=True)
    rows = [(0, "baum", 10.0), (1, "train", 9.5), (1, "baum", 9.0), (2, "train", 8.5), (2, "baum", 8.0),
            (0, "baum", 99.0),  # a resume logged its restored model as "epoch 0"
            (2, "train", 7.5), (2, "baum", 7.0)]  # and redid epoch 2
    (model / "loss_logs.csv").write_text("seed,train_author,epochs_completed,loss_dataset,loss_value\n" + "".join(
        f"4,baum,{e},{d},{v}\n" for e, d, v in rows))
    sweeps = load_sweeps([tmp_path / "models"])
    run = sweeps.runs.iloc[0]
    assert (run["model_author"], run["variant"], run["seed"], run["state"], run["final_epoch"]) == (
        "baum", "pos", 4, "published", 2)
    baum = sweeps.losses[sweeps.losses["eval_set"] == "baum"].set_index("epoch")["loss"]
    assert baum.to_dict() == {0: 10.0, 1: 9.0, 2: 7.0}


# ---- the study's published logs: Table 1 -----------------------------------------------------------
# The final row of each of the study's 80 baseline models (8 authors x 10 seeds), rounded to 6 decimals:
# jeremymanning/llm-stylometry, models/<author>_tokenizer=gpt2_seed=<seed>/loss_logs.csv at commit
# 5dccfac079ba935243ccf23b7314bf1b8f23cc93. Per line: author, seed, final epoch, then the losses on
# STUDY_SETS (the Oz authors' models also on the last three).
STUDY_SETS = ["train", "baum", "thompson", "dickens", "melville", "wells", "austen", "fitzgerald", "twain",
              "non_oz_baum", "non_oz_thompson", "contested"]
STUDY_FINAL_LOSSES = """
austen 0 868 2.998961 8.747021 9.478233 7.975511 8.22229 8.754222 4.013763 8.642095 8.173489
austen 1 875 2.997962 8.245601 9.142578 7.932876 9.441327 8.290965 3.534211 8.52885 9.124669
austen 2 874 2.996225 8.732269 9.652734 7.951972 9.086806 8.832616 3.874168 9.042311 8.613204
austen 3 842 2.994725 8.273846 9.591489 7.894994 9.357883 8.349259 3.564755 8.104706 9.168198
austen 4 854 2.998555 8.433857 9.835233 7.759261 9.447815 8.585421 3.551725 8.478575 9.49025
austen 5 850 2.996731 8.676556 9.610929 7.349263 8.636441 8.504107 3.423227 9.138629 9.752289
austen 6 865 2.999621 8.464011 10.73523 7.676026 8.515471 8.481925 3.783958 8.308644 9.601609
austen 7 857 2.98941 8.632345 9.29142 7.652413 8.713053 8.348576 3.49936 8.656852 8.675071
austen 8 861 2.993563 8.287281 9.659853 7.691073 9.314475 8.353601 3.482439 8.159004 9.261346
austen 9 856 2.995643 8.30832 9.002639 7.444051 7.81401 8.306127 3.662227 9.164455 8.027232
baum 0 594 2.995908 3.317434 6.462963 7.426858 7.634944 7.638348 7.729024 7.636438 6.987167 5.678033 6.945971 6.103128
baum 1 582 2.99268 3.271672 7.075616 7.217981 8.830709 7.525002 7.122534 7.609679 8.399962 5.716757 6.961892 6.144952
baum 2 586 2.99544 3.518853 6.648812 7.646626 8.37622 8.217756 8.185353 7.796078 7.874673 5.768433 7.02814 6.191261
baum 3 597 2.999535 3.793287 7.936674 7.821202 8.716215 7.649306 7.349197 7.701616 8.642446 5.91971 7.177145 6.333961
baum 4 593 2.995359 3.57642 7.477828 7.629767 8.545481 7.408253 7.108988 7.330695 8.3492 5.586131 6.868807 6.002369
baum 5 600 2.993031 3.742947 6.874987 7.23812 7.837385 7.568303 7.164793 8.017904 7.942043 5.958948 6.980906 6.322788
baum 6 603 2.99754 3.347664 8.505942 7.873174 8.247379 7.987269 8.194694 7.560444 8.099568 5.887786 7.085426 6.357627
baum 7 600 2.999181 3.753543 7.364617 7.426402 8.206585 7.562563 7.371124 7.999774 7.916851 5.81284 7.023077 6.149903
baum 8 588 2.991245 3.542415 7.704035 7.767552 8.701329 7.547022 7.320903 7.574095 8.630412 5.71275 7.001389 6.134634
baum 9 598 2.996331 3.358089 6.830434 7.401875 7.902157 7.805486 7.420197 8.195368 7.078297 5.608279 7.000242 6.053715
dickens 0 832 2.993777 7.601778 8.136598 6.098868 7.504231 7.777383 7.359017 7.760886 6.79034
dickens 1 843 2.98626 7.178145 8.485422 5.315846 8.894956 7.530727 6.77941 7.791954 8.441643
dickens 2 864 2.995301 7.87062 8.26463 6.16508 8.154515 8.2106 7.634013 8.231233 7.796568
dickens 3 866 2.997934 7.477613 8.153171 5.171406 8.357568 7.341307 6.411632 7.360637 8.129386
dickens 4 856 2.984225 7.694556 8.583026 5.381266 8.735081 7.552099 6.791059 7.719559 8.580713
dickens 5 854 2.999825 7.529366 8.227311 5.085456 7.658242 7.639145 6.093969 8.221233 8.469563
dickens 6 872 2.997913 7.638183 9.748252 5.235297 7.708755 7.73444 7.132972 7.356347 8.124787
dickens 7 857 2.987355 7.803374 7.982684 5.314204 7.9531 7.704388 6.329162 7.9282 7.887633
dickens 8 856 2.998094 7.795581 8.636451 5.373171 8.743197 7.458112 6.795348 7.731015 8.689184
dickens 9 852 2.997116 7.338805 7.845141 5.246018 7.457526 7.674759 6.39403 8.024606 6.996318
fitzgerald 0 976 2.99508 7.849482 7.812322 7.952618 8.301811 8.076857 8.448775 3.495493 6.997067
fitzgerald 1 985 2.997631 7.475592 8.588942 7.746266 9.899202 7.384154 7.252442 3.589848 8.924462
fitzgerald 2 978 2.999358 8.114519 8.104195 7.931029 8.681385 7.795983 8.112155 4.090522 8.283971
fitzgerald 3 985 2.995498 7.680089 8.432409 7.461126 9.068927 7.71288 7.166555 4.009852 8.707699
fitzgerald 4 985 2.997792 8.042667 8.868694 7.506129 9.327635 7.882945 7.179842 4.250734 9.28714
fitzgerald 5 987 2.998753 8.209029 8.499008 7.179378 8.199946 7.657042 7.219923 4.405057 8.959286
fitzgerald 6 993 2.996781 7.618807 10.842386 7.29241 8.287469 7.803138 7.990416 3.373762 8.907561
fitzgerald 7 986 2.999779 7.814094 7.770607 7.135498 8.280254 7.372622 6.86471 3.780279 7.686627
fitzgerald 8 979 2.999294 7.63665 8.45632 7.330392 9.034201 7.554666 7.028772 4.100889 8.731259
fitzgerald 9 980 2.997627 7.39762 7.296233 7.227675 8.096334 7.636833 7.109394 4.591062 6.953621
melville 0 1146 2.996466 7.913109 8.442893 7.745991 4.819672 8.152124 7.810966 8.242476 7.252453
melville 1 1152 2.999144 7.223037 8.876892 7.424671 5.731794 7.747658 7.194586 8.033988 8.331824
melville 2 1167 2.995979 8.388952 8.732519 7.942131 4.674826 8.554942 7.946092 8.735898 8.015027
melville 3 1172 2.994888 8.609641 8.693314 7.74705 4.933064 7.687826 7.45443 8.650036 9.035053
melville 4 1160 2.995433 8.023131 8.179469 7.440119 4.856888 7.36961 7.144133 8.048276 8.500969
melville 5 1168 2.995296 7.753516 8.719368 6.961123 4.974136 7.689841 6.952412 8.729419 9.089298
melville 6 1179 2.99947 7.710374 11.09614 7.282062 4.758778 7.77996 7.887832 7.930721 9.370076
melville 7 1153 2.998359 8.227023 8.12366 7.20909 5.201455 7.849945 7.0402 8.571168 7.792232
melville 8 1182 2.994549 8.175989 8.269359 7.5947 4.782604 7.414864 7.308162 8.234565 8.473392
melville 9 1170 2.998021 7.705225 8.314627 7.344738 4.6153 7.768899 7.035012 9.180149 7.373459
thompson 0 716 2.992569 6.053964 3.274953 7.926899 8.128049 8.136694 8.556898 7.89972 7.084595 6.330761 6.822493 5.126593
thompson 1 709 2.996218 5.924415 3.398599 7.771614 9.299942 7.85011 7.777608 7.782541 9.049989 6.552969 6.808177 5.233161
thompson 2 698 2.99645 6.199346 3.1179 7.914475 8.699753 8.72812 8.539128 7.999428 8.163225 6.567073 6.900909 5.262338
thompson 3 705 2.987488 6.01717 3.235671 7.673912 8.473782 7.499253 7.395598 7.459731 8.557115 6.365243 6.669282 5.198307
thompson 4 701 2.990153 5.875707 3.290322 7.904905 8.811002 7.605598 7.625226 7.590915 8.667035 6.374856 6.600271 5.124465
thompson 5 702 2.993582 6.193132 3.887664 7.319493 8.176224 7.75042 7.376299 8.486674 8.679236 6.24973 6.749332 5.08671
thompson 6 726 2.999461 6.963445 4.759171 7.993036 8.332369 7.992254 8.593834 7.581858 8.427663 6.70946 6.80815 5.36196
thompson 7 701 2.996797 6.14262 3.004006 7.523234 8.258864 7.748762 7.57245 8.109998 8.068388 6.24169 6.624172 5.023442
thompson 8 707 2.99265 6.019647 3.281179 8.073149 8.918263 7.746484 7.692761 7.556092 8.746934 6.502992 6.74455 5.305793
thompson 9 711 2.995512 5.546608 3.085061 7.665944 7.973886 7.8711 7.800177 8.516036 7.191294 6.388664 6.692112 5.093463
twain 0 1121 2.99091 7.959617 8.336402 7.933316 8.001839 8.406757 8.1312 8.019304 3.662261
twain 1 1122 2.984443 7.269506 8.802498 7.622403 9.353324 7.658991 7.332927 7.923773 4.933305
twain 2 1119 2.997497 7.857456 8.036067 7.632291 8.145874 8.252666 8.150612 7.989291 4.209162
twain 3 1118 2.994518 7.541555 8.550744 7.834902 8.639363 7.485365 7.382659 7.847287 4.677467
twain 4 1114 2.998075 7.82114 8.694559 7.879054 8.900886 7.646962 7.501004 7.850809 4.829938
twain 5 1114 2.996442 8.001884 8.726166 7.326524 7.844613 7.800701 7.105783 8.580217 4.898779
twain 6 1118 2.995301 7.558795 10.340604 7.389524 7.779815 7.747209 7.964543 7.365566 5.444358
twain 7 1132 2.993096 7.867349 8.160927 7.389409 7.951895 7.835245 7.092747 8.276741 3.97252
twain 8 1107 2.991011 7.614959 8.563712 7.860204 8.75127 7.57394 7.312852 7.805836 4.810983
twain 9 1120 2.996781 7.27393 8.008368 7.208412 7.584995 7.593934 7.08523 8.481607 3.587205
wells 0 1071 2.988829 8.097983 8.161362 7.490097 8.164747 4.484719 7.961592 7.87758 7.583829
wells 1 1080 2.992946 7.476324 8.956309 7.467601 9.438592 3.585314 7.402918 7.806613 8.60904
wells 2 1078 2.999062 8.143581 8.241449 7.362345 8.438628 3.875732 7.920427 8.002888 8.021523
wells 3 1065 2.997655 8.24442 8.83904 7.876966 9.137911 3.795816 7.428575 7.476561 8.555039
wells 4 1066 2.993432 8.430106 8.871819 7.77715 9.020378 4.199754 7.564549 7.868719 8.817666
wells 5 1056 2.997621 8.206776 8.502117 7.213162 8.137771 4.235518 7.288307 8.067003 8.376912
wells 6 1058 2.991821 7.934836 10.315985 7.507632 8.205709 4.338113 8.039171 7.429036 8.896289
wells 7 1069 2.994198 8.1827 8.200184 7.364011 8.183872 3.948383 7.117489 7.89299 7.911984
wells 8 1055 2.994871 8.197523 8.892255 7.736492 9.049571 3.871356 7.583682 7.651279 8.73885
wells 9 1072 2.99803 7.695484 8.279666 7.276271 7.763811 3.911821 7.387334 8.304363 7.523905
"""
# The paper's Table 1 (arXiv:2510.21958): t, df, p per model author. The paper prints Fitzgerald's df as
# 23.13, Melville's value repeated: its own p (1.55e-16) belongs to df 19.41, which the logs give.
PAPER_TABLE_1 = {
    "baum": (48.39, 31.53, 3.69e-31), "thompson": (22.35, 16.39, 1.04e-13), "austen": (50.64, 47.38, 6.48e-43),
    "dickens": (16.37, 17.84, 3.46e-12), "fitzgerald": (25.94, 19.41, 1.55e-16), "melville": (23.38, 23.13, 1.35e-17),
    "twain": (16.74, 11.27, 2.60e-9), "wells": (35.73, 23.68, 4.15e-22),
}


@pytest.fixture(scope="module")
def study_models(tmp_path_factory) -> Path:
    models = tmp_path_factory.mktemp("llm-stylometry") / "models"
    for line in STUDY_FINAL_LOSSES.strip().splitlines():
        author, seed, epoch, *losses = line.split()
        model = models / f"{author}_tokenizer=gpt2_seed={seed}"
        model.mkdir(parents=True)
        rows = "".join(f"{seed},{author},{epoch},{name},{loss}\n" for name, loss in zip(STUDY_SETS, losses))
        (model / "loss_logs.csv").write_text("seed,train_author,epochs_completed,loss_dataset,loss_value\n" + rows)
    return models


@pytest.fixture(scope="module")
def study_tables(study_models):
    return compute_tables(load_sweeps([study_models]))


def test_the_study_logs_give_back_its_table_1(study_tables):
    tables = study_tables
    ttests = tables.author_ttests[tables.author_ttests["at"] == stats.OWN_FINAL].set_index("model_author")
    assert set(ttests.index) == set(PAPER_TABLE_1)
    for author, (t, df, p) in PAPER_TABLE_1.items():
        row = ttests.loc[author]
        assert (row["num_own"], row["num_other"]) == (10, 70), author
        assert (round(row["t"], 2), round(row["df"], 2)) == (t, df), author
        assert f"{row['p']:.2e}" == f"{p:.2e}", author


def test_the_study_logs_attribute_every_book_and_the_contested_one_to_thompson(study_tables):
    tables = study_tables
    overall = tables.accuracy[(tables.accuracy["at"] == stats.OWN_FINAL) & tables.accuracy["seed"].isna()].iloc[0]
    assert (overall["num_correct"], overall["num_books"]) == (80, 80)
    extra = tables.extra_sets[tables.extra_sets["at"] == stats.OWN_FINAL].set_index("eval_set")
    assert extra["attributed_to"].to_dict() == {"contested": "thompson", "non_oz_baum": "baum", "non_oz_thompson": "thompson"}
    assert extra.loc["contested", "seeds_won"] == 10 and extra.loc["contested", "welch_p"] < 1e-10


# Twain's models at epochs 76 and 77 (same files and commit): losses on STUDY_SETS[1:9] per seed.
# The paper: "For Twain, this threshold [p < 0.001] is crossed at epoch 77".
STUDY_TWAIN_76_77 = """
0 76 6.060322999954224 6.205263137817383 5.943187395731608 6.083930969238281 6.1248931884765625 6.258378267288208 6.032640033298069 5.248394966125488
0 77 6.061878442764282 6.204877614974976 5.947100838025411 6.089879751205444 6.117369492848714 6.26402735710144 6.032158586714003 5.240681966145833
1 76 5.784154772758484 6.424169421195984 5.898689905802409 6.710290008121067 5.979911804199219 5.84554107983907 6.043096678597586 5.986412197351456
1 77 5.781591296195984 6.411868691444397 5.898438930511475 6.691881974538167 5.974798281987508 5.845043659210205 6.031336307525635 5.962220191955566
2 76 6.023220419883728 6.199481010437012 5.878998875617981 6.232008576393127 6.155415256818135 6.21423077583313 6.059120496114095 5.696084101994832
2 77 6.029248595237732 6.213235378265381 5.904874165852864 6.232357184092204 6.157831986745198 6.226595640182495 6.072373708089192 5.697625080744426
3 76 5.975947618484497 6.433404922485352 6.131542841593425 6.48457932472229 5.917879104614258 5.845239003499349 5.97376545270284 5.96489754319191
3 77 5.963392496109009 6.419565677642822 6.1256462026525424 6.47393479347229 5.904495120048523 5.839536984761556 5.955670992533366 5.950813144445419
4 76 5.945960283279419 6.393243432044983 6.117968188391791 6.450344514846802 5.9039894342422485 5.847411076227824 5.933008114496867 5.932001113891602
4 77 5.948889851570129 6.399736285209656 6.0996597784536855 6.445647859573365 5.902013421058655 5.839860677719116 5.935696363449097 5.933954745531082
5 76 6.05071234703064 6.402388691902161 5.819829893112183 6.164002789391412 6.0001609325408936 5.753969816061167 6.292967660086496 5.60014157295227
5 77 6.0422751903533936 6.389773726463318 5.809325615564982 6.155299663543701 5.997274080912272 5.742905433361347 6.284989970070975 5.598110103607178
6 76 5.974163413047791 7.110352039337158 5.963294080325535 6.156352467007107 6.003138621648152 6.187904119491577 5.796472549438477 5.615789318084717
6 77 5.96759307384491 7.071278691291809 5.968834740774972 6.156643337673611 6.004353841145833 6.182205677032471 5.7951819896698 5.605819749832153
7 76 6.076847743988037 6.219322045644124 6.004338502883911 6.229931910832723 6.003022034962972 5.841780185699463 6.21460077979348 5.677583547738882
7 77 6.071207046508789 6.219305515289307 6.000665452745226 6.222289800643921 6.00507378578186 5.8395161628723145 6.21058160608465 5.6683681928194485
8 76 5.93130087852478 6.402739882469177 6.13345460538511 6.466726493835449 5.908973217010498 5.852634112040202 5.918317953745524 5.937874674797058
8 77 5.935853123664856 6.412279367446899 6.13012350930108 6.465176773071289 5.90455687046051 5.846358060836792 5.911686261494954 5.924012839794159
9 76 5.72690212726593 6.189342737197876 5.816349045435588 6.049795627593994 5.964610958099366 5.805712736569918 6.3429999351501465 5.247819821039836
9 77 5.731847405433655 6.191536903381348 5.81625919342041 6.047956943511963 5.9629301071167 5.806943710033711 6.346422910690308 5.242753028869629
"""


def test_the_study_logs_cross_p_0001_for_twain_at_epoch_77(tmp_path):
    models = tmp_path / "models"
    rows = {}
    for line in STUDY_TWAIN_76_77.strip().splitlines():
        seed, epoch, *losses = line.split()
        rows.setdefault(seed, []).extend(f"{seed},twain,{epoch},{name},{loss}\n" for name, loss in zip(STUDY_SETS[1:9], losses))
    for seed, lines in rows.items():
        (models / f"twain_tokenizer=gpt2_seed={seed}").mkdir(parents=True)
        (models / f"twain_tokenizer=gpt2_seed={seed}" / "loss_logs.csv").write_text(
            "seed,train_author,epochs_completed,loss_dataset,loss_value\n" + "".join(lines))
    losses = load_sweeps([models]).losses
    # Only Twain's models are here, so books() would not know the other authors' books for books:
    # every eval set of these logs is one, so test all evaluation rows.
    by_epoch = stats.author_ttests(stats.evaluations(losses), by=("epoch",)).set_index("epoch")
    assert by_epoch.loc[76, "p"] == pytest.approx(1.171e-3, rel=1e-3)  # t(11.06) = 4.34: not yet below 0.001
    assert by_epoch.loc[77, "p"] == pytest.approx(9.843e-4, rel=1e-3)  # t(11.05) = 4.44: below
    onset = stats.significance_onset(by_epoch.reset_index())
    assert onset.iloc[0]["first_below"] == 77


# ---- the command ------------------------------------------------------------------------------------


def test_the_command_writes_tables_figures_and_a_report(tmp_path, capsys):
    ours = hand_sweep(tmp_path / "multirun")
    out = tmp_path / "analysis"
    assert main([str(ours), f"out={out}"]) == 0
    assert "9 models analysed" in capsys.readouterr().out
    for name in ("results", "runs", "coverage", "attribution", "accuracy", "accuracy_by_epoch", "confusion",
                 "confusion_by_epoch", "author_ttests", "ttests_by_epoch", "onset", "extra_sets", "extra_sets_by_epoch", "headline"):
        assert (out / f"{name}.csv").stat().st_size > 0, name
    assert len(pd.read_csv(out / "results.csv")) == 153
    figures = sorted(p.relative_to(out).as_posix() for p in (out / "figures").rglob("*.*"))
    names = ("training_curves", "final_losses", "confusion", "t_over_epochs", "extra_sets", "cost_curve")
    assert figures == sorted(f"figures/baseline/{n}.{fmt}" for n in names for fmt in ("png", "pdf"))
    assert all((out / f).stat().st_size > 1000 for f in figures)
    report = (out / "report.md").read_text()
    assert "**8/9 books attributed to their author (88.9%)**" in report
    assert "Misattributed: thompson's book, seed 2 → baum (2.000 vs own author's model 8.000)." in report
    assert "**contested** → **thompson**" in report
    assert "### At the common epoch (2)" in report
    assert all(f"]({f})" in report for f in figures if f.endswith(".png"))


def test_two_inputs_are_compared_side_by_side(tmp_path, study_models):
    ours = hand_sweep(tmp_path / "multirun")
    tables = analyze([ours, study_models], tmp_path / "analysis", draw_figures=False)
    assert set(tables.results["sweep"]) == {str(ours), str(study_models)}
    assert tables.headline[["experiment", "accuracy_own_final", "contested_attributed_to"]].values.tolist() == [
        ["paper", "8/9", "thompson"], ["llm-stylometry", "80/80", "thompson"]]
    report = (tmp_path / "analysis" / "report.md").read_text()
    assert "## Comparison of inputs" in report
    assert "**80/80 books attributed to their author (100.0%)**" in report
    assert "| baum | 48.39 | 31.53 | 3.69e-31 |" in report
    assert "## baseline · llm-stylometry · " in report


def test_the_command_takes_out_as_an_option_and_can_skip_figures(tmp_path):
    ours = hand_sweep(tmp_path / "multirun")
    tables = analyze([ours], tmp_path / "analysis", draw_figures=False)
    assert len(tables.runs) == 9 and not (tmp_path / "analysis" / "figures").exists()
    assert main([str(ours), "--out", str(tmp_path / "again"), "--no-figures"]) == 0
    assert (tmp_path / "again" / "report.md").exists()
    assert main([str(tmp_path / "empty"), "--out", str(tmp_path / "none"), "--no-figures"]) == 1
