"""The optimized loss equals the study's loop, its kernels are chosen as documented, and the bench runs.

Speed is reported by `python -m stylometry.bench`, never asserted here.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

from stylometry import model as model_module
from stylometry.bench import baseline_batches, baseline_model, baseline_step, with_defaults
from stylometry.config import ModelConfig
from stylometry.model import (
    attention_kernel, build_model, causal_attention, dropout_keep_mask, flops_per_token, keep_probability,
    maybe_compile, nll_sum, optimizer_options,
)

from conftest import CORPUS, REPO, TOKENIZER

SMALL = ModelConfig(n_positions=48, n_embd=32, n_layer=2, n_head=4, vocab_size=1000, dropout=0.0)
BENCH_KEYS = {"train_tokens_per_s", "baseline_train_tokens_per_s", "mfu", "peak_mem_mb", "baseline_peak_mem_mb",
              "eval_fraction_of_epoch", "first_step_s", "eval_tokens_per_s", "peak_flops"}


@pytest.fixture
def small_chunks(monkeypatch):
    # Several output-layer chunks and attention blocks, with a ragged last one of each.
    monkeypatch.setattr(model_module, "LOGIT_ROWS", 40)
    monkeypatch.setattr(model_module, "ATTENTION_ROWS", 20)


def same_weights(cfg: ModelConfig):
    torch.manual_seed(0)
    optimized = build_model(cfg)
    baseline = baseline_model(cfg)
    baseline.load_state_dict(optimized.state_dict())
    return optimized, baseline


def gradients(model):
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("training", [False, True])
def test_optimized_and_baseline_paths_give_the_same_loss_and_gradients(small_chunks, training):
    optimized, baseline = same_weights(SMALL)  # dropout 0: training mode is deterministic too
    optimized.train(training), baseline.train(training)
    input_ids = torch.randint(0, SMALL.vocab_size, (3, SMALL.n_positions))

    reference = baseline(input_ids, labels=input_ids).loss  # the study's: checkpointed HF model
    reference.backward()
    total, n_tokens = nll_sum(optimized, input_ids, input_ids)
    (total / n_tokens).backward()

    assert n_tokens == 3 * (SMALL.n_positions - 1)
    assert torch.allclose(total / n_tokens, reference, rtol=1e-6, atol=1e-6)
    expected, got = gradients(baseline), gradients(optimized)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.allclose(got[name], expected[name], rtol=1e-4, atol=1e-6), name


def test_padding_is_ignored_in_loss_and_gradients(small_chunks):
    optimized, baseline = same_weights(SMALL)
    input_ids = torch.randint(0, SMALL.vocab_size, (2, SMALL.n_positions))
    labels = input_ids.clone()
    labels[1, 30:] = -100  # a book's last, padded window
    reference = baseline(input_ids, labels=labels).loss
    reference.backward()
    total, n_tokens = nll_sum(optimized, input_ids, labels)
    (total / n_tokens).backward()
    assert n_tokens == (SMALL.n_positions - 1) + 29
    assert torch.allclose(total / n_tokens, reference, rtol=1e-6, atol=1e-6)
    for name, grad in gradients(baseline).items():
        assert torch.allclose(gradients(optimized)[name], grad, rtol=1e-4, atol=1e-6), name


def test_evaluation_without_gradients_gives_the_training_loss(small_chunks):
    optimized, _ = same_weights(SMALL)
    optimized.eval()
    input_ids = torch.randint(0, SMALL.vocab_size, (3, SMALL.n_positions))
    with_grad, _ = nll_sum(optimized, input_ids, input_ids)
    with torch.no_grad():
        without_grad, _ = nll_sum(optimized, input_ids, input_ids)
    assert torch.allclose(without_grad, with_grad.detach(), rtol=1e-6)


def test_blocked_attention_with_dropout_is_attention_with_its_mask(small_chunks):
    q, k, v = (torch.randn(2, 3, 50, 8, requires_grad=True) for _ in range(3))
    out = causal_attention(q, k, v, dropout_p=0.3)
    # The masks the forward drew, kept for backward, assembled into one (B, H, T, T) mask.
    keep = torch.zeros(6, 50, 50, dtype=torch.bool)
    row = 0
    for block in out.grad_fn.keeps:
        keep[:, row : row + block.shape[1], : block.shape[2]] = block
        row += block.shape[1]
    keep = keep.view(2, 3, 50, 50)
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    got = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    scores = (q @ k.transpose(-1, -2)) / 8**0.5
    scores = scores.masked_fill(torch.ones(50, 50, dtype=torch.bool).triu(1), float("-inf"))
    assert keep.tril().float().sum() / torch.ones(50, 50).tril().sum() / 6 == pytest.approx(0.7, abs=0.05)
    reference = torch.softmax(scores, -1) * keep / keep_probability(0.3) @ v
    reference.backward(grad_out)

    assert torch.allclose(out, reference, atol=1e-5)
    for mine, theirs in zip(got, (q.grad, k.grad, v.grad)):
        assert torch.allclose(mine, theirs, atol=1e-5)


def test_attention_without_dropout_matches_sdpa_blocked_or_not(small_chunks):
    q, k, v = (torch.randn(2, 3, 50, 8) for _ in range(3))
    blocked = model_module._CausalAttentionWithDropout.apply(q, k, v, 0.0)
    assert torch.allclose(blocked, torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-5)


def test_dropout_mask_keeps_one_minus_p():
    keep = dropout_keep_mask((1_000_000,), 0.1)
    assert keep.dtype == torch.bool
    assert keep.float().mean().item() == pytest.approx(keep_probability(0.1), abs=2e-3)
    assert keep_probability(0.1) == pytest.approx(0.9, abs=1e-5)
    assert dropout_keep_mask((1000,), 0.0).all()


@pytest.mark.parametrize("device_type,dropout_p,expected", [
    ("cpu", 0.1, "blocked"),  # SDPA's CPU kernels have no dropout: they would materialise (B, H, T, T)
    ("cpu", 0.0, "sdpa"),  # evaluation, or a model without dropout: PyTorch's flash kernel
    ("cuda", 0.1, "sdpa"),  # flash / memory-efficient attention with dropout in the kernel
    ("cuda", 0.0, "sdpa"),
])
def test_attention_kernel_choice(device_type, dropout_p, expected):
    assert attention_kernel(device_type, dropout_p) == expected


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


def test_baseline_is_the_studys_loop():
    cfg = ModelConfig(n_positions=16, n_embd=16, n_layer=1, n_head=2, vocab_size=100, dropout=0.1)
    model = baseline_model(cfg)
    assert getattr(model, "is_activation_checkpointing", None) or model.is_gradient_checkpointing
    batches = baseline_batches(list(range(100)), cfg.n_positions, batch_size=4, seed=0)
    batch = next(batches)
    assert batch.shape == (4, 16) and batch.dtype == torch.int64
    assert (batch[:, 1:] - batch[:, :-1] == 1).all()  # windows of consecutive token ids
    optimizer = torch.optim.AdamW(model.parameters())
    assert baseline_step(model, optimizer, batch) > 0


def test_bench_defaults_yield_to_overrides():
    assert with_defaults([]) == ["author=baum", "device=cpu", "data.batch_size=4"]
    assert with_defaults(["data.batch_size=16", "author=austen"]) == ["device=cpu", "data.batch_size=16", "author=austen"]


@pytest.mark.slow  # seven fresh processes (one per measurement, for honest peak memory): ~40 s
def test_bench_cli_runs_a_tiny_config_and_ends_with_json(token_cache):
    env = {**os.environ, "STYLOMETRY_DATA": str(CORPUS), "STYLOMETRY_TOKENIZER": str(TOKENIZER)}
    done = subprocess.run(
        [sys.executable, "-m", "stylometry.bench", "model=tiny", "model.n_positions=32", "data.n_train_tokens=1024",
         "data.eval_max_tokens=256", "data.eval_batch_size=4", f"data.cache_dir={token_cache}",
         "--repeats", "1", "--warmup", "0", "--steps", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert BENCH_KEYS <= report.keys()
    assert report["train_tokens_per_s"] > 0 and report["baseline_train_tokens_per_s"] > 0
    assert 0 < report["mfu"] and report["first_step_s"] > 0 and report["eval_fraction_of_epoch"] > 0
