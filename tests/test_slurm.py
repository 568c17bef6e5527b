"""Sweeps on a real SLURM cluster: the grid as one array job (its authors started from their seeds' backgrounds),
and a requeued job that resumes.

    bash tests/slurm/start-slurm.sh && python -m pytest tests/test_slurm.py   # as root

The cluster is the one-node SLURM of tests/slurm/ (its README lists the pitfalls these tests
step around). If `sinfo` does not answer, the `slurm` fixture starts it with start-slurm.sh and
stops it afterwards with stop-slurm.sh; a machine where the daemons cannot start fails here with
the reason. Jobs run 2 at a time on 2 cores, on a model and budget that train in seconds.
"""

import csv
import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO, run_command, start_command

SLURM_RECIPE = REPO / "tests" / "slurm"  # the one-node cluster (its README.md: what it installs, the pitfalls)

# About 1.5 s an epoch on one core; two authors' held-out books instead of eight keep tokenizing short.
TINY = [
    "experiment=smoke",
    "model.n_positions=32",
    "data.n_train_tokens=1024",
    "data.eval_max_tokens=256",
    "data.authors=[baum,thompson]",
    "device=cpu",
    "device.num_threads=1",  # no cgroups here: a one-CPU job would otherwise take both cores
]

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _sinfo(fmt: str) -> str:
    try:
        result = subprocess.run(["sinfo", "-h", "-o", fmt], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def _node_ready() -> bool:
    return any(state in _sinfo("%T") for state in ("idle", "mixed", "allocated"))


@pytest.fixture(scope="session")
def slurm():
    """The local cluster: the node's GPU count (fake GPUs, see the recipe), started here if it is not running."""
    started = False
    if not _node_ready():
        start = SLURM_RECIPE / "start-slurm.sh"
        if not start.is_file():
            pytest.fail(f"no SLURM answers (sinfo) and there is no {start} to start one", pytrace=False)
        if os.geteuid() != 0:
            pytest.fail(f"no SLURM answers (sinfo); starting one with {start} needs root", pytrace=False)
        # Two fake GPUs, so that jobs ask for the launcher's default of one GPU each and two run at once.
        env = {**os.environ, "SLURM_GPUS": os.environ.get("SLURM_GPUS", "2")}
        try:
            result = subprocess.run(["bash", str(start)], env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{start} did not finish in 15 minutes", pytrace=False)
        started = True
        if result.returncode != 0 or not _node_ready():
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
            _stop_slurm()
            pytest.fail(f"the SLURM daemons did not start ({start}, exit {result.returncode}):\n{tail}", pytrace=False)
    gres = _sinfo("%G")  # "gpu:2" with fake GPUs, "(null)" without
    match = re.search(r"gpu(?::[^:,(]+)?:(\d+)", gres)
    yield int(match.group(1)) if match else 0
    if started:
        _stop_slurm()


def _stop_slurm():
    subprocess.run(["bash", str(SLURM_RECIPE / "stop-slurm.sh")], capture_output=True, text=True, timeout=300)


def slurm_launcher(num_gpus: int):
    """`hydra/launcher=slurm`, fitted to a 2-CPU node (a job asks for 4 CPUs and 1 GPU by default)."""
    overrides = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1"]
    if not num_gpus:
        overrides.append("hydra.launcher.gpus_per_node=null")  # the node has no (fake) GPUs: sbatch would refuse
    return overrides


def sweep_args(sweep_dir: Path, token_cache: Path, num_gpus: int, *overrides):
    """The arguments of `python -m stylometry.train -m` for a tiny sweep on the cluster."""
    return [
        "-m",
        *TINY,
        *slurm_launcher(num_gpus),
        f"hydra.sweep.dir={sweep_dir}",
        f"data.cache_dir={token_cache}",
        *overrides,
    ]


def slurm_jobs(sweep_dir: Path):
    """SLURM ids of this sweep's jobs, from submitit's folders: "<array>_<task>" (or "<id>" for a one-job sweep)."""
    folder = sweep_dir / ".submitit"
    return sorted(p.name for p in folder.glob("*") if (p / f"{p.name}_submitted.pkl").exists())


def cancel(sweep_dir: Path):
    """Cancels this sweep's jobs, whatever the test's outcome (a no-op for finished ones)."""
    ids = [p.name for p in (sweep_dir / ".submitit").glob("*") if re.fullmatch(r"\d+(_\d+)?", p.name)]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)


def assert_metrics_continuous(run_dir: Path, max_epochs: int):
    """Each (epoch, dataset) once; train rows for epochs 1..max, evaluation rows for 0..max, none missing."""
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    counts = Counter((int(row["epoch"]), row["dataset"]) for row in rows)
    assert [key for key, n in counts.items() if n > 1] == [], f"duplicated rows in {run_dir}/metrics.csv"
    epochs = {}
    for epoch, dataset in counts:
        epochs.setdefault(dataset, set()).add(epoch)
    assert epochs.pop("train") == set(range(1, max_epochs + 1))
    assert {"baum", "thompson"} <= set(epochs)
    for dataset, seen in epochs.items():
        assert seen == set(range(0, max_epochs + 1)), f"{dataset}: epochs {sorted(seen)}"


def submitit_log(sweep_dir: Path, task_id: str) -> str:
    """What submitit logged for one array task, all its attempts (sbatch --open-mode=append)."""
    folder = sweep_dir / ".submitit" / task_id
    return "".join((folder / f"{task_id}_0_log.{kind}").read_text() for kind in ("out", "err"))


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def wait_for(what: str, condition, process: subprocess.Popen, timeout: float, poll: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        if process.poll() is not None:
            out, _ = process.communicate()
            pytest.fail(f"the sweep ended before {what}:\n{out[-3000:]}")
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_the_grid_runs_as_one_array_and_each_seeds_authors_start_from_its_background_trained_once(
    slurm, token_cache, tmp_path
):
    """The grid as one array of 4 author tasks, init=background: each seed's first task trains the seed's background,
    the other waits for it; every job completes in its own dir, starting from its seed's background's final weights
    (its untrained evaluation is the background's last one). One sweep for both: each SLURM task is a fresh
    interpreter (~9 s of imports)."""
    sweep_dir = tmp_path / "sweep"
    grid = ["init=background", "author=baum,thompson", "seed=0,1", "stop_criteria.max_epochs=2"]
    args = sweep_args(sweep_dir, token_cache, slurm, *grid)
    try:
        result = run_command("stylometry.train", *args, timeout=240)
    finally:
        cancel(sweep_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    for seed in [0, 1]:
        background = sweep_dir / "baseline" / "_background" / f"seed={seed}"
        assert read_json(background / "status.json")["state"] == "complete"
        with open(background / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert [row["epoch"] for row in rows if row["dataset"] == "train"] == ["1"]  # trained once
        final = {row["dataset"]: row["loss"] for row in rows if row["epoch"] == "1" and row["dataset"] != "train"}
        for author in ["baum", "thompson"]:
            run_dir = sweep_dir / "baseline" / author / f"seed={seed}"
            status = read_json(run_dir / "status.json")
            assert status and status["state"] == "complete", f"{run_dir}: {status}"
            assert (status["author"], status["seed"], status["epoch"]) == (author, seed, 2)
            assert_metrics_continuous(run_dir, 2)
            with open(run_dir / "metrics.csv", newline="") as f:
                first = {r["dataset"]: r["loss"] for r in csv.DictReader(f) if r["epoch"] == "0"}
            assert {name: first[name] for name in final} == final

    # One array of 4 tasks with the launcher's defaults: time limit, USR2 before it, the job name.
    jobs = slurm_jobs(sweep_dir)
    array_id = jobs[0].split("_")[0]
    assert jobs == [f"{array_id}_{task}" for task in range(4)]
    script = (sweep_dir / ".submitit" / array_id / f"{array_id}_submission.sh").read_text()
    for line in [
        "--array=0-3%4",
        "--time=240",
        "--signal=USR2@120",
        "--job-name=stylometry-smoke",
        f"--output={sweep_dir}/.submitit/%A_%a/",
    ]:
        assert line in script
    assert ("--gpus-per-node=1" in script) == bool(slurm)
    assert not re.search(r"--(partition|account|qos)\b", script)  # the cluster's defaults unless set
    for job_id in jobs:
        assert "Job completed successfully" in submitit_log(sweep_dir, job_id)


def test_a_requeued_job_resumes_from_its_checkpoint_even_when_killed_mid_save(slurm, token_cache, tmp_path):
    """Two interruptions of one job: a USR2 (preemption; submitit requeues it), then `scontrol requeue`
    while the job is writing a checkpoint (a hard kill). Each time it continues from its checkpoint."""
    max_epochs = 10
    sweep_dir = tmp_path / "sweep"
    run_dir = sweep_dir / "baseline" / "baum" / "seed=0"
    args = sweep_args(sweep_dir, token_cache, slurm, "author=baum", "seed=0", f"stop_criteria.max_epochs={max_epochs}")
    process = start_command("stylometry.train", *args, stderr=subprocess.STDOUT)
    try:
        # 1. Preempted: USR2 to the job's step (not the batch shell: pitfall 5); submitit requeues it.
        first = wait_for(
            "epoch 2", lambda: (s := read_json(run_dir / "status.json")) and s["epoch"] >= 2 and s, process, timeout=120
        )
        [job_id] = slurm_jobs(sweep_dir)  # one job: submitted on its own, not as an array
        subprocess.run(["scancel", "--signal=USR2", job_id], check=True, timeout=30)

        # 2. Killed mid-save: freeze the restarted trainer while checkpoint.tmp/ exists, have SLURM
        # requeue the job, and kill the frozen process before it can finish the save.
        second = wait_for(
            "the requeued job to resume",
            lambda: (
                (s := read_json(run_dir / "status.json"))
                and s["pid"] != first["pid"]
                and s["state"] == "running"
                and "resuming" in (run_dir / "train.log").read_text()
                and s
            ),
            process,
            timeout=120,
            poll=0.1,
        )
        scratch = run_dir / "checkpoint.tmp"

        def frozen_mid_save():
            if not scratch.exists():
                return False
            os.kill(second["pid"], signal.SIGSTOP)
            if scratch.exists():
                return True
            os.kill(second["pid"], signal.SIGCONT)  # the save ended in between: try the next one
            return False

        wait_for("a checkpoint being written", frozen_mid_save, process, timeout=60, poll=0.002)
        last_saved_epoch = read_json(run_dir / "status.json")["epoch"]  # status.json follows each whole save
        try:
            subprocess.run(["scontrol", "requeue", job_id], check=True, timeout=30)
        finally:
            os.kill(second["pid"], signal.SIGKILL)
        assert scratch.exists()  # the kill did land mid-save: a half-written checkpoint.tmp/ is left behind

        out, _ = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        cancel(sweep_dir)
    assert process.returncode == 0, out[-3000:]

    status = read_json(run_dir / "status.json")
    assert status["state"] == "complete" and status["epoch"] == max_epochs, status
    assert_metrics_continuous(run_dir, max_epochs)
    train_log = (run_dir / "train.log").read_text()
    # Started once (only a fresh start logs epoch 0), then resumed twice, each time from its latest whole checkpoint.
    assert train_log.count(f"epoch 0/{max_epochs} ") == 1, train_log
    resumed = [int(epoch) for epoch in re.findall(r"resuming \S+ from checkpoint\S* \(epoch (\d+)[,)]", train_log)]
    assert len(resumed) == 2, train_log
    assert resumed[0] >= first["epoch"] and resumed[1] == last_saved_epoch, (resumed, first["epoch"], last_saved_epoch)
    assert not scratch.exists()  # the next save cleared the half-written one
    log = submitit_log(sweep_dir, job_id)
    assert "this job is preempted" in log and "Requeued job" in log, log
