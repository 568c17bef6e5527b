"""A bad command line is one line on stderr, exit code 2, no traceback and nothing created: the overrides
Hydra's grammar rejects, and what a new user found on their own corpus (authors with no conf/author/ YAML).

Each command runs as a user types it (`python -m stylometry.<command>`), from an empty working dir that must
stay empty.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, REPO, TOKENIZER, assert_one_error_line, build_small_corpus, run_command, shared_data

from stylometry.config.compose import SWEEP_NEEDS_M, compose, compose_jobs, sweep_jobs
from stylometry.config.schema import DEMO_CORPUS, ConfigError, to_run_config
from stylometry.data.authors import prepare_overrides


@pytest.fixture(scope="module")
def own_corpus(tmp_path_factory) -> Path:
    """Two authors of the small corpus (alice, bob), whose names have no conf/author/<name>.yaml; carol is not one."""
    return build_small_corpus(tmp_path_factory.mktemp("own") / "corpus", authors=("alice", "bob"))


def run(cwd: Path, module: str, *args: str, corpus: Path | None = CORPUS, timeout: int = 300):
    """`python -m <module> <args>` from `cwd` (conftest's run_command), the corpus (if any) from the environment."""
    return run_command(module, *args, cwd=cwd, env={"STYLOMETRY_DATA": corpus}, timeout=timeout)


def assert_one_line(result, line: str, cwd: Path) -> None:
    assert result.stderr.splitlines() == [f"error: {line}"]  # the line alone: no log line before it
    assert_one_error_line(result, line)
    assert list(cwd.iterdir()) == []  # no outputs/, multirun/ or run dir


QUOTE_IT = "a value holding '=' must be quoted; write \"hydra.run.dir='/x/seed=0'\""
UNCLOSED = "seed=range(2: the '(' is never closed; close it, or quote a value that is text (seed='...')"
EMPTY_ITEM = (
    "author=baum,: a list with an empty item (a ',' too many); remove the ',', "
    "or quote a value that holds a comma (author='...')"
)
GRAMMAR = [
    (["author=baum", "seed=range(2"], UNCLOSED),
    (["author=baum,"], EMPTY_ITEM),
    (["author=baum", "hydra.run.dir=/x/seed=0"], f"hydra.run.dir=/x/seed=0: {QUOTE_IT}"),
    (["-m", "author=baum,thompson", "seed=range(2"], UNCLOSED),
    (["-m", "author=baum,"], EMPTY_ITEM),
    (
        ["-m", "author=baum", "hydra.sweep.dir=/x/seed=0"],
        "hydra.sweep.dir=/x/seed=0: a value holding '=' must be quoted; write \"hydra.sweep.dir='/x/seed=0'\"",
    ),
    (["--cfg", "job", "author=baum,"], EMPTY_ITEM),  # Hydra's own flags get the same answer
    (
        ["author=baum", "data.root=/my corpus/seed=0"],
        "data.root=/my corpus/seed=0: a value holding '=' must be quoted; write \"data.root='/my corpus/seed=0'\"",
    ),
    (["author=baum", "seed"], "seed: not an override; write key=value, group=option, or ~key to delete a key"),
]


@pytest.mark.parametrize("args,line", GRAMMAR, ids=[" ".join(args) for args, _ in GRAMMAR])
def test_an_override_the_grammar_rejects_is_one_line(tmp_path, args, line):
    assert_one_line(run(tmp_path, "stylometry.train", *args, "experiment=smoke"), line, tmp_path)


@pytest.mark.parametrize(
    "module,args",
    [
        ("stylometry.status", ["--plan", "-m", "author=baum", "hydra.run.dir=/x/seed=0"]),
        ("stylometry.variants", ["variant=content", "out=out", "hydra.run.dir=/x/seed=0"]),
    ],
)
def test_every_command_that_composes_says_it_the_same_way(tmp_path, module, args):
    assert_one_line(run(tmp_path, module, *args), f"hydra.run.dir=/x/seed=0: {QUOTE_IT}", tmp_path)


def test_what_status_bench_and_variants_call_first_answers_in_one_line():
    """status --plan and bench prepare their overrides (the corpus's authors); variants, bench and generate compose."""
    for call in (prepare_overrides, lambda overrides: compose("train", overrides)):
        with pytest.raises(ConfigError) as error:
            call(["author=baum", f"data.root={CORPUS}", "seed=range(2"])
        assert str(error.value).startswith("seed=range(2: the '(' is never closed")
    with pytest.raises(ConfigError) as error:
        compose("train", ["author=baum", f"data.root={CORPUS}", "seed=0,1"])
    assert str(error.value) == f"seed=0,1: {SWEEP_NEEDS_M}"


@pytest.mark.parametrize(
    "override,line",
    [
        ("stop_critera.max_epochs=6", "stop_critera is not a setting; did you mean stop_criteria?"),
        ("data.n_train_token=null", "data.n_train_token is not a setting; did you mean data.n_train_tokens?"),
        ("model.n_embdd=64", "model.n_embdd is not a setting; did you mean model.n_embd?"),  # the docs' own
    ],
)
def test_a_misspelt_key_on_your_own_corpus_names_the_key(tmp_path, own_corpus, override, line):
    """Not `author=alice: data.root has no author folder alice`: the folder is there."""
    result = run(tmp_path, "stylometry.train", "author=alice", override, corpus=own_corpus)
    assert_one_line(result, line, tmp_path)
    swept = run(tmp_path, "stylometry.status", "--plan", "-m", "author=glob(*)", override, corpus=own_corpus)
    assert_one_line(swept, line, tmp_path)


def test_a_data_root_that_is_missing_or_unset_is_named(tmp_path, own_corpus):
    missing = own_corpus.parent / "no_such_corpus"
    result = run(tmp_path, "stylometry.train", "author=alice", f"data.root={missing}")
    assert_one_line(
        result, f"data.root={missing}: no such folder; point data.root (or STYLOMETRY_DATA) at the corpus", tmp_path
    )
    unset = run(tmp_path, "stylometry.train", "author=alice", corpus=None)  # the default: the demo corpus
    assert_one_line(
        unset,
        f"author=alice: data.root={DEMO_CORPUS} has no author folder alice; its authors are austen, baum, dickens, "
        "fitzgerald, melville, thompson, twain, wells",
        tmp_path,
    )
    nobody = run(tmp_path, "stylometry.train", "author=carol", corpus=own_corpus)
    assert_one_line(
        nobody, f"author=carol: data.root={own_corpus} has no author folder carol; its authors are alice, bob", tmp_path
    )


def laptop_train_tokens(corpus: Path, author: str, token_cache: Path) -> tuple[int, int]:
    """The training tokens a laptop-preset job of `author` resolves to on `corpus`, and the corpus's rule (the most
    every author's training text holds)."""
    from stylometry.data.splits import largest_train_tokens, load_data
    from stylometry.data.tokenizer import load_tokenizer
    from stylometry.data.tokens import BookReader

    overrides = ["experiment=laptop", f"author={author}", f"data.root={corpus}", f"data.tokenizer={TOKENIZER}"]
    [job] = compose_jobs(prepare_overrides([*overrides, f"data.cache_dir={token_cache}"]), multirun=False)
    reader = BookReader.of_run(job.config, load_tokenizer(str(TOKENIZER)))
    data = load_data(job.config.data, job.config.author, 0, reader)
    return data.n_train_tokens, largest_train_tokens(corpus, data.authors, reader.as_written())


def test_the_laptop_preset_fits_a_small_corpus(own_corpus, token_cache):
    """The preset's budget (262,144 tokens, the measured laptop figures) is a cap on the corpus's rule: on a corpus
    whose authors hold fewer (yours, the demo corpus), its jobs train on all that the rule gives."""
    for corpus, author in ((own_corpus, "alice"), (CORPUS, "baum")):
        resolved, rule = laptop_train_tokens(corpus, author, token_cache)
        assert resolved == rule < 262144


def test_the_laptop_preset_caps_the_study_corpus(token_cache):
    """On the study's corpus (643,041 by its rule), the preset's 262,144."""
    resolved, rule = laptop_train_tokens(shared_data("corpus"), "baum", token_cache)
    assert (resolved, rule) == (262144, 643041)


def test_importing_the_train_command_changes_nothing():
    """No HF_HUB_OFFLINE (the job sets it when it runs) and no sys.argv from an import."""
    code = (
        "import os, sys; argv = list(sys.argv); import stylometry.train; "
        "print(os.environ.get('HF_HUB_OFFLINE'), sys.argv == argv)"
    )
    env = {key: value for key, value in os.environ.items() if key != "HF_HUB_OFFLINE"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.split() == ["None", "True"], result.stderr


@pytest.mark.parametrize(
    "overrides",
    [
        ["author=baum,thompson", "seed=range(3)", "model.n_embd=32", "seed=0,1"],  # a key twice: its last values
        ["+x=1,2", "~y", "data.root='/a,b',/c", "variant@v=content,pos", "seed=range(0,6,2)"],
    ],
)
def test_sweeps_expand_as_hydras_basic_sweeper_does(overrides):
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper  # private: the oracle, not the code
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    assert sweep_jobs(parsed) == BasicSweeper.split_arguments(parsed, None)[0]


def test_swept_values_are_set_as_hydra_composes_each_job(tmp_path):
    """compose_jobs composes once per choice of groups and sets the swept values on it: the same configs as
    Hydra's composition of each job."""
    overrides = ["author=baum,thompson", "seed=range(2)", "data.batch_size=2,4", f"data.root={CORPUS}"]
    jobs = compose_jobs(["experiment=smoke", *overrides], multirun=True)
    assert len(jobs) == 8
    for job in jobs:
        assert job.config == to_run_config(compose("train", job.overrides))
