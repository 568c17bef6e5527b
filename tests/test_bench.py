"""The optimized loss equals the study's loop, its kernels are chosen as documented, the bench runs, and the GPU
check's CPU parts (comparison, projection, reports, its command without a GPU) do what docs/gpu.md says.

Speed is reported by `python -m stylometry.bench`, never asserted here.
"""

import contextlib
import io
import json
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from conftest import CORPUS, REPO, TOKENIZER, run_command, start_command

from stylometry import bench
from stylometry.benchmark import cpu_bench, driver, gpu_check
from stylometry.benchmark.driver import worker_command
from stylometry.benchmark.gpu_check import (
    evaluations,
    grid_gpu_hours,
    junit_summary,
    minimum_epochs,
    phase_seconds,
    precision_mismatches,
    run_cuda_tests,
)
from stylometry.benchmark.loops import study_batches, study_model, study_step
from stylometry.benchmark.overrides import with_defaults, with_override
from stylometry.benchmark.workers import largest_fitting_batch
from stylometry.config.schema import CadenceConfig, ModelConfig, StopCriteriaConfig
from stylometry.model import kernels
from stylometry.model.gpt import (
    build_model,
    flops_per_token,
    maybe_compile,
    nll_sum,
    optimizer_options,
)

SMALL = ModelConfig(n_positions=48, n_embd=32, n_layer=2, n_head=4, vocab_size=1000, dropout=0.0)
BENCH_KEYS = {
    "train_tokens_per_s",
    "study_loop_train_tokens_per_s",
    "mfu",
    "peak_mem_mb",
    "study_loop_peak_mem_mb",
    "eval_fraction_of_epoch",
    "first_step_s",
    "eval_tokens_per_s",
    "peak_flops",
}


@pytest.fixture
def small_chunks(monkeypatch):
    # Several output-layer chunks and attention blocks, with a ragged last one of each.
    monkeypatch.setattr(kernels, "LOGIT_ROWS", 40)
    monkeypatch.setattr(kernels, "ATTENTION_ROWS", 20)


def same_weights(cfg: ModelConfig):
    torch.manual_seed(0)
    optimized = build_model(cfg)
    study_loop = study_model(cfg)
    study_loop.load_state_dict(optimized.state_dict())
    return optimized, study_loop


def gradients(model):
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("training", [False, True])
def test_optimized_and_study_loop_paths_give_the_same_loss_and_gradients(small_chunks, training):
    optimized, study_loop = same_weights(SMALL)  # dropout 0: training mode is deterministic too
    optimized.train(training), study_loop.train(training)
    input_ids = torch.randint(0, SMALL.vocab_size, (3, SMALL.n_positions))

    reference = study_loop(input_ids, labels=input_ids).loss  # the study's: checkpointed HF model
    reference.backward()
    total, n_tokens = nll_sum(optimized, input_ids, input_ids)
    (total / n_tokens).backward()

    assert n_tokens == 3 * (SMALL.n_positions - 1)
    assert torch.allclose(total / n_tokens, reference, rtol=1e-6, atol=1e-6)
    expected, got = gradients(study_loop), gradients(optimized)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.allclose(got[name], expected[name], rtol=1e-4, atol=1e-6), name


def test_padding_is_ignored_in_loss_and_gradients(small_chunks):
    optimized, study_loop = same_weights(SMALL)
    input_ids = torch.randint(0, SMALL.vocab_size, (2, SMALL.n_positions))
    labels = input_ids.clone()
    labels[1, 30:] = -100  # a book's last, padded window
    reference = study_loop(input_ids, labels=labels).loss
    reference.backward()
    total, n_tokens = nll_sum(optimized, input_ids, labels)
    (total / n_tokens).backward()
    assert n_tokens == (SMALL.n_positions - 1) + 29
    assert torch.allclose(total / n_tokens, reference, rtol=1e-6, atol=1e-6)
    for name, grad in gradients(study_loop).items():
        assert torch.allclose(gradients(optimized)[name], grad, rtol=1e-4, atol=1e-6), name


def test_evaluation_without_gradients_gives_the_training_loss(small_chunks):
    optimized, _ = same_weights(SMALL)
    optimized.eval()
    input_ids = torch.randint(0, SMALL.vocab_size, (3, SMALL.n_positions))
    with_grad, _ = nll_sum(optimized, input_ids, input_ids)
    with torch.no_grad():
        without_grad, _ = nll_sum(optimized, input_ids, input_ids)
    assert torch.allclose(without_grad, with_grad.detach(), rtol=1e-6)


def test_optimizer_and_compile_choices():
    assert optimizer_options("cuda") == {"fused": True}
    assert optimizer_options("cpu") == {"fused": True}
    assert optimizer_options("mps") == {}
    assert maybe_compile(nll_sum, False, "cuda") is nll_sum


def test_compile_falls_back_to_eager_where_it_cannot_help(caplog):
    assert maybe_compile(nll_sum, True, "cpu") is nll_sum
    assert "device.compile=true needs CUDA" in caplog.text


def test_autocast_runs_the_output_layer_in_low_precision_and_the_loss_in_fp32(small_chunks):
    # The CUDA path (bf16 autocast), run on the CPU's autocast: same loss to bf16 precision.
    optimized, _ = same_weights(SMALL)
    input_ids = torch.randint(0, SMALL.vocab_size, (2, SMALL.n_positions))
    fp32, n_tokens = nll_sum(optimized, input_ids, input_ids)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16, _ = nll_sum(optimized, input_ids, input_ids)
    assert bf16.dtype == torch.float32
    assert (bf16 / n_tokens).item() == pytest.approx((fp32 / n_tokens).item(), rel=2e-2)
    (bf16 / n_tokens).backward()
    assert optimized.lm_head.weight.grad.dtype == torch.float32


def test_flops_per_token_of_the_paper_model():
    # 6 x (8 layers x 12 x 128^2 + 50,257 x 128) + 12 x 8 x 1024 x 128
    assert flops_per_token(ModelConfig()) == 6 * (8 * 12 * 128**2 + 50257 * 128) + 12 * 8 * 1024 * 128


def test_the_study_loop_is_the_studys_loop():
    cfg = ModelConfig(n_positions=16, n_embd=16, n_layer=1, n_head=2, vocab_size=100, dropout=0.1)
    model = study_model(cfg)
    assert getattr(model, "is_activation_checkpointing", None) or model.is_gradient_checkpointing
    batches = study_batches(list(range(100)), cfg.n_positions, batch_size=4, seed=0)
    batch = next(batches)
    assert batch.shape == (4, 16) and batch.dtype == torch.int64
    assert (batch[:, 1:] - batch[:, :-1] == 1).all()  # windows of consecutive token ids
    optimizer = torch.optim.AdamW(model.parameters())
    assert study_step(model, optimizer, batch) > 0


def test_bench_defaults_yield_to_overrides():
    assert with_defaults([]) == ["author=baum", "device=cpu", "data.batch_size=4"]
    assert with_defaults(["data.batch_size=16", "author=austen"]) == [
        "device=cpu",
        "data.batch_size=16",
        "author=austen",
    ]
    assert with_override(["author=baum", "+device.jobs_per_gpu=1"], "device.jobs_per_gpu", 2) == [
        "author=baum",
        "device.jobs_per_gpu=2",
    ]


@pytest.mark.slow  # seven measurements of a tiny model: ~17 s in this process (58-108 s as seven fresh processes)
def test_bench_cli_runs_a_tiny_config_and_ends_with_json(token_cache, monkeypatch, capsys):
    # Each measurement runs here, from the command line the benchmark would start it with: a fresh process costs
    # ~8 s of imports before it measures anything, and the GPU check's dry run below starts its workers as such.
    def run_here(name, args, overrides, impl="optimized", timeout=None):
        _, _, _, *worker_argv = worker_command(name, args, overrides, impl)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            bench.main(worker_argv)
        return json.loads(printed.getvalue().strip().splitlines()[-1])

    monkeypatch.setattr(cpu_bench, "run_worker", run_here)
    monkeypatch.setenv("STYLOMETRY_DATA", str(CORPUS))  # the corpus and tokenizer, as a user sets them
    monkeypatch.setenv("STYLOMETRY_TOKENIZER", str(TOKENIZER))
    argv = ["model=tiny", "model.n_positions=32", "data.n_train_tokens=1024", "data.eval_max_tokens=256"]
    argv += ["data.eval_batch_size=4", f"data.cache_dir={token_cache}", "--repeats", "1", "--warmup", "0"]
    bench.main([*argv, "--steps", "1"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert BENCH_KEYS <= report.keys()
    assert report["train_tokens_per_s"] > 0 and report["study_loop_train_tokens_per_s"] > 0
    assert 0 < report["mfu"] and report["first_step_s"] > 0 and report["eval_fraction_of_epoch"] > 0


# --- the GPU check's parts that need no GPU ------------------------------------------------------------


def test_precision_mismatches_accept_the_cpus_bf16_and_name_what_differs(small_chunks):
    optimized, _ = same_weights(SMALL)
    input_ids = torch.randint(0, SMALL.vocab_size, (2, SMALL.n_positions))

    def loss_and_gradients(autocast: bool):
        optimized.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            total, n_tokens = nll_sum(optimized, input_ids, input_ids)
        (total / n_tokens).backward()
        return (total / n_tokens).item(), gradients(optimized)

    fp32, bf16 = loss_and_gradients(False), loss_and_gradients(True)
    assert precision_mismatches("fp32", *fp32, *fp32) == []
    assert precision_mismatches("bf16", *bf16, *fp32) == []  # the CPU's bf16 autocast: the CUDA path's arithmetic
    assert any(line.startswith("gradient of") for line in precision_mismatches("fp32", *bf16, *fp32))
    loss, grads = fp32
    name = "transformer.h.0.mlp.c_fc.weight"
    off = {**grads, name: grads[name] * 1.1}
    assert precision_mismatches("bf16", loss, off, *fp32) == [f"gradient of {name}: relative error 1.00e-01 > 0.05"]
    assert precision_mismatches("bf16", float("nan"), grads, *fp32)[0].startswith("loss nan")
    assert "gradients of other parameters" in precision_mismatches("bf16", loss, {}, *fp32)[0]


def test_the_grid_costs_its_training_and_every_evaluation():
    models = [
        {"train_tokens_per_epoch": 1000, "eval_tokens": 500},
        {"train_tokens_per_epoch": 1000, "eval_tokens": 1500},
    ]
    # 2 models x 10 epochs x 1,000 tokens at 100 tok/s = 200 s; 11 evaluations x 2,000 tokens at 1,000 tok/s = 22 s.
    assert grid_gpu_hours(models, 10, 11, 100.0, 1000.0) == pytest.approx(222 / 3600)
    assert minimum_epochs(StopCriteriaConfig()) == 500  # the study's: at least 500, then a loss of 3.0 stops it
    assert minimum_epochs(StopCriteriaConfig(min_epochs=0, max_epochs=3, train_loss_threshold=None)) == 3


@pytest.mark.parametrize(
    "cadence,epochs,steps_per_epoch,expected",
    [
        (CadenceConfig(), 500, 40, 501),  # the study's: before training and after every epoch
        (CadenceConfig(eval_at_start=False), 500, 40, 500),
        (CadenceConfig(eval_every=3), 10, 1, 5),  # 0, 3, 6, 9 and the last
        (CadenceConfig(eval_every=4, eval_at_start=False), 8, 1, 2),
        (CadenceConfig(eval_every=100, eval_every_steps=3), 2, 4, 4),  # 0, steps 3 and 6 (mid-epoch), the last
    ],
)
def test_evaluations_are_the_trainers_schedule(cadence, epochs, steps_per_epoch, expected):
    stop = StopCriteriaConfig(min_epochs=epochs)  # the study's threshold: the model stops at min_epochs
    assert evaluations(stop, cadence, epochs, steps_per_epoch) == expected


def test_the_largest_batch_is_found_by_doubling_until_memory_runs_out():
    tried = []

    def try_batch(batch_size):
        tried.append(batch_size)
        if batch_size > 64:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    assert largest_fitting_batch(try_batch, 16, 4096) == (64, "memory")
    assert tried == [16, 32, 64, 128]
    assert largest_fitting_batch(lambda batch_size: None, 16, 100) == (64, "cap")
    assert largest_fitting_batch(try_batch, 128, 4096) == (None, "memory")


def test_the_cuda_tests_report_is_read_from_pytests_junit_xml(tmp_path):
    (tmp_path / "test_sample.py").write_text(
        textwrap.dedent("""
        import pytest

        def test_passes(record_property):
            record_property("bit_exact", True)

        def test_fails():
            assert 1 == 2, "one is not two"

        @pytest.mark.skip(reason="needs CUDA (no GPU on this machine)")
        def test_skipped():
            pass
    """)
    )
    report = tmp_path / "report.xml"
    run_command("pytest", "test_sample.py", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", cwd=tmp_path)
    summary = junit_summary(report)
    assert summary["passed"] == 1
    assert summary["skipped"] == {"test_skipped": "needs CUDA (no GPU on this machine)"}
    assert len(summary["failed"]) == 1 and summary["failed"][0].startswith("test_fails: ")
    assert "one is not two" in summary["failed"][0]
    assert summary["properties"] == {"test_passes": {"bit_exact": "True"}}


def run_check(command, timeout=600, **env):
    """`command` (docs/gpu.md) as a user runs it, where torch sees no GPU (CUDA_VISIBLE_DEVICES empty)."""
    return run_command(command, timeout=timeout, env={"CUDA_VISIBLE_DEVICES": "", **env})


def test_the_gpu_check_without_a_gpu_says_so_in_seconds():
    started = time.monotonic()
    done = run_check([sys.executable, "-m", "stylometry.bench", "--gpu-check"])
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.strip().splitlines()
    report = json.loads(line)
    assert report["gpu_check"] == "no_gpu" and "sees no CUDA GPU" in report["reason"]
    assert time.monotonic() - started < 60  # imports only: nothing is measured


def test_a_bad_override_of_the_gpu_check_is_one_line_before_any_work():
    done = run_check([sys.executable, "-m", "stylometry.bench", "--gpu-check", "device=cpu", "model.n_embd=33"])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == ["error: model.n_embd=33 must be divisible by model.n_head=8"]


def test_the_gpu_checks_job_counts_come_from_the_command_line(capsys):
    assert bench.parse_args(["--gpu-check"]).jobs_per_gpu == (1, 2, 4)
    assert bench.parse_args(["--gpu-check", "--jobs-per-gpu", "1,2,8"]).jobs_per_gpu == (1, 2, 8)
    assert [phase_seconds(f"jobs_{n}") for n in (1, 2, 4, 8)] == [60, 60, 75, 135]
    for bad in ("0", "1,x", ""):
        with pytest.raises(SystemExit) as exit:
            bench.parse_args(["--gpu-check", "--jobs-per-gpu", bad])
        [line] = capsys.readouterr().err.splitlines()
        assert exit.value.code == 2 and line.startswith(f"error: argument --jobs-per-gpu: '{bad}' is not a comma")


def test_the_gpu_check_script_runs_the_check_or_names_what_is_missing(tmp_path):
    done = run_check(["bash", ".ci/gpu-check"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["gpu_check"] == "no_gpu"
    missing = run_check(["bash", ".ci/gpu-check"], STYLOMETRY_DATA=str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and missing.stdout == ""
    [line] = missing.stderr.strip().splitlines()
    assert line.startswith(f"gpu-check: no corpus at {tmp_path / 'nowhere'}: set STYLOMETRY_DATA, or run")


@pytest.mark.slow  # pip fetches six wheels (the package registry must answer) and the corpus is copied: ~30 s
def test_the_gpu_check_is_prepared_for_a_machine_without_a_registry(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    (repo / ".ci" / "gpu-check").write_bytes((REPO / ".ci" / "gpu-check").read_bytes())
    done = run_command(["bash", ".ci/gpu-check", "--prepare"], cwd=repo)
    assert done.returncode == 0, done.stderr
    wheels = sorted(path.name.split("-")[0] for path in (repo / "wheels").glob("*-py*-none-any.whl"))
    assert wheels == [
        "antlr4_python3_runtime",
        "hydra_core",
        "hydra_joblib_launcher",
        "hydra_submitit_launcher",
        "omegaconf",
        "submitit",
    ]
    assert (repo / "shared" / "corpus" / "baum").is_dir() and (repo / "shared" / "tokenizers" / "gpt2").is_dir()
    assert "ready to carry" in done.stdout


@pytest.mark.timeout(1500)
@pytest.mark.slow  # ~60 s alone here (94-215 s in the suite as eight fresh processes: the check and its workers)
def test_the_gpu_check_on_the_cpu_runs_every_phase_and_reports_every_figure(token_cache, monkeypatch, capsys):
    # docs/gpu.md's dry run, the check in this process and each of its workers forked by the command server from the
    # command line the check starts it with (driver.worker_command): a fresh process costs ~8 s of imports before it
    # measures anything. Starting a worker as a fresh process is the next test's. The GPU pin of the jobs' workers
    # (CUDA_VISIBLE_DEVICES) is dropped: on the CPU it changes nothing, and it would cost the fork.
    def forked_worker(name, args, overrides, impl="optimized", extra=(), env=None):
        _, _, module, *worker_args = worker_command(name, args, overrides, impl, extra)
        process = start_command(module, *worker_args)
        process.worker_name = f"{name}/{impl}"
        return process

    def cuda_tests_where_torch_sees_no_gpu(scratch, timeout):
        with monkeypatch.context() as patch:
            patch.setenv("CUDA_VISIBLE_DEVICES", "")
            return run_cuda_tests(scratch, timeout)

    monkeypatch.setattr(driver, "start_worker", forked_worker)  # run_worker's too
    monkeypatch.setattr(gpu_check, "start_worker", forked_worker)
    monkeypatch.setattr(gpu_check, "run_cuda_tests", cuda_tests_where_torch_sees_no_gpu)
    monkeypatch.setenv("STYLOMETRY_DATA", str(CORPUS))  # the corpus and tokenizer, as a user sets them
    monkeypatch.setenv("STYLOMETRY_TOKENIZER", str(TOKENIZER))
    # A budget of 1,500 s gives each phase 2.8 times its GPU limit, for a busy CPU.
    argv = ["--gpu-check", "device=cpu", "model=tiny", "model.n_positions=32", "data.n_train_tokens=1024"]
    argv += ["data.eval_max_tokens=256", "data.batch_size=4", "data.eval_batch_size=4", f"data.cache_dir={token_cache}"]
    argv += ["--repeats", "1", "--warmup", "1", "--steps", "1", "--eval-steps", "1", "--min-seconds", "0"]
    argv += ["--max-batch", "16", "--grid-seeds", "1", "--jobs-per-gpu", "1,2", "--budget", "1500"]
    with pytest.raises(SystemExit) as exit_code:
        bench.main(argv)
    done = subprocess.CompletedProcess(argv, exit_code.value.code, *capsys.readouterr())
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # The cuda tests are skipped on a CPU, so the check is incomplete (exit 1); every measurement ran.
    assert (done.returncode, report["gpu_check"]) == (1, "incomplete"), done.stdout[-3000:] + done.stderr[-3000:]
    assert report["cuda_tests"]["passed"] == 0 and report["cuda_tests"]["failed"] == []
    assert set(report["cuda_tests"]["skipped"].values()) == {"needs CUDA (no GPU on this machine)"}
    assert all(set(phase) == {"seconds"} for phase in report["phases"].values()), report["phases"]
    assert [job["jobs_per_gpu"] for job in report["jobs"]] == [1, 2]
    for job in report["jobs"]:
        assert len(job["train_tokens_per_s_per_job"]) == len(job["eval_tokens_per_s_per_job"]) == job["jobs_per_gpu"]
        assert job["train_tokens_per_s"] > 0 and job["eval_tokens_per_s"] > 0 and 0 < job["mfu"]
    assert report["train_tokens_per_s"] == report["jobs"][0]["train_tokens_per_s"] and report["peak_flops"] > 0
    assert (report["largest_batch"]["batch_size"], report["largest_batch"]["limited_by"]) == (16, "cap")
    grid = report["grid"]
    assert (grid["models"], grid["epochs"], grid["evaluations"], grid["train_tokens_per_epoch"]) == (8, 500, 501, 1024)
    assert grid["gpu_hours"] == min(grid["gpu_hours_by_jobs_per_gpu"].values()) > 0


@pytest.mark.slow  # one fresh process: ~10 s, most of it imports
def test_a_worker_runs_in_a_fresh_process_and_its_json_is_read_back(token_cache, monkeypatch):
    monkeypatch.setenv("STYLOMETRY_DATA", str(CORPUS))
    monkeypatch.setenv("STYLOMETRY_TOKENIZER", str(TOKENIZER))
    argv = ["device=cpu", "model=tiny", "model.n_positions=32", "data.n_train_tokens=1024"]
    args = bench.parse_args([*argv, "data.eval_max_tokens=256", f"data.cache_dir={token_cache}"])
    process = driver.start_worker("startup", args, args.overrides)
    assert isinstance(process, subprocess.Popen) and process.args[:3] == [sys.executable, "-m", "stylometry.bench"]
    result = driver.finish_worker(process, timeout=300)
    assert result["first_step_s"] > 0 and result["train_tokens_per_epoch"] == 1024
