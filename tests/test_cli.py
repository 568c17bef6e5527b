"""`python -m stylometry.train` as a user runs it: one line per error, exit code 2 and no run dir left behind,
job-named log lines, Ctrl-C, --help, and no torch where a command does not train."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import AUTHORS, CORPUS, EXTRA_SETS, REPO, TINY, TOKENIZER, run_command, start_command
from transformers import GPT2LMHeadModel

from stylometry.config.schema import BUNDLED_TOKENIZER, DEMO_CORPUS
from stylometry.data.corpus import demo_corpus_note

CONF_DIR = REPO / "conf"


def epochs_by_dataset(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_dataset = {}
    for row in rows:
        by_dataset.setdefault(row["dataset"], set()).add(int(row["epoch"]))
    return by_dataset


def train_command(cwd: Path, *args, data: bool = True, timeout: int = 300, env: dict | None = None, unset=(), **popen):
    """`python -m stylometry.train <args>` from `cwd` (conftest's run_command, or start_command where `popen` says
    how to start it), with the corpus in the environment unless data=False and the variables in `unset` removed."""
    changes = {**(env or {}), **dict.fromkeys(unset)}
    if not data:
        changes["STYLOMETRY_DATA"] = None
    if popen:
        return start_command("stylometry.train", *args, cwd=cwd, env=changes, **popen)
    return run_command("stylometry.train", *args, cwd=cwd, env=changes, timeout=timeout)


@pytest.mark.slow
def test_smoke_run_trains_resumes_and_skips(run_train, tmp_path):
    run_dir = tmp_path / "smoke"
    # The smoke preset, each of its 11 evaluation texts read to 256 tokens instead of 1,024: 4 evaluations of all
    # 11 cost most of its time on a CPU.
    args = ["experiment=smoke", "author=baum", "seed=0", "data.eval_max_tokens=256", f"hydra.run.dir={run_dir}"]
    first = run_train(*args)
    assert first.returncode == 0, first.stdout
    assert first.stdout.splitlines()[0].endswith(f"run dir {run_dir}")  # the job's first line, before its epochs
    GPT2LMHeadModel.from_pretrained(run_dir / "checkpoint")
    epochs = epochs_by_dataset(run_dir)
    for dataset in [*AUTHORS, *EXTRA_SETS]:
        assert {0, 3} <= epochs[dataset]
    assert "epoch 3/3 | train" in first.stdout  # the per-epoch progress line
    metrics = (run_dir / "metrics.csv").read_bytes()

    again = run_train(*args)
    assert again.returncode == 0, again.stderr
    assert "nothing to train" in again.stdout
    assert (run_dir / "metrics.csv").read_bytes() == metrics


# (command line, the one line on stderr): each answered before Hydra creates anything, without torch.
CONFIG_ERRORS = [
    (
        [],
        "error: author is not set: name one author folder of data.root with author=<folder>, or sweep them all "
        "with -m 'author=glob(*)' (or train on any text with data=text)",
    ),
    (
        ["author=nobody"],
        "error: author=nobody: data.root={corpus} has no author folder nobody; its authors are austen, "
        "baum, dickens, fitzgerald, melville, thompson, twain, wells",
    ),
    (["author=baum", "model.n_embdd=64"], "error: model.n_embdd is not a setting; did you mean model.n_embd?"),
    (["author=baum", "+model.n_embdd=64"], "error: model.n_embdd is not a setting; did you mean model.n_embd?"),
    (["author=baum", "modell=tiny"], "error: modell is not a setting; did you mean model?"),
    (["author=baum", "model=huge"], "error: model=huge: no such option; choose one of gpt2_small, laptop, paper, tiny"),
    (
        ["author=baum", "model.n_embd=abc"],
        "error: model.n_embd=abc: Value 'abc' of type 'str' could not be converted to Integer",
    ),
    (
        ["author=baum", "experiment=smoke", "model.n_embd=33"],
        "error: model.n_embd=33 must be divisible by model.n_head=2",
    ),
    (
        ["author=baum", "seed=0,1"],
        "error: seed=0,1: a sweep (a,b or range() or glob()) needs -m; for a list write "
        "key=[a,b], for a comma in text key='a,b'",
    ),
    (
        ["-m", "author=baum", "seed=0,1", "hydra/launcher=slurm"],
        "error: hydra/launcher=slurm submits to a SLURM cluster, and this machine has none (no srun): run the command "
        "on the cluster, or here with hydra/launcher=joblib (jobs side by side) or hydra/launcher=local (one process "
        "per job)",
    ),
    (
        ["-m", "author=baum", "hydra/launcher=submitit_slurm"],
        "error: hydra/launcher=submitit_slurm submits to a SLURM cluster, and this machine has none (no srun): run the "
        "command on the cluster, or here with hydra/launcher=joblib (jobs side by side) or hydra/launcher=local (one "
        "process per job)",
    ),
    (
        ["-m", "author=baum", "hydra.launcher.n_jobs=2"],
        "error: hydra.launcher.n_jobs is not a setting of this launcher "
        "(_target_): choose one that has it first, e.g. "
        "hydra/launcher=joblib for n_jobs",
    ),
]


@pytest.mark.parametrize("args,line", CONFIG_ERRORS, ids=[" ".join(args) or "no author" for args, _ in CONFIG_ERRORS])
def test_a_bad_command_is_one_line_exit_2_and_creates_nothing(tmp_path, args, line):
    # No srun on the PATH: the CI machine runs a real SLURM, which must not get this sweep.
    result = train_command(tmp_path, *args, "experiment=smoke", env={"PATH": str(Path(sys.executable).parent)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [line.format(corpus=CORPUS)]
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no outputs/, multirun/ or run dir
    assert "+model" not in result.stderr.replace("+model.n_embdd=64", "")  # never Hydra's advice to add a key with +


@pytest.mark.slow
def test_data_root_unset_trains_on_the_demo_corpus_and_says_so(tmp_path):
    """No STYLOMETRY_DATA, no STYLOMETRY_TOKENIZER, no data.root: the corpus and tokenizer bundled with the package,
    the corpus named in one line, and the run dir named after it (the study `demo`)."""
    result = train_command(tmp_path, "author=baum", *TINY, data=False, unset=["STYLOMETRY_TOKENIZER"])
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == demo_corpus_note(DEMO_CORPUS)
    run_dir = tmp_path / "outputs" / "demo" / "smoke" / "baseline" / "baum" / "seed=0"
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["corpus_root"] == str(DEMO_CORPUS) and manifest["tokenizer"]["path"] == BUNDLED_TOKENIZER


def test_a_missing_tokenizer_is_one_line_without_downloads_and_leaves_no_run_dir(tmp_path):
    """A hub name that is not in the local cache (an empty HF_HOME), with HF_HUB_OFFLINE unset as in a user's shell:
    no download retries, one line, and the run dir Hydra made for the job is gone with it."""
    env = {"HF_HOME": str(tmp_path / "hf"), "STYLOMETRY_TOKENIZER": "gpt2"}
    result = train_command(tmp_path, "author=baum", *TINY, env=env, unset=["HF_HUB_OFFLINE"])
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: data.tokenizer=gpt2: cannot load a tokenizer (")
    assert line.endswith("set data.tokenizer (or STYLOMETRY_TOKENIZER) to a local tokenizer folder")
    assert "Retry" not in result.stdout + result.stderr and "retry" not in result.stdout + result.stderr
    assert result.stdout == ""  # the error is alone: the job's "run dir" line waits for its next line, which never came
    assert list(tmp_path.iterdir()) == []  # no outputs/


def test_an_author_without_books_is_named(run_train, tmp_path):
    corpus = tmp_path / "corpus"
    for author in ["baum", "thompson"]:
        (corpus / author).parent.mkdir(exist_ok=True)
        (corpus / author).symlink_to(CORPUS / author)
    (corpus / "austen").mkdir()
    result = run_train(
        "experiment=smoke",
        "author=baum",
        f"data.root={corpus}",
        "data.authors=[austen,baum,thompson]",
        "author.extra_eval_sets=[]",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {corpus}/austen holds 0 .txt book(s): an author needs at least two "
        "(one is held out); add books, or list the folder in data.not_authors"
    ]
    assert not (tmp_path / "run").exists()


def read_until(process, marker: str) -> list:
    lines = []
    for line in process.stdout:
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} never came: {''.join(lines)}")


def wait_for_line(path: Path, marker: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not (path.is_file() and marker in path.read_text()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{marker!r} never came in {path}")
        time.sleep(0.05)


@pytest.mark.slow
def test_ctrl_c_is_one_line_and_the_same_command_resumes(tmp_path):
    args = ("author=baum", *TINY, "stop_criteria.max_epochs=200", f"hydra.run.dir={tmp_path / 'run'}")
    run = train_command(tmp_path, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    read_until(run, "epoch 2/200")
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130
    [line] = err.splitlines()
    assert line.startswith("interrupted at epoch ") and line.endswith(
        ": the same command resumes run from its last checkpoint"
    )  # the run dir as typed: relative to the cwd

    again = train_command(tmp_path, *args[:-2], "stop_criteria.max_epochs=4", args[-1])  # the run, trained further
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stdout

    # Interrupted before its first checkpoint, a run keeps nothing.
    early = train_command(
        tmp_path,
        "author=baum",
        *TINY,
        f"hydra.run.dir={tmp_path / 'early'}",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for_line(tmp_path / "early" / "train.log", "run dir")  # the job's first line: in its log at once
    early.send_signal(signal.SIGINT)
    _, err = early.communicate(timeout=120)
    assert early.returncode == 130
    assert err.splitlines() == [
        "interrupted before the first checkpoint, so nothing was kept: the same command starts again"
    ]
    assert not (tmp_path / "early").exists()


@pytest.mark.slow
def test_a_local_launcher_sweep_shows_each_jobs_lines_on_the_terminal(tmp_path, token_cache):
    sweep_dir = tmp_path / "sweep"
    result = train_command(
        tmp_path,
        "-m",
        "author=baum,austen",
        *TINY,
        "hydra/launcher=local",
        f"hydra.sweep.dir={sweep_dir}",
        f"data.cache_dir={token_cache}",
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for job in ["baseline/baum/seed=0", "baseline/austen/seed=0"]:
        epoch_lines = [line for line in result.stdout.splitlines() if "epoch 2/2 | train" in line]
        assert any(line.startswith(f"{job} ") for line in epoch_lines), result.stdout
    assert not (sweep_dir / ".submitit" / "%j").exists()  # submitit's folder template, made literally, is removed


def test_help_is_for_our_users_and_lists_what_conf_holds(tmp_path):
    result = train_command(tmp_path, "--help")
    assert result.returncode == 0 and result.stderr == ""
    text = result.stdout
    commands = [line.strip() for line in text.splitlines() if line.strip().startswith("python -m stylometry.train ")]
    for example in [
        "author=baum seed=0",
        "-m 'author=glob(*)' 'seed=range(10)'",
        "variant=content",
        "hydra/launcher=slurm",
        "data.root=/path/to/your/corpus",
    ]:
        assert any(f" {example}" in command for command in commands), example  # shown as a command to type
    assert "Required:" in text and "data.root" in text and "STYLOMETRY_TOKENIZER" in text
    assert "outputs/<study>/<experiment>/<variant>/<author>/seed=<seed>/" in text and "multirun/<study>" in text
    assert "austen, baum, dickens, fitzgerald, melville, thompson, twain, wells" in text  # the corpus's folders
    groups = {
        line.split()[0]: line.split(None, 1)[1]
        for line in text.split("Config groups")[1].split("\n\n")[0].splitlines()[1:]
        if line.startswith("  ") and not line.startswith("   ")
    }
    for group in [path for path in CONF_DIR.iterdir() if path.is_dir() and path.name not in ("hydra", "author")]:
        options = sorted(path.stem for path in group.glob("*.yaml"))
        assert groups[group.name].replace("*", "").split(", ") == options, group.name
    assert "schema" not in groups and "variant/function_words" not in text  # internal groups are not options
    assert list(tmp_path.iterdir()) == []
    hydra_help = train_command(tmp_path, "--hydra-help")
    assert hydra_help.returncode == 0 and "Hydra (" in hydra_help.stdout  # Hydra's own help stays


@pytest.mark.parametrize(
    "command",
    [
        ["stylometry.train", "--help"],
        ["stylometry.train", "author=baum", "model.n_embdd=64"],
        ["stylometry.status"],
        ["stylometry.status", "--plan", "-m", "author=baum", "model.n_embdd=64"],
    ],
    ids=lambda command: " ".join(command),
)
def test_commands_that_train_nothing_never_import_torch(tmp_path, command):
    """What makes them answer in about a second: torch and transformers take 3-15 s to import."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "STYLOMETRY_DATA": str(CORPUS),
        "STYLOMETRY_TOKENIZER": str(TOKENIZER),
    }
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert imported and not {"torch", "transformers", "numpy"} & imported, sorted(imported)[:20]
