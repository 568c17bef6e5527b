"""The run-dir contract (stylometry/runs/): one decision of what a run dir needs, asked by the trainer, by
`status --plan` and by attribute's study loading; one rule of what runs make one study; and `status` of a sweep.

The run dirs are made by the real trainer, as small as it goes: two authors of a few kB each, a 32-token context,
256 training tokens (one step an epoch), evaluated on 64 tokens of each author's held-out book.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, REPO, TOKENIZER, fake_run

from stylometry import status as status_command
from stylometry.config.compose import compose
from stylometry.config.schema import ConfigError, first_line, to_run_config
from stylometry.hardware.device import Placement
from stylometry.hardware.distributed import World
from stylometry.runs import decision as decisions
from stylometry.runs import study as studies
from stylometry.runs.checkpoint import RunMismatch
from stylometry.runs.compatibility import FACET, first_mix
from stylometry.runs.decision import EXTEND, REFUSE, RESUME, SKIP, START
from stylometry.runs.sweep import MULTIRUN, format_table, sweep_states
from stylometry.training import loop
from stylometry.training import run as opening

TINY = [
    "experiment=smoke",
    "model.n_positions=32",
    "data.n_train_tokens=256",
    "data.eval_max_tokens=64",
    "author.extra_eval_sets=[]",
    "cadence.eval_at_start=false",
    "device=cpu",
]
# Baum's books are longer than Thompson's: 4,096 training tokens fit Baum's training book, not Thompson's.
BOOK_BYTES = {"baum": 30_000, "thompson": 10_000}

# Each state of a run dir (the job that asks: author, seed), and what it needs for a job of 2 epochs.
STATES = {
    "complete": ("baum", 0, SKIP),
    "complete, other author": ("thompson", 0, SKIP),
    "extendable": ("baum", 1, EXTEND),  # complete at epoch 1
    "resumable": ("baum", 2, RESUME),  # paused at epoch 1
    "refused": ("baum", 3, REFUSE),  # holds a run of seed 0
    "not started": ("thompson", 1, START),
}


def small_corpus(root: Path) -> Path:
    """The first lines of two books of each author: real text, tokenized in a blink."""
    for author, size in BOOK_BYTES.items():
        (root / author).mkdir(parents=True)
        for book in sorted((CORPUS / author).glob("*.txt"))[:2]:
            head = book.read_bytes()[:size]
            (root / author / book.name).write_bytes(head[: head.rindex(b"\n") + 1])  # whole lines: valid UTF-8
    return root


def settings(corpus: Path, cache: Path) -> list[str]:
    return [*TINY, f"data.root={corpus}", f"data.tokenizer={TOKENIZER}", f"data.cache_dir={cache}"]


def config(corpus: Path, cache: Path, *overrides: str):
    return to_run_config(compose("train", [*settings(corpus, cache), *overrides]))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, token_cache):
    """A sweep dir (multirun/<study>/<experiment>'s layout) with a run dir in each state, made by the trainer."""
    root = tmp_path_factory.mktemp("runs")
    corpus, sweep_dir = small_corpus(root / "corpus"), root / "sweep"

    def run(author, seed, *overrides, into_seed=None):
        cfg = config(corpus, token_cache, f"author={author}", f"seed={seed}", *overrides)
        run_dir = sweep_dir / "baseline" / author / f"seed={seed if into_seed is None else into_seed}"
        return loop.train(cfg, run_dir, Placement("cpu", "fp32"), World())

    assert run("baum", 0, "stop_criteria.max_epochs=2") == "complete"
    assert run("thompson", 0, "stop_criteria.max_epochs=2") == "complete"
    assert run("baum", 1, "stop_criteria.max_epochs=1") == "complete"
    assert run("baum", 2, "stop_criteria.max_epochs=2", "stop_criteria.max_seconds=0") == "paused"
    assert run("baum", 0, "stop_criteria.max_epochs=2", "stop_criteria.max_seconds=0", into_seed=3) == "paused"
    return {"dir": sweep_dir, "corpus": corpus, "cache": token_cache}


@pytest.fixture
def asked(monkeypatch):
    """Every call of the one decision, by the module that made it: [(user, run dir, action)]."""
    calls = []
    real = decisions.decide

    def spy(user):
        def decide(run_dir, *args, **kwargs):
            answer = real(run_dir, *args, **kwargs)
            calls.append((user, Path(run_dir), answer.action))
            return answer

        return decide

    monkeypatch.setattr(opening, "decide", spy("train"))  # the run train() opens decides (training/run.py)
    monkeypatch.setattr(decisions, "decide", spy("status --plan"))  # imported by the plan when it runs
    monkeypatch.setattr(studies, "decide", spy("attribute"))
    return calls


def run_dir_of(sweep, state: str) -> Path:
    author, seed, _ = STATES[state]
    return sweep["dir"] / "baseline" / author / f"seed={seed}"


def test_train_plan_and_attribute_ask_the_one_decision_of_each_state(sweep, asked):
    # The trainer: before it builds anything (open_run changes nothing in the run dir).
    for state, (author, seed, action) in STATES.items():
        cfg = config(sweep["corpus"], sweep["cache"], f"author={author}", f"seed={seed}", "stop_criteria.max_epochs=2")
        run_dir = run_dir_of(sweep, state)
        if action == REFUSE:
            with pytest.raises(RunMismatch, match=f"{run_dir} holds a run with seed=0, not 3"):
                loop.open_run(cfg, run_dir, Placement("cpu", "fp32"), World())
        else:
            run = loop.open_run(cfg, run_dir, Placement("cpu", "fp32"), World())
            assert (SKIP if run is None else run.decision.action) == action, state
    assert asked == [("train", run_dir_of(sweep, state), action) for state, (_, _, action) in STATES.items()]
    assert not run_dir_of(sweep, "not started").exists()

    # status --plan: every job of the sweep's command, the same answers, and the reasons.
    asked.clear()
    lines = status_command.plan(
        [
            *settings(sweep["corpus"], sweep["cache"]),
            "stop_criteria.max_epochs=2",
            "author=baum,thompson",
            "seed=range(4)",
            f"hydra.sweep.dir={sweep['dir']}",
        ]  # fmt: skip
    )
    planned = {Path(line.rsplit(" ", 1)[1]): line for line in lines}
    for state, (_, _, action) in STATES.items():
        assert planned[run_dir_of(sweep, state)].split()[0] == action, planned[run_dir_of(sweep, state)]
        assert ("status --plan", run_dir_of(sweep, state), action) in asked
    assert "(complete at epoch 1)" in planned[run_dir_of(sweep, "extendable")]
    assert "(checkpoint at epoch 1)" in planned[run_dir_of(sweep, "resumable")]
    assert "holds a run with seed=0, not 3" in planned[run_dir_of(sweep, "refused")]
    assert len(lines) == 8 and not run_dir_of(sweep, "not started").exists()  # planning writes no run dir

    # attribute: the complete runs (nothing left to train with their own criteria) are the study's models.
    asked.clear()
    study = studies.load_study(sweep["dir"])
    assert {(model.author, model.seed) for model in study.models} == {("baum", 0), ("thompson", 0), ("baum", 1)}
    assert sorted(line.split(": ", 1)[1].split(" (")[0] for line in study.left_out) == ["paused", "paused"]
    on_disk = [state for state in STATES if state != "not started"]
    assert sorted(call[1] for call in asked) == sorted(run_dir_of(sweep, state) for state in on_disk)
    assert {call[2] for call in asked if call[1] == run_dir_of(sweep, "extendable")} == {SKIP}  # its own criteria


def test_a_job_whose_inputs_fail_is_refused_by_the_plan_as_the_trainer_refuses_it(sweep, tmp_path):
    """status --plan runs the checks the job runs before training: the data layer's own, with its message."""
    too_many = "data.n_train_tokens=4096"  # more than Thompson's training book holds
    lines = status_command.plan(
        [*settings(sweep["corpus"], sweep["cache"]), too_many, "author=baum,thompson", f"hydra.sweep.dir={tmp_path}"]
    )
    assert [line.split()[0] for line in lines] == [START, REFUSE]
    with pytest.raises(ConfigError) as refused:
        loop.train(config(sweep["corpus"], sweep["cache"], "author=thompson", too_many), tmp_path / "job")
    message = first_line(refused.value)
    assert message.startswith("data.n_train_tokens=4096 exceeds the training books of author thompson")
    assert f"({message})" in lines[1]
    assert list(tmp_path.iterdir()) == [tmp_path / "job"]  # the plan made no run dir; the trainer its own, empty
    text = status_command.plan_text(
        [*settings(sweep["corpus"], sweep["cache"]), too_many, "author=baum,thompson", f"hydra.sweep.dir={tmp_path}"]
    )
    assert text.splitlines()[0] == "2 jobs: 0 to skip, 0 to extend, 0 to resume, 1 to start, 1 to refuse"


# ---- one rule of what runs make one study --------------------------------------------------------------------


def test_one_rule_names_the_first_facet_runs_differ_in_and_places_unrecorded_runs_nowhere():
    runs = [
        {"variant": "baseline", "corpus_sha256": "a" * 64, "config_sha256": "1" * 64},
        {"variant": "baseline", "corpus_sha256": "b" * 64, "config_sha256": "2" * 64},
        {"variant": "baseline", "corpus_sha256": None, "config_sha256": "1" * 64},  # older than the key
    ]

    def value_of(run, key):
        return (str(run[key])[:8], run[key]) if run.get(key) else None

    mix = first_mix(runs, value_of)
    assert mix.facet == FACET["corpus_sha256"]  # corpora come before settings
    assert [(label, len(members)) for label, members in mix.groups] == [("aaaaaaaa", 1), ("bbbbbbbb", 1)]
    assert mix.unrecorded == [runs[2]]
    assert mix.sentence("multirun/x", lambda label, members: label) == "multirun/x mixes corpora (corpus_sha256): " + (
        "aaaaaaaa; bbbbbbbb"
    )
    assert first_mix(runs[::2], value_of) is None  # a run that records no corpus is compatible with any


# ---- status of a sweep -----------------------------------------------------------------------------------------


def multirun_record(sweep_dir: Path, task: list[str]) -> None:
    """What Hydra's basic sweeper saves as <sweep dir>/multirun.yaml, as far as status reads it: the command's
    overrides (hydra.overrides.task: the job's; hydra.overrides.hydra: Hydra's own, the launcher's among them)."""
    (sweep_dir / MULTIRUN).write_text(
        json.dumps(
            {
                "hydra": {
                    "overrides": {
                        "hydra": ["hydra.mode=MULTIRUN", "hydra/launcher=joblib", f"hydra.sweep.dir={sweep_dir}"],
                        "task": task,
                    }
                }
            }
        )
    )


def test_status_of_a_sweep_counts_the_jobs_that_have_not_started(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLOMETRY_DATA", str(CORPUS))
    sweep_dir = tmp_path / "multirun" / "corpus" / "smoke"
    fake_run(sweep_dir / "baseline/baum/seed=0", state="complete")
    fake_run(sweep_dir / "baseline/baum/seed=1", state="failed", reason="ConfigError: bad book")
    multirun_record(sweep_dir, ["experiment=smoke", "author=baum,austen", "seed=range(3)"])
    jobs = sweep_states(sweep_dir)
    table = format_table(jobs)
    assert table.splitlines()[0] == "6 jobs: 1 complete, 1 failed, 4 not started"
    assert [(job.author, job.seed) for job in jobs if job.state == "not started"] == [
        ("austen", "0"),
        ("austen", "1"),
        ("austen", "2"),
        ("baum", "2"),
    ]
    assert str(sweep_dir / "baseline/austen/seed=1") in table

    # A record whose command does not compose here (authors of a corpus on another machine): the jobs on disk.
    multirun_record(sweep_dir, ["experiment=smoke", "author=alice,bob", "data.root=/elsewhere/corpus"])
    assert format_table(sweep_states(sweep_dir)).splitlines()[0] == "2 jobs: 1 complete, 1 failed"
    (sweep_dir / MULTIRUN).unlink()
    assert format_table(sweep_states(sweep_dir)).splitlines()[0] == "2 jobs: 1 complete, 1 failed"


@pytest.mark.slow
def test_status_whose_reader_goes_away_ends_quietly(tmp_path):
    """`status | head`: the reader closes the pipe; status ends without an error line (exit 141, as SIGPIPE)."""
    for seed in range(3):
        fake_run(tmp_path / "multirun/corpus/paper/baseline/baum" / f"seed={seed}", state="complete")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "stylometry.status"],
            cwd=tmp_path,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")
