"""What the test files share: the corpus and tokenizer beside the repo, one token cache and one trained study for the
whole session (built once, however many xdist workers ask), a small corpus of your own, composed configs, one way to
run a command as a user runs it, and the hand-built sweep whose answers are worked out by hand.

No test file imports another: what two of them need lives here.
"""

import csv
import fcntl
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from command_server import Server
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from scipy import stats as scipy_stats

from stylometry.config.schema import BUNDLED_TOKENIZER, DEMO_CORPUS, register_configs, to_run_config

REPO = Path(__file__).resolve().parents[1]
# The corpus the tests read: the demo corpus bundled with the package (stylometry/data/bundled/README.md), copied
# (pytest_sessionstart) to a folder named `corpus`, as the README has a user put the study's corpus: a study on it
# is named `corpus` (multirun/corpus/paper), as the docs' commands name theirs. The tokenizer: the bundled GPT-2.
CORPUS = Path(tempfile.gettempdir()) / f"stylometry-tests-{os.getuid()}" / "corpus"
TOKENIZER = Path(BUNDLED_TOKENIZER)
# What cannot ship with the package (the study's books whole, NLTK's tagger data, the study's published variant
# samples): a folder holding corpus/, nltk_data/ and corpus-variants-sample/, named by STYLOMETRY_TEST_SHARED (.ci/run
# sets it to ../shared); the tests that need it say so and skip where it is not set (shared_data).
SHARED_VARIABLE = "STYLOMETRY_TEST_SHARED"
# The study's authors (the corpus's author folders) and the extra evaluation texts of Baum's and Thompson's models.
AUTHORS = ("austen", "baum", "dickens", "fitzgerald", "melville", "thompson", "twain", "wells")
EXTRA_SETS = ("contested", "non_oz_baum", "non_oz_thompson")

# A model and budget that train in about a second per epoch on a CPU, on real text: 16 windows of 32 tokens, 2 steps
# of 8 an epoch (a step costs about 0.2 s on one core: the 50,257-wide output layer).
TINY_TRAIN_TOKENS = 512
TINY = [
    "experiment=smoke",
    "model.n_positions=32",
    f"data.n_train_tokens={TINY_TRAIN_TOKENS}",
    "data.eval_max_tokens=256",
    "stop_criteria.max_epochs=2",
    "device=cpu",
]

# The study every test that needs trained models reads (the `study` fixture): 3 authors x 2 seeds of the tiny model,
# trained once per session. A model learns from 2 steps only (what it learns does not matter here), but its training
# text is 32,768 tokens long (the demo corpus's Austen holds 40,035 without its longest book), which is what the
# classical baselines learn from, and each text is scored on its first STUDY_EVAL_TOKENS tokens. Scoring is what
# costs, in training and in every `attribute` run (0.25-0.5 ms a token on one core: the 50,257-wide output layer), so
# each 512 tokens more would cost seconds per test.
# Its sweep dir is named as the docs' (multirun/corpus/paper, experiment_name=paper) so tests/test_docs.py runs the
# docs' commands on a copy of it.
STUDY_AUTHORS = ("austen", "baum", "thompson")
STUDY_SEEDS = (0, 1)
STUDY_EVAL_TOKENS = 512
STUDY = [
    "experiment=smoke",
    "experiment_name=paper",
    "model.n_positions=32",
    "data.n_train_tokens=32768",
    f"data.eval_max_tokens={STUDY_EVAL_TOKENS}",
    f"data.authors=[{','.join(STUDY_AUTHORS)}]",
    "stop_criteria.max_steps=2",
    "cadence.eval_at_start=false",
    "device=cpu",
]
STUDY_GRID = [f"author={','.join(STUDY_AUTHORS)}", f"seed={','.join(map(str, STUDY_SEEDS))}"]
# The study's settings for a content-only variant of the Oz authors (tests/test_attribute.py and test_docs.py train
# one each): the masked books are tokenized once for the session, as each is cached.
CONTENT_STUDY = ["variant=content", "data.authors=[baum,thompson]"]

# The small corpus of your own (small_corpus): three authors of three real books each (their first 12 kB), under
# names no test of the study uses. Every job on it trains in seconds.
SMALL_CORPUS = {
    "alice": ["austen/105.txt", "austen/121.txt", "austen/141.txt"],
    "bob": ["twain/74.txt", "twain/76.txt", "twain/86.txt"],
    "carol": ["wells/35.txt", "wells/36.txt", "wells/5230.txt"],
}
SMALL_BOOK_BYTES = 12_000

# A sweep's jobs two at a time in joblib's workers, as the docs' joblib commands run them (each worker costs ~9 s of
# imports: tests whose subject is not the launcher run their jobs in turn instead).
JOBLIB = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")

# Fixtures that start training processes: a test that uses one is marked slow (checked at collection).
TRAINING_FIXTURES = {"study", "impostor_study"}


def pytest_configure(config):
    # pytest-xdist (3.6 and later) hands out the files in order of their number of tests unless told not to: the
    # order below (pytest_collection_modifyitems) is the one that keeps both workers busy to the end.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
    pin_to_a_share_of_the_cores()


def pin_to_a_share_of_the_cores() -> None:
    """An xdist worker keeps to its share of the cores (CI: 2 workers on 2 cores, one each), and so does every
    process it starts: a job's torch takes the cores it may use (stylometry.hardware.device.usable_cores), so two
    workers' jobs never run 2 x 2 threads on 2 cores, where oversubscribed BLAS threads crawl. Without xdist, or
    with more workers than cores, nothing changes."""
    worker, workers = os.environ.get("PYTEST_XDIST_WORKER"), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if workers > len(cores):
        return
    share = cores[int(worker.removeprefix("gw")) :: workers]
    os.sched_setaffinity(0, share)
    if "torch" in sys.modules:  # torch sized its thread pool when it was imported
        sys.modules["torch"].set_num_threads(len(share))


def pytest_sessionstart(session):
    copy_demo_corpus()
    register_configs()


def copy_demo_corpus() -> None:
    """CORPUS: the bundled demo corpus's copy, made by the first process of the session to get the lock, and made
    again where it differs from the package's (a book's name or size)."""

    def listing(root: Path) -> list:
        return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*.txt"))

    CORPUS.parent.mkdir(parents=True, exist_ok=True)
    with open(CORPUS.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if CORPUS.is_dir() and listing(CORPUS) == listing(DEMO_CORPUS):
            return
        shutil.rmtree(CORPUS, ignore_errors=True)
        partial = CORPUS.with_name("corpus.partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(DEMO_CORPUS, partial, ignore=shutil.ignore_patterns("README.md"))
        partial.rename(CORPUS)


def shared_data(relative: str) -> Path:
    """A path under STYLOMETRY_TEST_SHARED (corpus, nltk_data, corpus-variants-sample): the test skips, saying what it
    needs, where the variable is not set; a variable set to a folder without it fails."""
    root = os.environ.get(SHARED_VARIABLE)
    if not root:
        pytest.skip(
            f"needs {relative} of the data that does not ship (the study's books whole, NLTK's tagger, the "
            f"study's variant samples): set {SHARED_VARIABLE} to the folder holding it"
        )
    path = Path(root) / relative
    assert path.exists(), f"{SHARED_VARIABLE}={root} has no {relative}"
    return path


# The longest files, longest first (measured with --durations on 2 cores: 1-3 minutes each; test_bench.py's dry run
# of the GPU check on the CPU alone takes minutes): with CI's two workers (`-n 2 --dist loadfile`, a file whole on one
# worker, the next file to whichever is free) the long ones start at once and the short ones fill in at the end.
# test_attribute.py trains the study (the `study` fixture) while test_bench.py runs on the other worker; the other
# files that read the study come after, and find it trained.
LONGEST_FIRST = (
    "test_attribute.py",
    "test_bench.py",
    "test_docs.py",
    "test_faults.py",
    "test_slurm.py",
    "test_text_training.py",
    "test_corpus.py",
    "test_cli.py",
    "test_laptop.py",
    "test_sweep.py",
)


def pytest_collection_modifyitems(items):
    """The files in LONGEST_FIRST's order, then the other files with `slow` tests, then the rest, each file's tests
    in their order. A test that uses a fixture that trains (TRAINING_FIXTURES) and is not marked slow is a collection
    error: the laptop suite (`-m "not slow and not slurm"`) starts no training process."""
    for item in items:
        trains = sorted(TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())))
        if trains and not item.get_closest_marker("slow"):
            raise pytest.UsageError(f"{item.nodeid} uses {', '.join(trains)}, which trains: mark it slow")
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item):
        if item.path.name in LONGEST_FIRST:
            return LONGEST_FIRST.index(item.path.name)
        return len(LONGEST_FIRST) + (item.path not in slow_files)

    items.sort(key=rank)  # a stable sort: no file is split


# ---- running a command as a user does ---------------------------------------------------------------


def command_env(env: dict | None = None) -> dict:
    """The environment the README has a user set (the corpus and tokenizer in STYLOMETRY_DATA and
    STYLOMETRY_TOKENIZER), with this checkout's package first (PYTHONPATH), whichever copy an editable install points
    at; then `env`'s changes, where None removes a variable."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "STYLOMETRY_DATA": str(CORPUS),
        "STYLOMETRY_TOKENIZER": str(TOKENIZER),
    }
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = str(value)
    return environment


def start_command(
    command, *args, cwd=REPO, env: dict | None = None, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen
):
    """Starts `python -m <command> <args>` (command: a module, e.g. "stylometry.train"; or a list, run as it is,
    e.g. ["bash", ".ci/gpu-check"]) in `cwd` with command_env(env); stdout and stderr piped, or as given (stderr
    subprocess.STDOUT: into stdout; a file), text. Returns the Popen."""
    environment = command_env(env)
    if isinstance(command, str) and set(popen) <= {"start_new_session"}:
        server = command_server()
        if server.serves(environment):
            new_session = popen.get("start_new_session", False)
            forked = server.start(command, list(map(str, args)), cwd, environment, stdout, stderr, new_session)
            if forked is not None:
                return forked
    argv = [sys.executable, "-m", command] if isinstance(command, str) else list(command)
    # Ctrl-C as at a terminal (as the server's forks have it): a suite started in the background by a
    # non-interactive shell (`nohup ... &`) has SIGINT ignored, and every process it starts would inherit that.
    popen.setdefault("preexec_fn", lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return subprocess.Popen(
        [*argv, *map(str, args)], cwd=cwd, env=environment, stdout=stdout, stderr=stderr, text=True, **popen
    )


_server: list[Server] = []  # this test process's command server, once a command has started it


def command_server() -> Server:
    """This test process's command server (tests/command_server.py): `python -m stylometry.<command>` forked from a
    process that has imported torch, transformers and the rest, without a fresh interpreter's seconds of imports."""
    if not _server:
        _server.append(Server(tempfile.mkdtemp(prefix="stylometry-commands-"), command_env(), str(REPO)))
    return _server[0]


def run_command(command, *args, timeout: float = 600, **options) -> subprocess.CompletedProcess:
    """start_command(command, *args, **options), waited for: exit code, stdout and stderr. Killed at `timeout`."""
    process = start_command(command, *args, **options)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"{command} {' '.join(map(str, args))} ran over {timeout} s:\n{stdout}\n{stderr}"
        ) from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def attribute(*args, capsys=None) -> tuple:
    """`python -m stylometry.attribute <args>` run in this process (its models read in one go, no fresh interpreter):
    (exit code, stdout, stderr), the output as capsys caught it (empty without capsys)."""
    from stylometry.attribute import main

    code = main([str(arg) for arg in args])
    out = capsys.readouterr() if capsys else None
    return code, (out.out if out else ""), (out.err if out else "")


def fake_run(run_dir: Path, state: str, epoch: int = 3, reason: str | None = None) -> Path:
    """A run dir of no weights whose status.json says `state`, written by the trainer's own writers (what `status`
    reads): its author and seed are the dir's (<author>/seed=<seed>), a failed run's reason its error's line."""
    from stylometry.runs.status import FAILED, write_failed_status, write_status

    run_dir.mkdir(parents=True)
    job = {
        "study": "corpus",
        "experiment": "paper",
        "variant": "baseline",
        "author": run_dir.parent.name,
        "seed": int(run_dir.name.removeprefix("seed=")),
        "corpus_sha256": "0" * 64,
        "config_sha256": "0" * 64,
    }
    if state == FAILED:
        write_failed_status(run_dir, RuntimeError(reason), job)
    else:
        write_status(
            run_dir,
            state,
            job,
            epoch=epoch,
            step=epoch,
            max_epochs=epoch,
            max_steps=None,
            rows=[],
            eta_s=None,
            device="cpu",
            precision="fp32",
            reason=reason,
        )
    return run_dir


def assert_one_error_line(result: subprocess.CompletedProcess, expected: str, exact: bool = True) -> None:
    """A command refused as a user must see it: exit code 2, nothing on stdout, no traceback, and one `error: ` line
    on stderr, its last (a command's log lines may come before it): `error: <expected>` (exact) or holding it."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.splitlines()[-1] == errors[0], result.stderr
    assert errors[0] == f"error: {expected}" if exact else expected in errors[0], errors[0]


def kill_when(process: subprocess.Popen, condition, timeout: float = 300) -> None:
    """SIGKILL the process once condition() holds (polled every 2 ms); it must still be running then."""
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, f"finished before the kill point:\n{process.stdout.read()}"
        assert time.time() < deadline, "kill point never reached"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()


def metrics_has_epoch(run_dir: Path, epoch: int) -> bool:
    path = run_dir / "metrics.csv"
    return path.exists() and any(line.startswith(f"{epoch},") for line in path.read_text().splitlines())


def metrics(run_dir: Path) -> list:
    """metrics.csv's rows as (epoch, dataset, loss): the epoch a number, the loss as written (read by hand, not by
    stylometry/runs/metrics.py, so the writer's file is checked, cut rows included)."""
    with open(run_dir / "metrics.csv", newline="") as f:
        return [(int(r["epoch"]), r["dataset"], r["loss"]) for r in csv.DictReader(f)]


def weights(checkpoint: Path) -> dict:
    """A checkpoint folder's weights: name -> tensor."""
    from safetensors.torch import load_file

    return load_file(checkpoint / "model.safetensors")


def same_weights(a: dict, b: dict, atol: float = 0.0) -> bool:
    """The same tensors under the same names (a name missing from either is a difference); equal bit for bit, or
    within atol."""
    import torch

    if a.keys() != b.keys():
        return False
    if atol == 0.0:
        return all(torch.equal(a[name], b[name]) for name in a)
    return all(torch.allclose(a[name], b[name], rtol=0.0, atol=atol) for name in a)


# ---- data-parallel training (tests/test_ddp.py on gloo, tests/test_cuda.py on nccl) ------------------
# Two books of Baum's, the gpt2_smoke path; no dropout, so both runs draw nothing at random but the windows.
DDP_RUN = [
    "experiment=gpt2_smoke",
    f"data.root={CORPUS / 'baum'}",
    "data.files=[22566.txt,26624.txt]",
    "data.name=baum",
    "device=cpu",
    "stop_criteria.max_steps=4",
    "cadence.eval_every_steps=2",
    "cadence.checkpoint_every_steps=2",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_worker(rank, world_size, port, cfg, run_dir):
    """One process of a data-parallel job (torch.multiprocessing.spawn's target), as torchrun would start it."""
    from stylometry.hardware.distributed import World, process_group, world_from_env
    from stylometry.training.loop import train

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world_size),
    )
    world = world_from_env()
    assert world == World(rank=rank, size=world_size, local_rank=rank, local_size=world_size)
    with process_group(cfg.device, world) as placement:
        assert train(cfg, run_dir, placement, world) == "complete"


def scalars_by_step(run_dir: Path) -> dict:
    """scalars.csv as {(step, name): value}."""
    with open(run_dir / "scalars.csv", newline="") as f:
        return {(int(r["step"]), r["name"]): float(r["value"]) for r in csv.DictReader(f)}


# ---- what the session shares ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory) -> Path:
    """A folder of this session that every xdist worker shares: the parent of the workers' own base temp dirs
    (pytest-<n>/), or pytest's base temp dir without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(root: Path, name: str, build) -> Path:
    """root/name, made by build(path) once per session: the first worker to ask builds it under a file lock while
    the others wait; after a build that failed, the next to ask tries again."""
    path, built = root / name, root / f"{name}.built"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not built.exists():
            shutil.rmtree(path, ignore_errors=True)
            build(path)
            built.touch()
    return path


@pytest.fixture(scope="session")
def token_cache(session_dir) -> Path:
    """Tokenized books, shared by every test and worker of the session: each entry is written whole (a temporary
    file renamed), so jobs that build the same one at once are safe, as on a machine's shared cache."""
    path = session_dir / "token_cache"
    path.mkdir(exist_ok=True)
    return path


def train_study(sweep_dir: Path, token_cache: Path, *overrides: str, settings=tuple(STUDY)) -> Path:
    """`python -m stylometry.train -m <settings: STUDY> <overrides>` into sweep_dir, the jobs in turn (Hydra's basic
    launcher), corpus and tokenizer from the environment as a user sets them."""
    result = run_command(
        "stylometry.train",
        "-m",
        *settings,
        *overrides,
        f"hydra.sweep.dir={sweep_dir}",
        f"data.cache_dir={token_cache}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return sweep_dir


@pytest.fixture(scope="session")
def study(session_dir, token_cache) -> Path:
    """The sweep dir of the trained study (STUDY: STUDY_AUTHORS x STUDY_SEEDS, complete), trained once per session.
    Read it, never write into it: copy_study gives a copy to change."""
    return build_once(session_dir, "study", lambda path: train_study(path, token_cache, *STUDY_GRID))


# Another study's writers, trained by the study's recipe (STUDY but its authors), at its seeds: --impostors' reference.
IMPOSTOR_AUTHORS = ("dickens", "twain")


@pytest.fixture(scope="session")
def impostor_study(session_dir, token_cache) -> Path:
    """The sweep dir of IMPOSTOR_AUTHORS x STUDY_SEEDS, trained as the study was, once per session. Read it only."""
    settings = [o for o in STUDY if not o.startswith("data.authors=")]
    grid = [f"data.authors=[{','.join(IMPOSTOR_AUTHORS)}]", f"author={','.join(IMPOSTOR_AUTHORS)}", STUDY_GRID[1]]
    return build_once(
        session_dir, "impostor_study", lambda path: train_study(path, token_cache, *grid, settings=settings)
    )


def copy_study(study: Path, to: Path) -> Path:
    """A copy of a study (or of one run dir) to change, without the trainer's lock files."""
    shutil.copytree(study, to, ignore=shutil.ignore_patterns("*.lock", ".lock"))
    return to


def run_dirs(study: Path) -> dict:
    """(author, seed) -> run dir of each run below `study`, found from its status.json (the layout is not assumed)."""
    found = {}
    for status in study.rglob("status.json"):
        content = json.loads(status.read_text())
        found[content["author"], content["seed"]] = status.parent
    return found


def build_small_corpus(root: Path, authors=tuple(SMALL_CORPUS)) -> Path:
    """SMALL_CORPUS (or these of its authors) at root: root/<author>/book<i>.txt, each the first SMALL_BOOK_BYTES of
    a real book."""
    for author in authors:
        books = SMALL_CORPUS[author]
        (root / author).mkdir(parents=True)
        for i, book in enumerate(books):
            (root / author / f"book{i}.txt").write_bytes((CORPUS / book).read_bytes()[:SMALL_BOOK_BYTES])
    return root


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """A corpus of your own, the test's to change: three authors (alice, bob, carol) of three short real books."""
    return build_small_corpus(tmp_path / "mycorpus")


# ---- composed configs -------------------------------------------------------------------------------


@pytest.fixture
def make_config(token_cache):
    """compose(overrides) -> typed TrainConfig over the shared corpus, as `python -m stylometry.train` builds it."""

    def make(*overrides, typed=True):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            cfg = compose(
                "train",
                overrides=[
                    f"data.root={CORPUS}",
                    f"data.tokenizer={TOKENIZER}",
                    f"data.cache_dir={token_cache}",
                    *overrides,
                ],
            )
        GlobalHydra.instance().clear()
        return to_run_config(cfg) if typed else cfg

    return make


@pytest.fixture
def run_train(token_cache):
    """Runs `python -m stylometry.train <args>` as a user would (run_command), with the session's token cache."""

    def run(*args, timeout=300):
        return run_command("stylometry.train", *args, f"data.cache_dir={token_cache}", timeout=timeout)

    return run


# ---- a hand-built sweep, and statistics by hand -------------------------------------------------------
# Three authors x three seeds, evaluated at epochs 0, 1 and 2 (the final epoch). FINAL[author][seed]
# is that model's final loss on each author's book; the Oz authors' models also see three extra sets.
FINAL = {
    "austen": [
        {"austen": 2, "baum": 5, "thompson": 5},
        {"austen": 3, "baum": 6, "thompson": 6},
        {"austen": 4, "baum": 7, "thompson": 7},
    ],
    "baum": [{"austen": 6, "baum": 1, "thompson": 2}] * 3,
    # seed 2's Thompson model predicts Thompson's book worse (8) than the Baum model does (2):
    # the one misattributed book.
    "thompson": [
        {"austen": 7, "baum": 3, "thompson": 1.5},
        {"austen": 7, "baum": 3, "thompson": 1.5},
        {"austen": 7, "baum": 3, "thompson": 8},
    ],
}
EXTRA = {  # final losses per seed on the extra sets
    "baum": {"contested": [6.0, 6.2, 6.4], "non_oz_baum": [4.0, 4.2, 4.4], "non_oz_thompson": [7.0, 7.0, 7.1]},
    "thompson": {"contested": [5.0, 5.1, 5.2], "non_oz_baum": [4.5, 4.6, 4.7], "non_oz_thompson": [6.0, 6.1, 6.3]},
}
UNTRAINED = 10.0  # every loss at epoch 0


def final_losses(author: str, seed: int) -> dict[str, float]:
    """Seeds past 2 repeat seeds 0-2 (seed % 3)."""
    losses = dict(FINAL[author][seed % 3])
    losses.update({name: values[seed % 3] for name, values in EXTRA.get(author, {}).items()})
    return losses


def write_job(
    root: Path,
    author: str,
    seed: int,
    epochs=(0, 1, 2),
    variant="baseline",
    experiment="paper",
    state="complete",
    offset=0.0,
    status=True,
    recorded: dict | None = None,
) -> Path:
    """A run dir as the trainer writes it (its metrics.csv and status.json by the trainer's writers): epoch 0
    untrained, epoch 1 = final + 1, then the final losses. recorded: the identity's other keys (study, corpus_sha256,
    config_sha256), those left out not recorded, as in runs older than them."""
    from stylometry.runs.metrics import TRAIN, MetricRow, append_metrics
    from stylometry.runs.status import write_status

    job = root / experiment / variant / author / f"seed={seed}"
    job.mkdir(parents=True)
    rows = []
    for epoch in epochs:
        if epoch > 0:
            rows.append(MetricRow.of(epoch, TRAIN, 3.0 + 2.0 / epoch, 1000, epoch * 1.5))
        for name, loss in final_losses(author, seed).items():
            value = UNTRAINED if epoch == 0 else loss + offset + (1.0 if epoch == 1 else 0.0)
            rows.append(MetricRow.of(epoch, name, value, 1000, epoch * 1.5))
    append_metrics(job, rows)
    if status:
        identity = {"experiment": experiment, "variant": variant, "author": author, "seed": seed, **(recorded or {})}
        last = [row for row in rows if row.epoch == max(epochs)]
        write_status(
            job,
            state,
            identity,
            epoch=max(epochs),
            step=max(epochs),
            max_epochs=max(epochs),
            max_steps=None,
            rows=last,
            eta_s=None,
            device="cpu",
            precision="fp32",
        )
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
    df = se2**2 / ((var_a / n_a) ** 2 / (n_a - 1) + (var_b / n_b) ** 2 / (n_b - 1))
    return t, df, 2 * scipy_stats.t.sf(abs(t), df)


def by_hand_paired_t(a, b):
    """The paired t-test from its textbook formulas (a vs b, pairs in order): t and its two-sided p."""
    differences = [x - y for x, y in zip(a, b)]
    n = len(differences)
    mean = sum(differences) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    t = mean / (sd / math.sqrt(n))
    return t, 2 * scipy_stats.t.sf(abs(t), n - 1)
