"""The two kernels behind nll_sum (stylometry/model/kernels.py), each held equal to PyTorch's own arithmetic.

The whole loss against transformers' model and the study's loop is in tests/test_bench.py and
tests/test_model_device.py; speed is reported by `python -m stylometry.bench`, never asserted here.
"""

import pytest
import torch

from stylometry.model import kernels
from stylometry.model.kernels import (
    attention_kernel,
    causal_attention,
    dropout_keep_mask,
    keep_probability,
    linear_cross_entropy,
)


@pytest.fixture
def small_chunks(monkeypatch):
    # Several output-layer chunks and attention blocks, with a ragged last one of each.
    monkeypatch.setattr(kernels, "LOGIT_ROWS", 40)
    monkeypatch.setattr(kernels, "ATTENTION_ROWS", 20)


def test_the_fused_output_layer_is_linear_then_cross_entropy(small_chunks):
    hidden = torch.randn(90, 16, dtype=torch.float64).float()
    weight = torch.randn(1000, 16)
    targets = torch.randint(0, 1000, (90,))
    targets[85:] = kernels.IGNORE_INDEX  # padding: no loss, no gradient
    total, grad_hidden, grad_weight = linear_cross_entropy(hidden, weight, targets, want_grads=True)
    h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    reference = torch.nn.functional.cross_entropy(h @ w.t(), targets, reduction="sum")
    reference.backward()
    assert torch.allclose(total, reference, rtol=1e-5)
    assert torch.allclose(grad_hidden, h.grad, atol=1e-5) and torch.allclose(grad_weight, w.grad, atol=1e-5)


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
    blocked = kernels.CausalAttentionWithDropout.apply(q, k, v, 0.0)
    assert torch.allclose(blocked, torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-5)


def test_dropout_mask_keeps_one_minus_p():
    keep = dropout_keep_mask((1_000_000,), 0.1)
    assert keep.dtype == torch.bool
    assert keep.float().mean().item() == pytest.approx(keep_probability(0.1), abs=2e-3)
    assert keep_probability(0.1) == pytest.approx(0.9, abs=1e-5)
    assert dropout_keep_mask((1000,), 0.0).all()


@pytest.mark.parametrize(
    "device_type,dropout_p,expected",
    [
        ("cpu", 0.1, "blocked"),  # SDPA's CPU kernels have no dropout: they would materialise (B, H, T, T)
        ("cpu", 0.0, "sdpa"),  # evaluation, or a model without dropout: PyTorch's flash kernel
        ("cuda", 0.1, "sdpa"),  # flash / memory-efficient attention with dropout in the kernel
        ("cuda", 0.0, "sdpa"),
    ],
)
def test_attention_kernel_choice(device_type, dropout_p, expected):
    assert attention_kernel(device_type, dropout_p) == expected
