"""The study end to end on a CPU: the laptop preset's sweep over real books, then the analysis's verdicts.

The whole preset (8 authors, ~40 minutes) is what README's "The study on one CPU" measures; this test
runs the same two commands scaled down to two authors and about a minute, and checks that each held-out
book is attributed to its author and that the Baum model's extra sets are reported. The contested
book is left out of the assertions: the preset's own cost curve shows it goes to Baum at this budget
and turns to Thompson only after ~700k tokens per model, which CI cannot afford.
"""

import csv

import pytest
from conftest import run_command

AUTHORS = ["baum", "fitzgerald"]
# The preset as it is, on less text: two authors' held-out books (their first 4,096 tokens), one epoch of 32,768
# training tokens each. Measured: each book goes to its author by 0.16 (Baum's) and 0.11 (Fitzgerald's) in mean loss
# (a second epoch widens this to 0.24 and 0.31). The jobs run in turn in the command's process (Hydra's basic
# launcher), not in the README's two joblib lanes: a test process keeps to one core (conftest), where two lanes
# gain nothing and their workers cost ~9 s of imports each; tests/test_init.py and test_sweep.py run joblib's.
SCALED_DOWN = [
    "experiment=laptop",
    f"data.authors=[{','.join(AUTHORS)}]",
    "data.n_train_tokens=32768",
    "stop_criteria.max_epochs=1",
    "data.eval_max_tokens=4096",
]


def _run(module, *args):
    done = run_command(module, *args, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_laptop_preset_trains_analyzes_and_names_the_authors(tmp_path, token_cache):
    sweep = tmp_path / "multirun"
    _run(
        "stylometry.train",
        "-m",
        *SCALED_DOWN,
        f"author={','.join(AUTHORS)}",
        "seed=0",
        f"hydra.sweep.dir={sweep}",
        f"data.cache_dir={token_cache}",
    )
    summary = _rows(sweep / "summary.csv")
    assert sorted(row["author"] for row in summary) == AUTHORS and {row["state"] for row in summary} == {"complete"}

    out = tmp_path / "analysis"
    _run("stylometry.analyze", str(sweep), f"out={out}", "--no-figures")
    own_final = [row for row in _rows(out / "attribution.csv") if row["at"] == "own_final"]
    assert sorted(row["book"] for row in own_final) == AUTHORS
    assert all(row["attributed_to"] == row["book"] for row in own_final), own_final
    extras = {row["eval_set"]: row for row in _rows(out / "extra_sets.csv") if row["at"] == "own_final"}
    assert set(extras) == {"contested", "non_oz_baum", "non_oz_thompson"}
    assert all(row["attributed_to"] == "baum" for row in extras.values())  # the only model that read them
    assert "contested" in (out / "report.md").read_text()
