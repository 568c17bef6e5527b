"""Sweeps: GPU slot leases, CPU shares, the joblib grid killed and finished, failures isolated, status and plan."""

import csv
import json
import multiprocessing
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import CORPUS, JOBLIB, TINY, TINY_TRAIN_TOKENS, TOKENIZER, fake_run, start_command

from stylometry.config.schema import ConfigError, DeviceConfig
from stylometry.hardware.device import GpuLease, Hardware, cpu_threads, place_job
from stylometry.runs.sweep import format_table, sweep_states
from stylometry.status import plan

GPUS = ["GPU-aaaa", "GPU-bbbb", "GPU-cccc"]


def _hold(lease_dir, jobs_per_gpu, queue):
    lease = GpuLease(lease_dir, GPUS, jobs_per_gpu, poll_seconds=0.05)
    queue.put(lease.try_acquire())
    time.sleep(120)  # a running job; ended by a kill


def test_gpu_leases_take_free_gpus_first_and_cap_jobs_per_gpu(tmp_path):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    holders = []
    for _ in range(6):  # 3 GPUs x 2 slots
        holders.append(ctx.Process(target=_hold, args=(tmp_path, 2, queue)))
        holders[-1].start()
        holders[-1].gpu = queue.get(timeout=30)
    try:
        assert [h.gpu for h in holders[:3]] == [0, 1, 2]  # each job a free GPU first
        assert sorted(h.gpu for h in holders[3:]) == [0, 1, 2]  # then second slots
        assert GpuLease(tmp_path, GPUS, 2).try_acquire() is None  # every slot held
        # A killed job's slot is free at once: the lock dies with the process.
        victim = holders[4]
        os.kill(victim.pid, signal.SIGKILL)
        victim.join()
        lease = GpuLease(tmp_path, GPUS, 2)
        assert lease.try_acquire() == victim.gpu
        lease.release()
    finally:
        for h in holders:
            h.kill()
            h.join()


def test_a_lease_waits_for_a_slot_and_is_released_on_error(tmp_path):
    with GpuLease(tmp_path, GPUS[:1], 1) as gpu:
        assert gpu == 0
        assert GpuLease(tmp_path, GPUS[:1], 1).try_acquire() is None
    with pytest.raises(RuntimeError):
        with GpuLease(tmp_path, GPUS[:1], 1):
            raise RuntimeError("the job crashed")
    assert GpuLease(tmp_path, GPUS[:1], 1).try_acquire() == 0


@pytest.mark.parametrize(
    "num_threads,jobs,cores,expected",
    [(None, 1, 8, 8), (None, 2, 8, 4), (None, 3, 8, 2), (None, 16, 8, 1), (3, 4, 8, 3)],
)
def test_cpu_jobs_share_the_cores(num_threads, jobs, cores, expected):
    assert cpu_threads(num_threads, jobs, cores) == expected


def test_a_cpu_job_gets_its_thread_share():
    import torch

    before = torch.get_num_threads()
    try:
        with place_job(DeviceConfig(type="auto"), parallel_jobs=64, hardware=Hardware()) as placement:
            assert placement.device == "cpu" and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def sweep(sweep_dir, *overrides, cache, launcher=JOBLIB, **popen):
    """`python -m stylometry.train -m` with TINY, two joblib workers (or `launcher`'s overrides), started; stderr into
    stdout."""
    args = ["-m", *TINY, *launcher, f"hydra.sweep.dir={sweep_dir}"]
    return start_command(
        "stylometry.train", *args, f"data.cache_dir={cache}", *overrides, stderr=subprocess.STDOUT, **popen
    )


def epochs(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = [(int(r["epoch"]), r["dataset"]) for r in csv.DictReader(f)]
    assert len(rows) == len(set(rows)), "a (epoch, dataset) row is duplicated"
    return sorted({e for e, _ in rows})


@pytest.mark.slow
def test_a_killed_joblib_sweep_is_finished_by_the_same_command(tmp_path, token_cache):
    sweep_dir = tmp_path / "sweep"
    # Evaluated on the two authors' books only (what is checked is where each job stops and how it goes on).
    args = (
        "author=baum,austen",
        "seed=0,1",
        "stop_criteria.max_epochs=4",
        "data.authors=[austen,baum]",
    )
    first = sweep(sweep_dir, *args, cache=token_cache, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:  # kill once some job has finished an epoch but the sweep has not
        assert first.poll() is None, f"the sweep ended before the kill:\n{first.stdout.read()[-3000:]}"
        states = [json.loads(p.read_text()) for p in sweep_dir.rglob("status.json")]
        if any(s["epoch"] >= 1 for s in states):
            break
        time.sleep(0.5)
    # The whole sweep dies at once: its main process and every worker running a job.
    os.killpg(first.pid, signal.SIGKILL)
    for status in sweep_dir.rglob("status.json"):
        try:
            os.kill(json.loads(status.read_text())["pid"], signal.SIGKILL)
        except (ProcessLookupError, ValueError, KeyError):
            pass
    first.wait()
    time.sleep(2)  # SIGKILL is delivered asynchronously: let the workers die
    interrupted = [job.run_dir for job in sweep_states(sweep_dir) if job.state == "interrupted"]
    assert interrupted, "the kill came too late to test resumption"

    again = sweep(sweep_dir, *args, cache=token_cache)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    run_dirs = sorted(p.parent for p in sweep_dir.rglob("status.json"))
    assert [str(d.relative_to(sweep_dir)) for d in run_dirs] == [
        "baseline/austen/seed=0",
        "baseline/austen/seed=1",
        "baseline/baum/seed=0",
        "baseline/baum/seed=1",
    ]
    for run_dir in run_dirs:
        assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
        assert epochs(run_dir) == list(range(5))
    for run_dir in interrupted:
        assert "resuming" in (Path(run_dir) / "train.log").read_text()  # continued, not retrained from scratch
    # Every line of a job starts with its identity, on the terminal (two jobs interleaved) and in its log.
    tags = {f"{d.relative_to(sweep_dir)} " for d in run_dirs}
    job_lines = [line for line in out.splitlines() if "| train " in line or "run dir " in line or "resuming" in line]
    assert len(job_lines) >= 8 and all(line[: line.index(" ") + 1] in tags for line in job_lines), out
    for run_dir in run_dirs:
        tag = f"{run_dir.relative_to(sweep_dir)} "
        assert all(line.startswith(tag) for line in (run_dir / "train.log").read_text().splitlines())
    with open(sweep_dir / "summary.csv", newline="") as f:
        assert [row["state"] for row in csv.DictReader(f)] == ["complete"] * 4


@pytest.mark.slow
def test_a_failing_job_does_not_stop_the_sweep(tmp_path, token_cache):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ["baum", "thompson", "contested", "non_oz_baum", "non_oz_thompson"]:
        (corpus / name).symlink_to(CORPUS / name)
    (corpus / "austen").mkdir()
    for book in (CORPUS / "austen").glob("*.txt"):
        (corpus / "austen" / book.name).write_bytes(book.read_bytes()[:20000] + b"\xff\xfe broken")
    sweep_dir = tmp_path / "sweep"
    # The jobs in turn in the command's own process (Hydra's basic launcher): a job's failure is caught and recorded
    # by the job itself (stylometry/train.py), in whichever process a launcher runs it, and two joblib workers would
    # cost ~9 s of imports each.
    run = sweep(
        sweep_dir,
        "author=baum,austen",
        f"data.root={corpus}",
        "data.authors=[austen,baum,thompson]",
        cache=token_cache,
        launcher=(),
    )
    out, _ = run.communicate(timeout=600)
    assert run.returncode == 0, out
    states = {job.author: job for job in sweep_states(sweep_dir)}
    failed = states["austen"]
    assert failed.state == "failed" and "is not UTF-8" in failed.detail and failed.seed == "0"
    assert states["baum"].state == "failed"  # baum's models are evaluated on austen's held-out book too
    table = format_table(sweep_states(sweep_dir))
    assert "2 jobs: 2 failed" in table and "train.log" in table
    assert "is not UTF-8" in (sweep_dir / "summary.csv").read_text()


def test_plan_expands_validates_and_says_what_would_happen(small_corpus, tmp_path, token_cache, monkeypatch):
    """On the small corpus (the plan reads every job's data, as the job would: 6 jobs' worth here)."""
    monkeypatch.setenv("STYLOMETRY_DATA", str(small_corpus))
    monkeypatch.setenv("STYLOMETRY_TOKENIZER", str(TOKENIZER))
    sweep_dir = tmp_path / "sweep"
    fake_run(sweep_dir / "baseline" / "bob" / "seed=0", "complete")
    lines = plan(
        [
            "experiment=smoke",
            "author=glob(*)",
            "seed=range(2)",
            f"data.n_train_tokens={TINY_TRAIN_TOKENS}",
            "hydra/launcher=joblib",
            f"hydra.sweep.dir={sweep_dir}",
            f"data.cache_dir={token_cache}",
        ]
    )
    assert len(lines) == 6  # alice, bob, carol x 2 seeds
    assert [line.split()[0] for line in lines].count("skip") == 1 and lines[2].startswith("skip")
    assert not (sweep_dir / "baseline" / "alice").exists()  # planning launches and writes nothing
    with pytest.raises(ConfigError, match="data.root=/no/such/dir"):
        plan(["experiment=smoke", "author=bob,alice", "data.root=/no/such/dir", f"hydra.sweep.dir={sweep_dir}"])
    with pytest.raises(ConfigError, match="model.n_embd=33"):
        plan(["experiment=smoke", "author=bob", "model.n_embd=33", f"hydra.sweep.dir={sweep_dir}"])


def test_status_reads_every_state_from_disk(tmp_path):
    def job(name, **status):
        run_dir = tmp_path / name
        run_dir.mkdir()
        (run_dir / ".hydra").mkdir()
        if status:
            (run_dir / "status.json").write_text(json.dumps(status))
        return run_dir

    job("done", state="complete", epoch=3, author="baum", losses={"train": 3.0})
    job("live", state="running", epoch=2, host=os.uname().nodename, pid=os.getpid(), eta_s=600, device="cuda:1")
    job("dead", state="running", epoch=2, host=os.uname().nodename, pid=2**22 + 12345)
    job("broke", state="failed", reason="ConfigError: bad book")
    job("fresh")
    states = {os.path.basename(j.run_dir): j for j in sweep_states(tmp_path)}
    assert {name: j.state for name, j in states.items()} == {
        "done": "complete",
        "live": "running",
        "dead": "interrupted",
        "broke": "failed",
        "fresh": "not started",
    }
    table = format_table(list(states.values()))
    assert "ETA 10 min" in table and "cuda:1" in table and "bad book" in table
