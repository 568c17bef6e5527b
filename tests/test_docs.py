"""Every shell command of README.md and docs/*.md is run here, or listed with the reason it is not (and the test that
runs it at a smaller scale, where one does), so that no command in the docs drifts from the code.

    python -m pytest tests/test_docs.py

The commands run in a scratch folder beside ../shared/corpus and ../shared/tokenizers/gpt2 (links to the tests' corpus
and tokenizer), with STYLOMETRY_DATA and STYLOMETRY_TOKENIZER set
as the README has the user set them. Training commands get a tiny model and budget (TINY); the grid commands are
the tests' trained study (conftest's STUDY: 3 authors x 2 seeds), which the scratch folder holds a copy of as
multirun/corpus/paper: they find it complete, and every command after them reads it.
"""

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import (
    CONTENT_STUDY,
    CORPUS,
    REPO,
    STUDY,
    STUDY_AUTHORS,
    STUDY_SEEDS,
    TINY,
    TOKENIZER,
    build_small_corpus,
    copy_study,
    run_command,
)

from stylometry.config.schema import DEMO_CORPUS

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TINY_BUDGET = [o for o in TINY if not o.startswith("experiment=")]  # for a command that names its experiment
# The single runs of Baum's on the study's corpus: TINY's budget, evaluated on two authors' books (not all eight).
SINGLE = [*TINY_BUDGET, "data.authors=[baum,thompson]"]
# The grid: the study's authors and seeds, with its settings (its sweep dir is multirun/corpus/paper).
GRID = {
    "'author=glob(*)'": f"author={','.join(STUDY_AUTHORS)}",
    "'seed=range(10)'": f"seed={','.join(map(str, STUDY_SEEDS))}",
}
GRID_JOBS = len(STUDY_AUTHORS) * len(STUDY_SEEDS)
DEMO_UNSET = ("STYLOMETRY_DATA", "STYLOMETRY_TOKENIZER")
DEMO_JOBS = 6  # the demo's command here: 2 authors x 2 seeds, and the seeds' 2 background models


@dataclass(frozen=True)
class Run:
    """Run here: the command with these replacements (old -> new) and these overrides appended; `expect`: a piece
    of its stdout that shows it did its work (every command has one: an exit code alone says little)."""

    expect: str
    replace: tuple = ()
    append: tuple = ()
    slow: bool = True  # trains, or reads what training wrote
    unset: tuple = ()  # variables of the README's environment this command runs without (the demo: all of them)


@dataclass(frozen=True)
class NotRun:
    """Not run here, and why; `test`: the test that runs it at a smaller scale, which `mentions` what it runs."""

    reason: str
    test: str = ""
    mentions: str = ""


INSTALL = NotRun("installs packages: the tests run in the environment it made")
ENVIRONMENT = NotRun(
    "sets the environment: every command here runs with STYLOMETRY_DATA and STYLOMETRY_TOKENIZER pointing at ../shared"
)
SUITE = NotRun("the test suite itself")
ATTRIBUTION = NotRun(
    "run on the tests' tiny study by tests/test_attribute.py", "tests/test_attribute.py", "attribution.md"
)
STUDY_LOGS = NotRun(
    "needs the study's published loss logs (its repository's models/): tests/test_analyze.py reads "
    "logs in their format",
    "tests/test_analyze.py",
    "loss_logs.csv",
)
GPU_CHECK = NotRun(
    "run where torch sees no GPU by tests/test_bench.py; on a GPU by the device check", "tests/test_bench.py", "gpu.md"
)

SPEED_TEXTS = "../shared/corpus/contested/30537.txt ../shared/corpus/non_oz_baum ../shared/corpus/non_oz_thompson"
# docs/attribution.md's commands that train nothing: tests/test_attribute.py runs each on the tests' study.
ATTRIBUTION_PAGE = {
    f"python -m stylometry.attribute multirun/corpus/paper {texts} --max-tokens all {options} "
    f"--out attribution/{out}": ATTRIBUTION
    for texts, options, out in [
        (SPEED_TEXTS, "--no-figures", "speed"),
        (SPEED_TEXTS, "--no-figures --jobs 2", "speed_jobs"),
        ("../shared/corpus/contested/30537.txt", "--excerpt-tokens 256 --no-figures", "speed_excerpts"),
    ]
}

# In the order they run: the sweep first, then what reads it.
COMMANDS = {
    # Answered without training.
    "python -m stylometry.train --help": Run(expect="Config groups", slow=False),
    "python -m stylometry.train author=baum --cfg job": Run(expect="n_embd: 128", slow=False),
    "python -m stylometry.status --plan -m 'author=glob(*)' 'seed=range(10)'": Run(
        expect="80 jobs: 0 to skip, 0 to extend, 0 to resume, 80 to start", slow=False
    ),
    "python -m stylometry.status --plan -m 'author=glob(*)' 'seed=range(3)' data.root=/path/to/mycorpus": Run(
        replace=(("/path/to/mycorpus", "{mycorpus}"),), expect="9 jobs:", slow=False
    ),
    "python -m stylometry.variants variant=content out=variants/content": Run(expect="variant content", slow=False),
    # docs/small-corpora.md: the corpus's report and the plan of a small-corpus sweep (3 authors x 5 seeds, and each
    # seed's background before its authors).
    "python -m stylometry.corpus /path/to/mycorpus": Run(
        replace=(("/path/to/mycorpus", "{mycorpus} --cache-dir {mycorpus}/../token_cache"),),
        expect="n_train_tokens: ",
        slow=False,
    ),
    "python -m stylometry.status --plan -m experiment=small 'author=glob(*)' 'seed=range(5)' "
    "data.root=/path/to/mycorpus": Run(
        replace=(("/path/to/mycorpus", "{mycorpus}"),),
        expect="20 jobs: 0 to skip, 0 to extend, 0 to resume, 20 to start",
        slow=False,
    ),
    # The demo, as a new user runs it: no STYLOMETRY_DATA or STYLOMETRY_TOKENIZER (the corpus and tokenizer bundled
    # with the package); two of its authors and seeds, TINY's budget; then what reads it.
    "python -m stylometry.train -m experiment=demo 'author=glob(*)' 'seed=range(3)' hydra/launcher=joblib "
    "hydra.launcher.n_jobs=2": Run(
        f"{DEMO_JOBS} jobs: {DEMO_JOBS} complete",
        (("'author=glob(*)'", "author=baum,thompson"), ("'seed=range(3)'", "seed=0,1")),
        TINY_BUDGET,
        unset=DEMO_UNSET,
    ),
    "python -m stylometry.status multirun/demo/demo": Run(
        f"multirun/demo/demo: {DEMO_JOBS} jobs: {DEMO_JOBS} complete", unset=DEMO_UNSET
    ),
    "python -m stylometry.analyze multirun/demo/demo --out analysis/demo": Run(
        "4 models analysed; report: analysis/demo/report.md", unset=DEMO_UNSET
    ),
    "python -m stylometry.attribute multirun/demo/demo stylometry/data/bundled/demo/contested/30537.txt --authors "
    "baum,thompson --out attribution/demo": Run(
        "report: attribution/demo/report.md", (("stylometry/data/bundled/demo", str(DEMO_CORPUS)),), unset=DEMO_UNSET
    ),
    # The grid: the tests' study, copied here as multirun/corpus/paper, found complete (as the same command run
    # again finds it: nothing to launch, on any launcher); every command after it reads it.
    "python -m stylometry.train -m 'author=glob(*)' 'seed=range(10)'": Run(
        f"{GRID_JOBS} jobs: {GRID_JOBS} complete", tuple(GRID.items()), STUDY
    ),
    "python -m stylometry.train -m 'author=glob(*)' 'seed=range(10)' hydra/launcher=joblib hydra.launcher.n_jobs=8 "
    "device.jobs_per_gpu=2": Run(
        f"{GRID_JOBS} jobs: {GRID_JOBS} complete", (*GRID.items(), ("n_jobs=8", "n_jobs=2")), STUDY
    ),
    "python -m stylometry.status": Run(f"multirun: {GRID_JOBS + DEMO_JOBS} jobs: {GRID_JOBS + DEMO_JOBS} complete"),
    "python -m stylometry.status multirun/corpus/paper": Run(
        f"multirun/corpus/paper: {GRID_JOBS} jobs: {GRID_JOBS} complete"
    ),
    "cat multirun/corpus/paper/summary.csv": Run("run_dir,state,"),
    "python -m stylometry.export multirun/corpus/paper --out exports/paper": Run(
        f"exported {GRID_JOBS} models to exports/paper (the study's card: exports/paper/README.md)"
    ),
    "python -m stylometry.attribute exports/paper corpus/contested/30537.txt --authors baum,thompson "
    "--out attribution/exported": Run(
        "report: attribution/exported/report.md", (("corpus/contested", "../shared/corpus/contested"),)
    ),
    "python -m stylometry.analyze multirun/corpus/paper --out analysis/paper": Run(
        f"{GRID_JOBS} models analysed; report: analysis/paper/report.md"
    ),
    "python -m stylometry.analyze multirun/corpus/paper --out analysis/baselines --baselines": Run(
        f"{GRID_JOBS} models analysed; report: analysis/baselines/report.md"
    ),
    "python -m stylometry.attribute multirun/corpus/paper --held-out --excerpt-tokens 256,1024,4096 "
    "--out attribution/held_out": Run("held-out books, 256-token excerpts: "),
    "python -m stylometry.analyze multirun/corpus/paper --out analysis/excerpts --baselines --attribution "
    "attribution/held_out": Run(f"{GRID_JOBS} models analysed; report: analysis/excerpts/report.md"),
    "python -m stylometry.attribute multirun/corpus/paper corpus/contested/30537.txt --authors baum,thompson "
    "--out attribution/contested": Run(
        "report: attribution/contested/report.md", (("corpus/contested", "../shared/corpus/contested"),)
    ),
    # After the analysis: it compares the variants, and one model of a variant is too few for its t-tests. It
    # trains: a content model of Baum's, beside the study in multirun/corpus/paper (CONTENT_STUDY's data.authors).
    "python -m stylometry.train -m 'author=glob(*)' 'seed=range(10)' variant=content": Run(
        "complete at epoch 1 (step 2): ",
        (("'author=glob(*)'", "author=baum"), ("'seed=range(10)'", "seed=0")),
        (*STUDY, *(o for o in CONTENT_STUDY if o != "variant=content")),
    ),
    # Single runs.
    "python -m stylometry.train experiment=smoke author=baum": Run("complete at epoch 2", append=SINGLE),
    "python -m stylometry.train author=baum seed=0": Run(  # the run above
        "nothing to train", append=("experiment=smoke", *SINGLE)
    ),
    "python -m stylometry.train -m author=baum,thompson seed=0,1 experiment=smoke hydra/launcher=local": NotRun(
        "each job a fresh process (~9 s of imports): tests/test_cli.py runs a sweep of two tiny jobs on this launcher "
        "and checks each job's lines on the terminal",
        "tests/test_cli.py",
        "hydra/launcher=local",
    ),
    # Your own corpus.
    "python -m stylometry.train -m 'author=glob(*)' 'seed=range(3)' data.root=/path/to/mycorpus": Run(
        "3 jobs: 3 complete", (("/path/to/mycorpus", "{mycorpus}"), ("'seed=range(3)'", "seed=0")), TINY
    ),
    "python -m stylometry.train author=alice seed=0 data.root=/path/to/mycorpus": Run(
        "complete at epoch 2", (("/path/to/mycorpus", "{mycorpus}"),), TINY
    ),
    # Any text, and sampling from it.
    "python -m stylometry.train experiment=gpt2_smoke data.root=../shared/corpus/baum data.name=baum": Run(
        expect="complete at epoch"
    ),
    'python -m stylometry.generate outputs/baum/gpt2_smoke/baseline/baum/seed=0 prompt="Dorothy looked at the"': Run(
        expect="Dorothy looked at the"
    ),
    'python -m stylometry.generate outputs/baum/gpt2_smoke/baseline/baum/seed=0 prompt="Ozma said" '
    "checkpoint=latest temperature=0.8 top_k=40 top_p=0.95 seed=1 num_samples=3 format=jsonl": Run(
        expect='{"seed": 3, "text": "Ozma said'
    ),
    # Installing and getting the data.
    "pip install torch==2.13.0": INSTALL,
    'pip install -e ".[analysis]"': INSTALL,
    'pip install -e ".[test,analysis]"': INSTALL,
    'pip install -e ".[tensorboard]"': INSTALL,
    "git clone --depth 1 https://github.com/ContextLab/llm-stylometry": NotRun(
        "downloads the study's repository: the tests read the demo corpus, whose books are its books' openings"
    ),
    "mv llm-stylometry/data/cleaned corpus": NotRun("needs the clone above"),
    "export STYLOMETRY_DATA=$PWD/corpus": ENVIRONMENT,
    'python -m pytest -m "not slow and not slurm"': SUITE,
    "python -m pytest -n 2 --dist loadfile": SUITE,
    # Too big for a test, or needing what a test machine has not.
    "python -m stylometry.train -m 'author=glob(*)' 'seed=range(10)' hydra/launcher=slurm "
    "hydra.launcher.partition=gpu hydra.launcher.account=myproj": NotRun(
        "needs a SLURM cluster with that partition and account: tests/test_slurm.py runs this launcher on a "
        "one-node cluster, tests/test_cli.py its one line off a cluster",
        "tests/test_slurm.py",
        "hydra/launcher=slurm",
    ),
    "python -m stylometry.train experiment=gpt2_small data.root=/path/to/texts data.name=mytexts": NotRun(
        "GPT-2 small for 10,000 steps of 0.5 M tokens: the gpt2_smoke command runs the same path, tiny"
    ),
    "tensorboard --logdir outputs/": NotRun(
        "a server that runs until stopped: tests/test_text_training.py reads the event files it would show",
        "tests/test_text_training.py",
        "tfevents",
    ),
    (
        "torchrun --nproc_per_node 8 -m stylometry.train experiment=gpt2_small data.root=/path/to/texts "
        "data.name=mytexts"
    ): NotRun("8 GPUs: tests/test_ddp.py runs 2 gloo processes on a CPU", "tests/test_ddp.py", "gloo"),
    "python -m stylometry.train -m experiment=gpt2_small data.root=/path/to/texts hydra/launcher=slurm "
    "hydra.launcher.nodes=2 hydra.launcher.tasks_per_node=8 hydra.launcher.gpus_per_node=8": NotRun(
        "a SLURM cluster with 2 nodes of 8 GPUs"
    ),
    (
        "python -m stylometry.train -m experiment=laptop 'author=glob(*)' seed=0 hydra/launcher=joblib "
        "hydra.launcher.n_jobs=2"
    ): NotRun(
        "8 models, about 40 minutes: tests/test_laptop.py runs the preset on two authors with less text",
        "tests/test_laptop.py",
        "experiment=laptop",
    ),
    "python -m stylometry.analyze multirun/corpus/laptop --out analysis/laptop": NotRun(
        "needs the laptop sweep above: tests/test_laptop.py analyzes its scaled-down one",
        "tests/test_laptop.py",
        "stylometry.analyze",
    ),
    "python -m stylometry.bench": NotRun(
        "about 4 minutes: tests/test_bench.py runs the benchmark with a tiny model",
        "tests/test_bench.py",
        "stylometry.bench",
    ),
    "python -m stylometry.bench --no-study-loop --repeats 3": NotRun(
        "minutes: tests/test_bench.py runs the benchmark with a tiny model", "tests/test_bench.py", "stylometry.bench"
    ),
    "python -m stylometry.bench data.batch_size=16 --no-study-loop": NotRun(
        "minutes: tests/test_bench.py runs the benchmark with a tiny model", "tests/test_bench.py", "stylometry.bench"
    ),
    "python -m stylometry.bench device=cuda data.batch_size=16 --no-study-loop": NotRun(
        "needs a CUDA GPU: the GPU check (docs/gpu.md) measures this on one"
    ),
    # Other pages whose commands their own tests run.
    "python -m stylometry.train -m experiment=small 'author=glob(*)' 'seed=range(5)' data.root=/path/to/mycorpus "
    "hydra/launcher=joblib hydra.launcher.n_jobs=2": NotRun(
        "15 models and 5 backgrounds, minutes: tests/test_init.py trains init=background on the small corpus, two jobs "
        "side by side",
        "tests/test_init.py",
        "init=background",
    ),
    "python -m stylometry.train -m init=pretrained init.path=/models/distilgpt2 'author=glob(*)' 'seed=range(3)' "
    "data.root=/path/to/mycorpus model.n_positions=256": NotRun(
        "needs a saved GPT-2 folder: tests/test_init.py saves a tiny one and trains from it",
        "tests/test_init.py",
        "init=pretrained",
    ),
    "python -m stylometry.attribute multirun/mycorpus/small disputed/ --score normalized --baselines "
    "--out attribution/disputed": (
        NotRun(
            "needs a study of your corpus: tests/test_attribute.py runs --score normalized on the tests' study",
            "tests/test_attribute.py",
            "--score",
        )
    ),
    "python -m stylometry.attribute multirun/corpus/laptop ../shared/corpus/contested/30537.txt --authors "
    "baum,thompson --out attribution/contested": ATTRIBUTION,
    "python -m stylometry.attribute multirun/corpus/laptop ../shared/corpus/contested ../shared/corpus/non_oz_baum "
    "'../shared/corpus/non_oz_thompson/*.txt' --out attribution/oz": ATTRIBUTION,
    "python -m stylometry.attribute multirun/corpus/laptop ../shared/corpus/contested/30537.txt --excerpt-tokens "
    "64,256,1024 --out attribution/excerpts": ATTRIBUTION,
    "python -m stylometry.attribute multirun/corpus/laptop --held-out --excerpt-tokens 64,256,1024,4096 "
    "--out attribution/held_out": ATTRIBUTION,
    "python -m stylometry.attribute multirun/corpus/laptop ../shared/corpus/contested/30537.txt --score normalized "
    "--out attribution/normalized": ATTRIBUTION,
    "python -m stylometry.attribute multirun/corpus/laptop ../shared/corpus/contested/30537.txt --authors "
    "baum,thompson --rolling --out attribution/rolling": ATTRIBUTION,
    "python -m stylometry.attribute multirun/corpus/small --held-out --excerpt-tokens 256,1024,4096 --max-tokens "
    "32768 --out attribution/open_set": ATTRIBUTION,
    "python -m stylometry.attribute multirun/corpus/small --held-out --rolling --max-tokens 8192 --closed-set "
    "--no-figures --out attribution/rolling_check": ATTRIBUTION,
    "python -m stylometry.attribute multirun/corpus/small ../shared/corpus/contested/30537.txt --max-tokens all "
    "--closed-set --no-trust --no-figures --jobs 2 --rolling --out attribution/cost_rolling": ATTRIBUTION,
    **ATTRIBUTION_PAGE,
    "python -m stylometry.train -m experiment=laptop author=baum,thompson seed=0,1,2 stop_criteria.max_epochs=1 "
    "data.n_train_tokens=131072 'data.authors=[baum,thompson]' hydra/launcher=joblib "
    "hydra.launcher.n_jobs=2": NotRun(
        "6 laptop models, 16 minutes: tests/test_attribute.py plans it (status --plan) and runs the page's other "
        "commands on the tests' study, a tiny sweep of the same kind",
        "tests/test_attribute.py",
        "test_the_docs_training_command_plans_the_sweep_it_describes",
    ),
    "python -m stylometry.analyze multirun/corpus/paper path/to/llm-stylometry/models "
    "--out analysis/ours_vs_study": STUDY_LOGS,
    "python -m stylometry.analyze path/to/llm-stylometry/models --out analysis/study "
    "--fairness-cut --bands ci95": STUDY_LOGS,
    "python -m stylometry.bench --gpu-check": GPU_CHECK,
    "python -m stylometry.bench --gpu-check device=cpu model=tiny model.n_positions=32 data.n_train_tokens=1024 "
    "data.eval_max_tokens=256 data.batch_size=4 data.eval_batch_size=4 --repeats 1 --warmup 1 --steps 1 "
    "--eval-steps 1 --min-seconds 0 --max-batch 16 --grid-seeds 1 --jobs-per-gpu 1,2 --budget 1500": GPU_CHECK,
    "bash .ci/gpu-check --prepare": GPU_CHECK,
    "bash .ci/gpu-check": GPU_CHECK,
}


def docs_commands() -> dict[str, list[str]]:
    """Each command of the ```bash blocks of the pages (continuation lines joined, comments dropped): its pages."""
    found: dict[str, list[str]] = {}
    for page in PAGES:
        for block in re.findall(r"^```bash\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                command = re.sub(r"\s+", " ", re.sub(r"\s+#\s.*$", "", line)).strip()
                if command and not command.startswith("#"):
                    found.setdefault(command, []).append(page.name)
    return found


def test_every_command_of_the_docs_is_run_or_says_why_not():
    shown = docs_commands()
    assert sorted(set(shown) - set(COMMANDS)) == [], "commands in the docs that this test neither runs nor lists"
    assert sorted(set(COMMANDS) - set(shown)) == [], "listed commands that no page shows any more"
    for command, how in COMMANDS.items():
        if isinstance(how, NotRun) and how.test:
            assert how.mentions in (REPO / how.test).read_text(), f"{how.test} runs {command!r} no more"
        if isinstance(how, Run):
            assert how.expect.strip(), f"{command}: say what its output shows"
            for old, _ in how.replace:
                assert old in command, f"{command}: nothing to replace for {old!r}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, token_cache):
    """A scratch folder beside `shared` (the pages' ../shared/corpus and ../shared/tokenizers/gpt2: links to the
    tests' corpus and tokenizer), with a corpus of three authors for the pages' /path/to/mycorpus (conftest's small
    corpus), and the environment the README sets up."""
    root = tmp_path_factory.mktemp("docs")
    (root / "shared" / "tokenizers").mkdir(parents=True)
    (root / "shared" / "corpus").symlink_to(CORPUS)
    (root / "shared" / "tokenizers" / "gpt2").symlink_to(TOKENIZER)
    cwd = root / "repo"
    cwd.mkdir()
    mycorpus = build_small_corpus(root / "mycorpus")
    env = {
        "STYLOMETRY_DATA": root / "shared" / "corpus",
        "STYLOMETRY_TOKENIZER": root / "shared" / "tokenizers" / "gpt2",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return cwd, env, {"mycorpus": str(mycorpus)}, token_cache


def run_docs_command(workspace, command: str, how: Run) -> subprocess.CompletedProcess:
    cwd, env, names, cache = workspace
    env = {**env, **dict.fromkeys(how.unset)}  # None: removed (conftest's command_env)
    for old, new in how.replace:
        command = command.replace(old, new.format(**names))
    trains = command.startswith("python -m stylometry.train") and not re.search(r" --(cfg|help)\b", command)
    extra = [*how.append, f"data.cache_dir={cache}"] if trains else []
    line = " ".join([command, *extra])
    # A plain `python -m stylometry.<command>` is run as conftest runs one (forked by its command server: seconds
    # faster). One with anything bash would expand or redirect outside single quotes is run by bash (an unquoted
    # `[...]`, as in data.authors=[baum,thompson], bash leaves as it is unless a file of the cwd matches it).
    if line.startswith("python -m stylometry.") and not re.search(r"[|;&<>$`*?{}~\\]", re.sub(r"'[^']*'", "", line)):
        _, _, module, *args = shlex.split(line)
        result = run_command(module, *args, cwd=cwd, env=env)
    else:
        result = run_command(["bash", "-c", line], cwd=cwd, env=env)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert how.expect in result.stdout, f"{command}: {how.expect!r} not in\n{result.stdout[-3000:]}"
    return result


def test_the_commands_that_train_nothing_run(workspace):
    for command, how in COMMANDS.items():
        if isinstance(how, Run) and not how.slow:
            run_docs_command(workspace, command, how)


@pytest.mark.slow
def test_the_commands_that_train_run_with_a_tiny_model(workspace, study):
    """In the table's order: the grid first (the tests' study, copied where the docs' sweep writes it), then the
    commands that read it."""
    copy_study(study, workspace[0] / "multirun" / "corpus" / "paper")
    for command, how in COMMANDS.items():
        if isinstance(how, Run) and how.slow:
            run_docs_command(workspace, command, how)
    assert (workspace[0] / "analysis" / "paper" / "report.md").is_file()


def test_the_config_page_lists_every_group_and_option_of_conf():
    rows = {
        cells[1].strip("` "): cells[2]
        for cells in (
            line.split("|") for line in (REPO / "docs" / "config.md").read_text().splitlines() if line.startswith("| `")
        )
    }
    for group in sorted(path for path in (REPO / "conf").iterdir() if path.is_dir() and path.name != "hydra"):
        assert group.name in rows, f"docs/config.md has no row for the group {group.name}"
        if group.name != "author":  # the corpus's folders
            for option in sorted(path.stem for path in group.glob("*.yaml")):
                assert f"`{option}`" in rows[group.name], f"docs/config.md: {group.name} has no option {option}"


def test_the_readme_links_every_docs_page():
    readme = (REPO / "README.md").read_text()
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"
