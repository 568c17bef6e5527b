"""The CUDA path on a real GPU: each precision against the CPU, SDPA dropout, torch.compile, a killed run resumed,
GPU leases in a joblib sweep, DDP over nccl. Skipped, with that reason, where torch sees no CUDA GPU.

    python -m pytest -m cuda                    # on a GPU machine
    python -m stylometry.bench --gpu-check      # these tests, then the GPU's figures (docs/gpu.md)
"""

import copy
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from conftest import (
    CORPUS,
    DDP_RUN,
    TINY,
    TOKENIZER,
    ddp_worker,
    free_port,
    kill_when,
    metrics,
    metrics_has_epoch,
    same_weights,
    scalars_by_step,
    start_command,
    weights,
)
from transformers import GPT2LMHeadModel

from stylometry.benchmark.gpu_check import precision_mismatches
from stylometry.config.schema import DeviceConfig, ModelConfig
from stylometry.data.tokenizer import encode, load_tokenizer
from stylometry.hardware.device import GpuLease, Placement, choose_placement, detect, gpu_ids
from stylometry.model.gpt import build_model, nll_sum, optimizer_options
from stylometry.model.kernels import attention_kernel, causal_attention
from stylometry.runs.sweep import sweep_states
from stylometry.training.loop import train

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (no GPU on this machine)"),
]

# The tests' tiny run (conftest.TINY: real books, seconds) on the GPU.
CUDA_TINY = [*(item for item in TINY if not item.startswith("device=")), "device=cuda", "author=baum"]
PRECISIONS = ["bf16", "fp16", "fp32"]


def cuda_placement(precision: str) -> Placement:
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    return choose_placement(DeviceConfig(type="cuda", precision=precision), detect())


def text_batch(n_windows: int, n_positions: int) -> torch.Tensor:
    """n_windows consecutive windows of a real book (Baum's first), (n_windows, n_positions) token ids."""
    book = min((CORPUS / "baum").glob("*.txt")).read_text(encoding="utf-8")
    tokens = encode(load_tokenizer(str(TOKENIZER)), book[: 8 * n_windows * n_positions])  # ~4 characters a token
    return torch.tensor(tokens[: n_windows * n_positions]).view(n_windows, n_positions)


def loss_and_gradients(model, input_ids, placement: Placement) -> tuple:
    """nll_sum's mean loss on the batch and the gradients the optimizer gets, on the CPU, as the trainer makes
    them: under the placement's autocast, and with fp16 through the gradient scaler, unscaled."""
    scaler = torch.amp.GradScaler(placement.device.split(":")[0], enabled=placement.uses_grad_scaler)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # the scaler unscales the gradients of an optimizer
    for _ in range(10):  # an fp16 overflow halves the scale and tries again, as a training step would
        model.zero_grad(set_to_none=True)
        with placement.autocast():
            total, n_tokens = nll_sum(model, input_ids, input_ids)
        scaler.scale(total / n_tokens).backward()
        scaler.unscale_(optimizer)
        gradients = {name: p.grad.float().cpu() for name, p in model.named_parameters()}
        if not scaler.is_enabled() or all(torch.isfinite(g).all() for g in gradients.values()):
            break
        scaler.update()
    return (total / n_tokens).item(), gradients


@pytest.mark.parametrize("precision", PRECISIONS)
def test_a_cuda_job_trains_in_each_precision_and_matches_the_cpu(precision, make_config, tmp_path):
    placement = cuda_placement(precision)
    run_dir = tmp_path / "run"
    assert train(make_config(*CUDA_TINY, f"device.precision={precision}"), run_dir) == "complete"
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["device"], status["precision"]) == ("cuda:0", precision)
    assert status["losses"] and all(math.isfinite(loss) for loss in status["losses"].values())

    # Its trained weights on a fixed batch of real text: CUDA in this precision against the CPU in fp32.
    model = GPT2LMHeadModel.from_pretrained(run_dir / "checkpoint").eval()  # no dropout: one function on both
    batch = text_batch(4, model.config.n_positions)
    expected = loss_and_gradients(model, batch, Placement("cpu", "fp32"))
    got = loss_and_gradients(model.to("cuda"), batch.to("cuda"), placement)
    assert precision_mismatches(precision, *got, *expected) == []


@pytest.fixture(scope="module")
def paper_model_on_the_cpu():
    """The paper's model at its initial weights, two 1,024-token windows of a book, and their fp32 loss and
    gradients on the CPU."""
    torch.manual_seed(0)
    model = build_model(ModelConfig()).eval()  # context 1024, width 128, 8 layers, 50,257 tokens; no dropout
    batch = text_batch(2, model.config.n_positions)
    return model, batch, loss_and_gradients(model, batch, Placement("cpu", "fp32"))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_the_papers_model_on_cuda_matches_the_cpu_in_each_precision(precision, paper_model_on_the_cpu):
    model, batch, expected = paper_model_on_the_cpu
    got = loss_and_gradients(copy.deepcopy(model).to("cuda"), batch.to("cuda"), cuda_placement(precision))
    assert precision_mismatches(precision, *got, *expected) == []


def test_attention_dropout_runs_inside_sdpa_and_a_model_with_it_trains():
    assert attention_kernel("cuda", 0.1) == "sdpa"
    torch.manual_seed(0)
    q, k = torch.randn(2, 4, 256, 16, device="cuda"), torch.randn(2, 4, 256, 16, device="cuda")
    v = torch.ones(2, 4, 256, 16, device="cuda")
    # Each output is sum_j p_ij keep_ij / (1 - p) times 1: exactly 1 without dropout, about 1 on average with it.
    assert torch.allclose(causal_attention(q, k, v, 0.0), v, atol=1e-5)
    dropped = causal_attention(q, k, v, 0.1)
    assert (dropped - 1).abs().max() > 0.1  # the first query has one key: 0 or 1 / 0.9
    assert dropped.mean().item() == pytest.approx(1.0, abs=0.03)

    placement = choose_placement(DeviceConfig(type="cuda"), detect())  # bf16, or fp16 with the scaler
    model = build_model(ModelConfig(n_positions=64, n_embd=32, n_layer=2, n_head=2, dropout=0.1)).to("cuda").train()
    batch = text_batch(8, 64).to("cuda")
    with torch.no_grad(), placement.autocast():
        assert nll_sum(model, batch, batch)[0] != nll_sum(model, batch, batch)[0]  # each pass draws its masks
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, **optimizer_options("cuda"))
    scaler = torch.amp.GradScaler("cuda", enabled=placement.uses_grad_scaler)
    mean_losses = []
    for _ in range(30):  # one batch, learnt by heart
        with placement.autocast():
            total, n_tokens = nll_sum(model, batch, batch)
        scaler.scale(total / n_tokens).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        mean_losses.append(total.item() / n_tokens)
    assert all(math.isfinite(loss) for loss in mean_losses)
    assert mean_losses[-1] < mean_losses[0] - 1.0, mean_losses


def test_compile_trains_and_gives_the_eager_loss(make_config, tmp_path):
    from torch._dynamo.utils import counters

    # No dropout (compiled code draws its masks otherwise) and fp32: only the fused kernels' order of sums differs.
    overrides = [*CUDA_TINY, "model.dropout=0.0", "device.precision=fp32"]
    assert train(make_config(*overrides), tmp_path / "eager") == "complete"
    torch._dynamo.reset()
    counters.clear()
    assert train(make_config(*overrides, "device.compile=true"), tmp_path / "compiled") == "complete"
    assert counters["stats"]["unique_graphs"] > 0, "device.compile=true ran eagerly"
    eager = {(epoch, name): float(loss) for epoch, name, loss in metrics(tmp_path / "eager")}
    compiled = {(epoch, name): float(loss) for epoch, name, loss in metrics(tmp_path / "compiled")}
    assert compiled.keys() == eager.keys()
    for key, loss in eager.items():
        assert compiled[key] == pytest.approx(loss, rel=1e-4), key


# The trainer as `python -m stylometry.train` runs it, with deterministic CUDA kernels where PyTorch has them
# (SDPA's backward, scatter_add, cuBLAS with CUBLAS_WORKSPACE_CONFIG): then a resumed run can be bit-exact.
TRAIN_DETERMINISTIC = (
    "import runpy, sys, torch; torch.use_deterministic_algorithms(True, warn_only=sys.argv.pop(1) "
    "== 'warn'); runpy.run_module('stylometry.train', run_name='__main__', alter_sys=True)"
)


def start_cuda_training(run_dir, token_cache, strict: bool):
    return start_command(
        [sys.executable, "-c", TRAIN_DETERMINISTIC],
        "strict" if strict else "warn",
        *CUDA_TINY,
        "stop_criteria.max_epochs=20",
        f"hydra.run.dir={run_dir}",
        f"data.cache_dir={token_cache}",
        env={"CUBLAS_WORKSPACE_CONFIG": ":4096:8"},
        stderr=subprocess.STDOUT,
    )


def run_to_the_end(run_dir, token_cache, strict: bool) -> str:
    process = start_cuda_training(run_dir, token_cache, strict)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0 or "does not have a deterministic implementation" in output, output
    return output


def test_a_killed_cuda_run_resumes_to_the_run_never_killed(tmp_path, token_cache, record_property):
    never_killed, run_dir = tmp_path / "never_killed", tmp_path / "killed"
    strict = True
    output = run_to_the_end(never_killed, token_cache, strict)
    if "does not have a deterministic implementation" in output:
        # An op of this PyTorch has no deterministic CUDA kernel: it runs as it is, and the resume is compared
        # within tolerance only.
        record_property("nondeterministic_op", next(line for line in output.splitlines() if "deterministic" in line))
        strict, never_killed = False, tmp_path / "never_killed_warn_only"
        output = run_to_the_end(never_killed, token_cache, strict)
    assert json.loads((never_killed / "status.json").read_text())["state"] == "complete", output

    process = start_cuda_training(run_dir, token_cache, strict)
    kill_when(process, lambda: metrics_has_epoch(run_dir, 1))  # epoch 1's checkpoint is written: then the kill
    output = run_to_the_end(run_dir, token_cache, strict)
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete", output
    assert "resuming" in output

    rows, expected_rows = metrics(run_dir), metrics(never_killed)
    expected = {(epoch, name): float(loss) for epoch, name, loss in expected_rows}
    got = {(epoch, name): float(loss) for epoch, name, loss in rows}
    assert len(rows) == len(got) and got.keys() == expected.keys()  # every (epoch, set) once
    for key, loss in expected.items():
        assert got[key] == pytest.approx(loss, rel=1e-4, abs=1e-6), key
    resumed, straight = weights(run_dir / "checkpoint"), weights(never_killed / "checkpoint")
    record_property("deterministic_algorithms", "strict" if strict else "warn_only")
    if strict:  # every kernel deterministic: the resumed run is the run never killed, bit for bit
        assert rows == expected_rows
        assert same_weights(resumed, straight)
    else:
        assert same_weights(resumed, straight, atol=1e-4)


def first_visible_gpu() -> str:
    return (os.environ.get("CUDA_VISIBLE_DEVICES") or "0").split(",")[0]


def watch_sweep(sweep_dir, process, stop=lambda jobs: False, timeout=300) -> int:
    """Reads the sweep's jobs until stop(jobs) or the sweep ends; returns the most seen running at once."""
    most, deadline = 0, time.time() + timeout
    while process.poll() is None and time.time() < deadline:
        try:
            jobs = sweep_states(sweep_dir)
        except FileNotFoundError:  # a checkpoint.tmp/ renamed while the walk was in it: read again
            continue
        most = max(most, sum(job.state == "running" for job in jobs))
        if stop(jobs):
            break
        time.sleep(0.05)
    return most


def kill_sweep(process, sweep_dir) -> None:
    """The whole sweep at once, if it still runs: its main process and every job's (as tests/test_sweep.py)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGKILL)
    statuses = []
    for _ in range(10):  # dying jobs may still rename a checkpoint under the walk
        try:
            statuses = list(sweep_dir.rglob("status.json"))
            break
        except FileNotFoundError:
            time.sleep(0.1)
    for status in statuses:
        try:
            os.kill(json.loads(status.read_text())["pid"], signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass
    process.wait()


def test_a_joblib_sweep_runs_two_jobs_at_a_time_on_one_gpu_and_a_kill_frees_the_leases(tmp_path, token_cache):
    sweep_dir, lease_dir = tmp_path / "sweep", tmp_path / "leases"
    args = [
        "-m",
        *(o for o in CUDA_TINY if not o.startswith("author=")),
        "author=baum,austen",
        "seed=0,1",
        "stop_criteria.max_epochs=30",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=4",
        "device.jobs_per_gpu=2",
        f"device.lease_dir={lease_dir}",
        f"hydra.sweep.dir={sweep_dir}",
        f"data.cache_dir={token_cache}",
    ]
    env = {"CUDA_VISIBLE_DEVICES": first_visible_gpu()}  # four jobs, one GPU, two slots on it

    with open(tmp_path / "first.log", "w") as log:
        first = start_command(
            "stylometry.train", *args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        most_first = watch_sweep(
            sweep_dir,
            first,
            stop=lambda jobs: (
                sum(j.state == "running" for j in jobs) == 2
                and any((j.epoch or 0) >= 1 for j in jobs if j.state == "running")
            ),
        )
        assert first.poll() is None, "the sweep ended before the kill:\n" + (tmp_path / "first.log").read_text()
    finally:
        kill_sweep(first, sweep_dir)
    time.sleep(2)  # SIGKILL is delivered asynchronously: let the workers die
    # Both slots of the GPU are free at once: each lock died with its job.
    leases = [GpuLease(lease_dir, gpu_ids()[:1], jobs_per_gpu=2) for _ in range(3)]
    assert [lease.try_acquire() for lease in leases] == [0, 0, None]
    for lease in leases:
        lease.release()
    interrupted = [job.run_dir for job in sweep_states(sweep_dir) if job.state == "interrupted"]
    assert interrupted, "the kill came too late to test resumption"

    with open(tmp_path / "again.log", "w") as log:
        again = start_command(
            "stylometry.train", *args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        most_again = watch_sweep(sweep_dir, again, timeout=400)
        assert again.wait(timeout=60) == 0, (tmp_path / "again.log").read_text()
    finally:
        kill_sweep(again, sweep_dir)
    jobs = sweep_states(sweep_dir)
    assert sorted((job.author, job.seed, job.state) for job in jobs) == [
        ("austen", "0", "complete"),
        ("austen", "1", "complete"),
        ("baum", "0", "complete"),
        ("baum", "1", "complete"),
    ]
    assert max(most_first, most_again) == 2  # two at a time, never more: jobs_per_gpu=2 on one GPU
    for run_dir in interrupted:
        assert "resuming" in (Path(run_dir) / "train.log").read_text()


def test_two_nccl_processes_match_one_process(make_config, tmp_path):
    if torch.cuda.device_count() < 2:
        pytest.skip(f"needs two GPUs (this machine has {torch.cuda.device_count()})")
    cfg = make_config(*(item for item in DDP_RUN if item != "device=cpu"), "device=cuda", "device.precision=fp32")
    single, parallel = tmp_path / "single", tmp_path / "ddp"
    assert train(cfg, single) == "complete"
    mp.spawn(ddp_worker, args=(2, free_port(), cfg, parallel), nprocs=2, join=True)  # nccl, a GPU per process

    one, two = scalars_by_step(single), scalars_by_step(parallel)
    assert one.keys() == two.keys()
    for key, value in one.items():
        assert two[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    manifest = json.loads((parallel / "manifest.json").read_text())
    assert manifest["processes"] == 2
