"""The loss every number comes from (golden values against transformers' own), and device choice."""

import math

import pytest
import torch

from stylometry.config.schema import ConfigError, DeviceConfig, ModelConfig
from stylometry.hardware.device import Hardware, choose_placement
from stylometry.model.gpt import build_model, nll_sum


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig(n_positions=16, n_embd=16, n_layer=2, n_head=2, vocab_size=100, dropout=0.0)).eval()


def test_nll_sum_is_the_studys_loss_times_tokens(model):
    input_ids = torch.randint(0, 100, (3, 16))
    reference = model(input_ids, labels=input_ids).loss  # the study's model(input_ids, labels=input_ids)
    total, n = nll_sum(model, input_ids, input_ids)
    assert n == 3 * 15
    assert torch.allclose(total / n, reference, atol=1e-6)
    with torch.no_grad():
        total_eval, _ = nll_sum(model, input_ids, input_ids)
    assert torch.allclose(total_eval, total, atol=1e-4)


def test_padding_is_never_counted(model):
    short = torch.randint(0, 100, (1, 9))
    padded = torch.zeros(1, 16, dtype=torch.long)
    padded[0, :9] = short
    labels = torch.full_like(padded, -100)
    labels[0, :9] = short
    with torch.no_grad():
        total, n = nll_sum(model, padded, labels)
        expected = model(short, labels=short).loss * 8
    assert n == 8
    assert torch.allclose(total, expected, atol=1e-4)


def test_golden_loss_of_a_uniform_model(model):
    # Zero token embeddings (tied to the output layer) make every logit 0: the loss is ln(vocab) exactly.
    with torch.no_grad():
        model.transformer.wte.weight.zero_()
        total, n = nll_sum(model, torch.arange(32).reshape(2, 16), torch.arange(32).reshape(2, 16))
    assert n == 30
    assert total.item() / n == pytest.approx(math.log(100), abs=1e-6)


@pytest.mark.parametrize(
    "kind,precision,hardware,expected",
    [
        ("auto", "auto", Hardware(), ("cpu", "fp32")),
        ("auto", "auto", Hardware(mps=True), ("mps", "fp32")),
        ("auto", "auto", Hardware(cuda_count=2, bf16=True), ("cuda:0", "bf16")),
        ("auto", "auto", Hardware(cuda_count=1, bf16=False), ("cuda:0", "fp16")),
        ("cpu", "auto", Hardware(cuda_count=1, bf16=True), ("cpu", "fp32")),
        ("cuda", "fp32", Hardware(cuda_count=1), ("cuda:0", "fp32")),
    ],
)
def test_device_and_precision_choice(kind, precision, hardware, expected):
    placement = choose_placement(DeviceConfig(type=kind, precision=precision), hardware)
    assert (placement.device, placement.precision) == expected
    assert placement.uses_grad_scaler == (placement.precision == "fp16")


def test_gpu_index_is_placed():
    assert choose_placement(DeviceConfig(), Hardware(cuda_count=4, bf16=True), gpu_index=3).device == "cuda:3"


@pytest.mark.parametrize(
    "kind,precision,hardware,key",
    [
        ("cuda", "auto", Hardware(), "device.type=cuda"),
        ("mps", "auto", Hardware(), "device.type=mps"),
        ("cpu", "bf16", Hardware(), "device.precision=bf16"),
        ("cuda", "bf16", Hardware(cuda_count=1, bf16=False), "device.precision=bf16"),
    ],
)
def test_impossible_device_requests_fail_clearly(kind, precision, hardware, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        choose_placement(DeviceConfig(type=kind, precision=precision), hardware)


def test_autocast_is_a_no_op_in_fp32():
    placement = choose_placement(DeviceConfig(type="cpu"), Hardware())
    with placement.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
