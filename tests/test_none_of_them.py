"""Is it any of these? The open set decided by the likelihood ratio (stylometry/attribution/none_of_them.py): its
threshold at a stated false rejection, on trials of known answer, and the verdict it gives a text."""

import math

import numpy as np
import pandas as pd
import pytest

from stylometry.attribution.none_of_them import best_lrs, lr_open_set, rates, threshold, thresholds
from stylometry.attribution.open_set import NONE_OF_THEM
from stylometry.attribution.verification import ANYONE, TRIAL_COLUMNS, cross_validated, says_none

AUTHORS = ["a", "b", "c"]


def _trials(seeds=3, per_author=100, spread=0.4) -> pd.DataFrame:
    """Every candidate's score on every excerpt of every author's held-out book: -0.4 on its own author's, +0.4 on
    the others', each with `spread`: at LR < 1 about 16% of a candidate's own excerpts are rejected."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(seeds):
        for author in AUTHORS:
            for i in range(per_author):
                for candidate in AUTHORS:
                    same = candidate == author
                    rows.append({"excerpt_tokens": 256, "seed": seed, "candidate": candidate, "against": ANYONE,
                                 "author": author, "book": f"{author}/{seed}.txt", "excerpt": i,
                                 "score": (-0.4 if same else 0.4) + rng.normal(0, spread), "relative": math.nan,
                                 "same": same})  # fmt: skip
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


def test_an_excerpts_best_lr_is_every_candidates_for_its_own_author_and_the_others_for_an_outsider():
    judged = pd.DataFrame({"seed": 0, "book": "a/0.txt", "excerpt": 0, "candidate": ["a", "b", "c"],
                           "same": [True, False, False], "log10_lr": [-0.5, 0.2, -1.0]})  # fmt: skip
    best = best_lrs(judged).set_index("own")["best"]
    assert best[True] == pytest.approx(0.2)  # a's excerpt among a, b, c: b's LR is the highest
    assert best[False] == pytest.approx(0.2)  # a left out: b and c are the candidates


def test_the_threshold_is_the_false_rejection_quantile_of_own_excerpts_and_never_above_zero():
    own = pd.DataFrame({"seed": 0, "book": "a/0.txt", "excerpt": range(20), "candidate": "a", "same": True,
                        "log10_lr": np.linspace(-1.0, 0.9, 20)})  # fmt: skip
    assert threshold(own, 0.05) == pytest.approx(own["log10_lr"].quantile(0.05))
    assert threshold(own, 0.05) < -0.9
    assert threshold(own.assign(log10_lr=own["log10_lr"] + 2), 0.05) == 0.0  # all own excerpts above 0: LR < 1


def test_the_threshold_holds_the_stated_false_rejection_on_seeds_it_never_saw():
    rows = _trials()
    judged = cross_validated(rows)
    at_zero = rates(rows, judged, 0.5).iloc[0]  # the quantile is above 0: the threshold is LR < 1
    assert at_zero["none_below"] == 0.0 and at_zero["own_called_none"] > 0.10
    stated = rates(rows, judged, 0.05).iloc[0]
    assert stated["none_below"] < 0
    assert stated["own_called_none"] <= 0.07  # 5% stated; each seed's threshold from the other two seeds
    assert 0 < stated["outsiders_called_none"] < at_zero["outsiders_called_none"]
    # The text's threshold is fitted on every seed's trials.
    assert thresholds(rows, 0.05)[256] == pytest.approx(stated["none_below"], abs=0.1)


def test_one_seed_keeps_lr_below_one_as_its_threshold():
    assert thresholds(_trials(seeds=1), 0.05) == {256: 0.0}


def test_a_text_is_none_of_the_candidates_where_every_lr_is_below_the_threshold():
    verification = pd.DataFrame({"text": ["x", "x", "y", "y"], "candidate": ["a", "b", "a", "b"],
                                 "against": ANYONE, "log10_lr": [-0.6, -0.9, -0.3, -1.2],
                                 "none_below": -0.5})  # fmt: skip
    assert says_none(verification).to_dict() == {"x": True, "y": False}  # y: a's -0.3 is not below -0.5
    verdicts = pd.DataFrame({"text": ["x", "y"], "excerpt_tokens": pd.array([pd.NA, pd.NA], dtype="Int64"),
                             "verdict": ["a", "a"]})  # fmt: skip
    assert lr_open_set(verdicts, verification)["verdict"].tolist() == [NONE_OF_THEM, "a"]
