"""Tests of the analysis command on small hand-built sweeps whose answers are worked out by hand,
and on the study's published final losses, which must give back its Table 1.

    python -m pytest tests/test_analyze.py -q
"""

import contextlib
import dataclasses
import math
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import FINAL, UNTRAINED, by_hand_welch, hand_sweep, write_job
from matplotlib.backends.backend_agg import FigureCanvasAgg
from scipy import stats as scipy_stats

from stylometry.analysis import figures, stats
from stylometry.analysis.load import GROUP, load_sweeps, parse_study_name
from stylometry.analysis.outputs import _group_data, analyze
from stylometry.analysis.tables import compute_tables
from stylometry.analyze import main

DATA = Path(__file__).parent / "data"

# ---- a hand-built sweep (conftest: FINAL, EXTRA, write_job, hand_sweep) ------------------------------


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
    assert list(results.columns) == [
        "sweep",
        "study",
        "experiment",
        "variant",
        "model_author",
        "seed",
        "epoch",
        "eval_set",
        "loss",
    ]
    # Austen's models: 3 books x 3 epochs + 2 training losses; the Oz models add 3 extra sets x 3 epochs.
    assert len(results) == 3 * (9 + 2) + 6 * (18 + 2)
    assert not results.duplicated(
        ["sweep", "study", "experiment", "variant", "model_author", "seed", "epoch", "eval_set"]
    ).any()
    assert one(results, model_author="thompson", seed=2, epoch=2, eval_set="thompson")["loss"] == 8.0
    assert one(results, model_author="baum", seed=0, epoch=0, eval_set="contested")["loss"] == UNTRAINED
    assert set(tables.runs["state"]) == {"complete"} and set(tables.runs["final_epoch"]) == {2}


# ---- attribution ----------------------------------------------------------------------------------


def test_each_book_goes_to_the_author_whose_model_has_the_lowest_loss(tables):
    attribution = tables.attribution[tables.attribution["at"] == stats.OWN_FINAL]
    assert len(attribution) == 9  # 3 seeds x 3 books
    wrong = attribution[~attribution["correct"]]
    # Seed 2, Thompson's book: Baum's model 2 < Austen's 7 < Thompson's own 8.
    assert wrong[["seed", "book", "attributed_to", "loss", "own_author_loss"]].values.tolist() == [
        [2, "thompson", "baum", 2.0, 8.0]
    ]
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
    by_epoch = pd.DataFrame(
        {
            "sweep": "s",
            "study": "st",
            "experiment": "e",
            "variant": "v",
            "model_author": ["a"] * 5 + ["b"] * 3 + ["c"] * 2,
            "epoch": [0, 1, 2, 3, 4] + [0, 1, 2] + [0, 1],
            "p": [0.5, 0.01, 0.2, 0.001, 0.0001] + [0.02, 0.03, 0.04] + [0.9, 0.8],
        }
    )
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
    # Seed 1's Thompson book cannot go to a Thompson model: counted apart, not as a miss.
    assert (accuracy.loc[stats.OWN_FINAL, "num_books"], accuracy.loc[stats.OWN_FINAL, "num_without_own_model"]) == (
        8,
        1,
    )
    by_epoch = tables.accuracy_by_epoch[tables.accuracy_by_epoch["seed"].isna()].set_index("epoch")
    assert (by_epoch.loc[1, "num_books"], by_epoch.loc[1, "num_without_own_model"]) == (8, 1)
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
        "experiment_name: paper\nseed: 3\nauthor:\n  name: austen\nvariant:\n  name: baseline\n"
    )
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
        "model_author": "austen",
        "variant": "content",
        "seed": 5,
    }
    assert parse_study_name("twain_tokenizer=gpt2_ntokens=10000_seed=9")["variant"] == "baseline_ntokens=10000"
    assert parse_study_name("README.md") is None


def test_study_logs_keep_the_first_epoch_0_and_the_last_of_a_repeated_epoch(tmp_path):
    model = tmp_path / "models" / "baum_variant=pos_tokenizer=gpt2_seed=4"
    model.mkdir(parents=True)
    rows = [
        (0, "baum", 10.0),
        (1, "train", 9.5),
        (1, "baum", 9.0),
        (2, "train", 8.5),
        (2, "baum", 8.0),
        (0, "baum", 99.0),  # a resume logged its restored model as "epoch 0"
        (2, "train", 7.5),
        (2, "baum", 7.0),
    ]  # and redid epoch 2
    (model / "loss_logs.csv").write_text(
        "seed,train_author,epochs_completed,loss_dataset,loss_value\n"
        + "".join(f"4,baum,{e},{d},{v}\n" for e, d, v in rows)
    )
    sweeps = load_sweeps([tmp_path / "models"])
    run = sweeps.runs.iloc[0]
    assert (run["model_author"], run["variant"], run["seed"], run["state"], run["final_epoch"]) == (
        "baum",
        "pos",
        4,
        "published",
        2,
    )
    baum = sweeps.losses[sweeps.losses["eval_set"] == "baum"].set_index("epoch")["loss"]
    assert baum.to_dict() == {0: 10.0, 1: 9.0, 2: 7.0}


# ---- the study's published logs: Table 1 -----------------------------------------------------------
# The final row of each of the study's 80 baseline models (8 authors x 10 seeds), rounded to 6 decimals, in
# tests/data/llm_stylometry_final_losses.txt (its header says where from). Per line: author, seed, final epoch,
# then the losses on STUDY_SETS (the Oz authors' models also on the last three).
STUDY_SETS = [
    "train",
    "baum",
    "thompson",
    "dickens",
    "melville",
    "wells",
    "austen",
    "fitzgerald",
    "twain",
    "non_oz_baum",
    "non_oz_thompson",
    "contested",
]
STUDY_FINAL_LOSSES = "\n".join(
    line for line in (DATA / "llm_stylometry_final_losses.txt").read_text().splitlines() if not line.startswith("#")
)
# The paper's Table 1 (arXiv:2510.21958): t, df, p per model author. The paper prints Fitzgerald's df as
# 23.13, Melville's value repeated: its own p (1.55e-16) belongs to df 19.41, which the logs give.
PAPER_TABLE_1 = {
    "baum": (48.39, 31.53, 3.69e-31),
    "thompson": (22.35, 16.39, 1.04e-13),
    "austen": (50.64, 47.38, 6.48e-43),
    "dickens": (16.37, 17.84, 3.46e-12),
    "fitzgerald": (25.94, 19.41, 1.55e-16),
    "melville": (23.38, 23.13, 1.35e-17),
    "twain": (16.74, 11.27, 2.60e-9),
    "wells": (35.73, 23.68, 4.15e-22),
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
    assert extra["attributed_to"].to_dict() == {
        "contested": "thompson",
        "non_oz_baum": "baum",
        "non_oz_thompson": "thompson",
    }
    assert extra.loc["contested", "seeds_won"] == 10 and extra.loc["contested", "welch_p"] < 1e-10


def test_the_normalized_score_keeps_the_studys_answers_and_is_each_loss_minus_its_models_mean_book_loss(study_models):
    """analyze --score normalized on the study's own logs: every loss minus its model's mean over the 8 held-out books
    of its seed (checked by hand for one model); the study's answers hold: 80 of 80 books, the contested book to
    Thompson in all 10 seeds, every author's Table 1 test far below 0.001."""
    sweeps = load_sweeps([study_models])
    losses = stats.normalized(sweeps.losses)
    model = losses[(losses["model_author"] == "baum") & (losses["seed"] == 3)].set_index("eval_set")
    books = model.loc[list(PAPER_TABLE_1), "logged_loss"]
    assert model.loc["contested", "loss"] == pytest.approx(model.loc["contested", "logged_loss"] - books.mean())
    tables = compute_tables(dataclasses.replace(sweeps, losses=losses))
    overall = tables.accuracy[(tables.accuracy["at"] == stats.OWN_FINAL) & tables.accuracy["seed"].isna()].iloc[0]
    assert (overall["num_correct"], overall["num_books"]) == (80, 80)
    extra = tables.extra_sets[tables.extra_sets["at"] == stats.OWN_FINAL].set_index("eval_set")
    assert extra.loc["contested", "attributed_to"] == "thompson" and extra.loc["contested", "seeds_won"] == 10
    assert (tables.author_ttests[tables.author_ttests["at"] == stats.OWN_FINAL]["p"] < 1e-10).all()


# Twain's models at epochs 76 and 77 (same files and commit): losses on STUDY_SETS[1:9] per seed.
# The paper: "For Twain, this threshold [p < 0.001] is crossed at epoch 77".
STUDY_TWAIN_76_77 = """
0 76 6.060323 6.205263 5.943187 6.083931 6.124893 6.258378 6.032640 5.248395
0 77 6.061878 6.204878 5.947101 6.089880 6.117369 6.264027 6.032159 5.240682
1 76 5.784155 6.424169 5.898690 6.710290 5.979912 5.845541 6.043097 5.986412
1 77 5.781591 6.411869 5.898439 6.691882 5.974798 5.845044 6.031336 5.962220
2 76 6.023220 6.199481 5.878999 6.232009 6.155415 6.214231 6.059120 5.696084
2 77 6.029249 6.213235 5.904874 6.232357 6.157832 6.226596 6.072374 5.697625
3 76 5.975948 6.433405 6.131543 6.484579 5.917879 5.845239 5.973765 5.964898
3 77 5.963392 6.419566 6.125646 6.473935 5.904495 5.839537 5.955671 5.950813
4 76 5.945960 6.393243 6.117968 6.450345 5.903989 5.847411 5.933008 5.932001
4 77 5.948890 6.399736 6.099660 6.445648 5.902013 5.839861 5.935696 5.933955
5 76 6.050712 6.402389 5.819830 6.164003 6.000161 5.753970 6.292968 5.600142
5 77 6.042275 6.389774 5.809326 6.155300 5.997274 5.742905 6.284990 5.598110
6 76 5.974163 7.110352 5.963294 6.156352 6.003139 6.187904 5.796473 5.615789
6 77 5.967593 7.071279 5.968835 6.156643 6.004354 6.182206 5.795182 5.605820
7 76 6.076848 6.219322 6.004339 6.229932 6.003022 5.841780 6.214601 5.677584
7 77 6.071207 6.219306 6.000665 6.222290 6.005074 5.839516 6.210582 5.668368
8 76 5.931301 6.402740 6.133455 6.466726 5.908973 5.852634 5.918318 5.937875
8 77 5.935853 6.412279 6.130124 6.465177 5.904557 5.846358 5.911686 5.924013
9 76 5.726902 6.189343 5.816349 6.049796 5.964611 5.805713 6.343000 5.247820
9 77 5.731847 6.191537 5.816259 6.047957 5.962930 5.806944 6.346423 5.242753
"""


def test_the_study_logs_cross_p_0001_for_twain_at_epoch_77(tmp_path):
    models = tmp_path / "models"
    rows = {}
    for line in STUDY_TWAIN_76_77.strip().splitlines():
        seed, epoch, *losses = line.split()
        rows.setdefault(seed, []).extend(
            f"{seed},twain,{epoch},{name},{loss}\n" for name, loss in zip(STUDY_SETS[1:9], losses)
        )
    for seed, lines in rows.items():
        (models / f"twain_tokenizer=gpt2_seed={seed}").mkdir(parents=True)
        (models / f"twain_tokenizer=gpt2_seed={seed}" / "loss_logs.csv").write_text(
            "seed,train_author,epochs_completed,loss_dataset,loss_value\n" + "".join(lines)
        )
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
    for name in (
        "results",
        "runs",
        "coverage",
        "attribution",
        "accuracy",
        "accuracy_by_epoch",
        "confusion",
        "confusion_by_epoch",
        "author_ttests",
        "ttests_by_epoch",
        "onset",
        "extra_sets",
        "extra_sets_by_epoch",
        "headline",
    ):
        assert (out / f"{name}.csv").stat().st_size > 0, name
    assert len(pd.read_csv(out / "results.csv")) == 153
    figures = sorted(p.relative_to(out).as_posix() for p in (out / "figures").rglob("*.*"))
    names = ("training_curves", "final_losses", "confusion", "mds", "t_over_epochs", "extra_sets", "cost_curve")
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
    assert tables.headline[["study", "accuracy_own_final", "contested_attributed_to"]].values.tolist() == [
        ["unnamed", "8/9", "thompson"],
        ["llm-stylometry", "80/80", "thompson"],
    ]
    report = (tmp_path / "analysis" / "report.md").read_text()
    assert "## Comparison of groups" in report
    assert "**80/80 books attributed to their author (100.0%)**" in report
    assert "| baum | 48.39 | 31.53 | 3.69e-31 |" in report
    assert f"## baseline · llm-stylometry · {study_models}" in report
    assert "Groups of study `llm-stylometry` are the study's published logs" in report


def test_the_command_takes_out_as_an_option_and_can_skip_figures(tmp_path):
    ours = hand_sweep(tmp_path / "multirun")
    tables = analyze([ours], tmp_path / "analysis", draw_figures=False)
    assert len(tables.runs) == 9 and not (tmp_path / "analysis" / "figures").exists()
    assert main([str(ours), "--out", str(tmp_path / "again"), "--no-figures"]) == 0
    assert (tmp_path / "again" / "report.md").exists()
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--out", str(tmp_path / "none"), "--no-figures"]) == 2


def test_the_command_compares_the_normalized_score_when_asked(tmp_path, capsys):
    ours = hand_sweep(tmp_path / "multirun")
    assert main([str(ours), "--out", str(tmp_path / "normalized"), "--no-figures", "--score", "normalized"]) == 0
    results = pd.read_csv(tmp_path / "normalized" / "results.csv")
    books = results[results["eval_set"].isin(results["model_author"].unique())]
    reference = books.groupby(["model_author", "seed", "epoch"])["logged_loss"].mean().rename("reference")
    rows = results[results["eval_set"] != "train"].join(reference, on=["model_author", "seed", "epoch"])
    assert (rows["loss"] - (rows["logged_loss"] - rows["reference"])).abs().max() < 1e-12
    assert "**Score: normalized.**" in (tmp_path / "normalized" / "report.md").read_text()
    with pytest.raises(SystemExit) as exit:
        main([str(ours), "--out", str(tmp_path / "x"), "--score", "z"])
    assert exit.value.code == 2 and "invalid choice: 'z'" in capsys.readouterr().err


# ---- runs that must not be pooled (study, corpus, settings) ---------------------------------------


def study_sweep(root: Path, study="corpus", corpus="c" * 64, config="f" * 64, variant="baseline", seeds=range(3), **kw):
    """The hand sweep, its status.json recording a study, its corpus's hash, its settings' hash (None: not recorded)."""
    recorded = {
        key: value
        for key, value in (("study", study), ("corpus_sha256", corpus), ("config_sha256", config))
        if value is not None
    }
    for author in FINAL:
        for seed in seeds:
            write_job(
                root / str(study) / str(corpus)[:4] / str(config)[:4],
                author,
                seed,
                variant=variant,
                recorded=recorded,
                **kw,
            )
    return root


def test_runs_of_two_corpora_under_one_study_name_are_kept_apart_and_named(tmp_path):
    root = study_sweep(tmp_path / "multirun", corpus="a" * 64)
    study_sweep(root, corpus="b" * 64, seeds=[0])
    sweeps = load_sweeps([root])
    assert sorted(sweeps.runs["study"].unique()) == ["corpus (corpus aaaaaaaa)", "corpus (corpus bbbbbbbb)"]
    assert any("corpus_sha256" in p and "aaaaaaaa: 9 runs" in p and "bbbbbbbb: 3 runs" in p for p in sweeps.problems)
    tables = compute_tables(sweeps)
    assert sorted(tables.coverage["num_models"]) == [3, 9]  # never pooled into one 12-model group
    assert len(sweeps.runs) == 12  # and the same (author, seed) in both is no duplicate


def test_runs_with_other_settings_are_kept_apart_and_runs_without_hashes_join_any(tmp_path):
    root = study_sweep(tmp_path / "multirun", config="1" * 64)
    study_sweep(root, config="2" * 64, seeds=[3])
    study_sweep(root, study=None, corpus=None, config=None, seeds=[4])  # written before the keys existed
    sweeps = load_sweeps([root])
    studies = sweeps.runs.groupby("study")["seed"].agg(lambda s: sorted(set(s))).to_dict()
    # The old runs take the one study name, but cannot be placed between two settings: kept apart too.
    assert studies == {"corpus (config 11111111)": [0, 1, 2], "corpus (config 22222222)": [3], "corpus (config ?)": [4]}
    assert any("config_sha256" in p and "a run that recorded none" in p for p in sweeps.problems)


def test_old_runs_are_compatible_with_runs_that_record_hashes(tmp_path):
    root = study_sweep(tmp_path / "multirun")
    study_sweep(root, study=None, corpus=None, config=None, seeds=[3])
    sweeps = load_sweeps([root])
    assert set(sweeps.runs["study"]) == {"corpus"} and not sweeps.problems
    assert compute_tables(sweeps).coverage["num_models"].tolist() == [12]


def test_two_studies_in_one_input_are_two_groups_and_their_variants_are_compared_within_each(tmp_path):
    root = study_sweep(tmp_path / "multirun", study="oz")
    study_sweep(root, study="oz", config="e" * 64, variant="content", offset=0.5)
    study_sweep(root, study="other", corpus="d" * 64)
    tables = compute_tables(load_sweeps([root]))
    assert tables.coverage[["study", "variant"]].values.tolist() == [
        ["other", "baseline"],
        ["oz", "baseline"],
        ["oz", "content"],
    ]
    pairs = tables.variant_comparisons[["study", "variant_a", "variant_b"]].drop_duplicates().values.tolist()
    assert pairs == [["oz", "baseline", "content"]]


# ---- the report's words ---------------------------------------------------------------------------


def test_counts_read_as_counts_and_books_without_their_authors_model_are_counted_apart(tmp_path):
    root = tmp_path / "multirun"
    for author in FINAL:
        for seed in range(3):
            if (author, seed) != ("thompson", 1):
                write_job(root, author, seed)
    write_job(root / "more", "baum", 3)  # one model of seed 3: the contested book has 1 seed of Baum's
    out = tmp_path / "analysis"
    analyze([root], out, draw_figures=False)
    report = (out / "report.md").read_text()
    assert "lower in 2 of 2 shared seeds" in report
    assert "(4 seeds)" in report and "(2 seeds)" in report and ".0 " not in report.split("## Problems")[0]
    assert (
        "Not scored, no model of the book's author in that seed: thompson's book, seed 1 (lowest loss: baum)" in report
    )
    # Scored: seeds 0 and 2 three books each, seed 1 two, seed 3 Baum's only; seed 2's Thompson book is the one miss.
    assert "**8/9 books attributed to their author" in report and "thompson's book, seed 1 → baum" not in report


# ---- the command's options ------------------------------------------------------------------------


def test_the_ablation_options_reach_the_report(tmp_path):
    root = hand_sweep(tmp_path / "multirun")
    hand_sweep(root, variant="content", offset=0.5)
    out = tmp_path / "analysis"
    assert (
        main(
            [str(root), "--out", str(out), "--fairness-cut", "--compare-epoch", "1", "--bands", "ci95", "--no-figures"]
        )
        == 0
    )
    report = (out / "report.md").read_text()
    assert "## Ablation statistics" in report and "| baseline vs content | capped |" in report
    assert "| baseline vs content | fair_cut |" in report and "**Fairness cut.**" in report
    assert "### At the fairness cut (training loss 5.0000)" in report  # train loss 3 + 2/epoch: 5 by epoch 1
    assert "each model's last epoch at or before epoch 1" in report
    fairness = pd.read_csv(out / "fairness.csv")
    assert set(fairness["threshold"]) == {5.0} and set(fairness["cut_epoch"]) == {1}


def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    root = hand_sweep(tmp_path / "multirun")
    for argv in (
        [str(tmp_path / "nowhere"), "--out", str(tmp_path / "a")],
        [str(root), "--out", str(tmp_path / "b"), "--excerpt-tokens", "many"],
        [str(root), "--out", str(tmp_path / "c"), "--alpha", "5"],
        [str(root), "--out", str(tmp_path / "d"), "--baselines"],
    ):  # the hand sweep has no run configs
        with pytest.raises(SystemExit) if "many" in argv or "5" in argv else contextlib.nullcontext():
            assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "d").exists()  # nothing written when the input is refused


# ---- the figures ----------------------------------------------------------------------------------


def group_data(tables, variant="baseline", **replace) -> figures.GroupData:
    key = tuple(one(tables.coverage, variant=variant)[GROUP])
    keys = [tuple(k) for k in tables.coverage[GROUP].itertuples(index=False)]
    data = _group_data(tables, key, keys, stats.OWN_FINAL)
    return dataclasses.replace(data, **replace) if replace else data


def assert_titled_and_inside(figure, title: str):
    """The title is the figure's, and every text drawn lies inside the figure: no label is clipped."""
    assert figure.get_suptitle().replace("\n", " ").startswith(title), figure.get_suptitle()
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    box, inside = figure.get_tightbbox(renderer), figure.bbox_inches
    assert (
        box.x0 >= inside.x0 - 0.02
        and box.y0 >= inside.y0 - 0.02
        and box.x1 <= inside.x1 + 0.02
        and box.y1 <= inside.y1 + 0.02
    ), (title, box, inside)


def test_every_figure_has_its_title_and_no_label_outside_it(tables):
    by_length = pd.DataFrame(
        {
            "method": ["language models", "naive Bayes"] * 2,
            "excerpt_tokens": [256, 256, 1024, 1024],
            "accuracy": [0.5, 0.6, 0.8, 0.9],
        }
    )
    data = group_data(tables, accuracy_by_length=by_length)
    settings = figures.Settings(alpha=0.001)
    for name, kind in figures.FIGURE_TYPES.items():
        assert_titled_and_inside(figures.render(name, data, settings), f"{kind.title}: baseline")
    # The confusion matrix of a small group once clipped its "model author" label.
    small = group_data(compute_tables(load_sweeps([hand_sweep(Path(tempfile.mkdtemp()) / "m")])))
    assert_titled_and_inside(figures.render("confusion", small, settings), "Mean loss, model author x book")


def test_seven_extra_sets_wrap_into_rows_of_three(tables):
    data = group_data(tables)
    losses = data.losses
    extra = losses[losses["eval_set"] == "contested"]
    more = pd.concat([losses] + [extra.assign(eval_set=f"extra_{i}") for i in range(4)], ignore_index=True)
    data = dataclasses.replace(data, losses=more, final_rows=stats.at_epoch(more, stats.OWN_FINAL))
    assert len(data.extras) == 7
    figure = figures.render("extra_sets", data, figures.Settings(alpha=0.001))
    width, height = figure.get_size_inches()
    assert width == pytest.approx(3 * figures.PANEL) and height > width  # 3 rows of 3, not one row of 7


def test_legends_list_only_drawn_lines_and_epoch_ticks_are_whole(tables):
    data = group_data(tables)
    by_epoch = data.by_epoch.copy()
    by_epoch.loc[by_epoch["model_author"] == "thompson", "t"] = float("nan")  # never a t: no line drawn
    figure = figures.render(
        "t_over_epochs", dataclasses.replace(data, by_epoch=by_epoch), figures.Settings(alpha=0.001)
    )
    labels = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    assert "austen" in labels and "thompson" not in labels
    figure.draw(FigureCanvasAgg(figure).get_renderer())
    for ax in figure.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks  # epochs 0-2: no 0.5 ticks


def test_the_variants_of_a_study_are_drawn_together_one_row_each(tmp_path):
    root = hand_sweep(tmp_path / "multirun")
    hand_sweep(root, variant="content", offset=0.5)
    both = compute_tables(load_sweeps([root]))
    rows = [group_data(both, variant, label=variant) for variant in ("baseline", "content")]
    figure = figures.render_combined("mds", rows, figures.Settings(alpha=0.001), "corpus (paper)")
    assert_titled_and_inside(figure, "Stylometric distance map (MDS): every variant of corpus (paper)")
    assert [sub.get_suptitle() for sub in figure.subfigs] == ["baseline", "content"]
    for name, kind in figures.FIGURE_TYPES.items():  # every type but the baselines' (no excerpts here)
        if name != "accuracy_by_length":
            figure = figures.render_combined(name, rows, figures.Settings(alpha=0.001), "corpus (paper)")
            assert figure.get_suptitle().startswith(kind.title) and len(figure.subfigs) == 2


def test_the_stylometric_distance_is_the_papers():
    # L[j][i]: mean loss of author i's book under author j's models.
    # d(a, b) = ((L_b(a) - L_b(b)) + (L_a(b) - L_a(a))) / 2.
    table = pd.DataFrame(
        [("a", "a", 2.0), ("a", "b", 5.0), ("b", "a", 6.0), ("b", "b", 3.0)],
        columns=["model_author", "book", "mean_loss"],
    )
    distance = figures.stylometric_distances(table)
    assert distance.loc["a", "b"] == distance.loc["b", "a"] == pytest.approx(((6 - 3) + (5 - 2)) / 2)
    assert distance.loc["a", "a"] == 0.0
