"""The GPT-2 each job trains, and the one loss every number in this project comes from.

    python -m stylometry.bench          # how fast nll_sum trains and evaluates, against the study's loop

The model is transformers' `GPT2LMHeadModel` (checkpoints load with `from_pretrained`). `nll_sum` runs
its forward pass itself, with the same arithmetic as `model(input_ids, labels=input_ids)` (a test holds
them equal to float tolerance), so that the two costs that dominate a step can be cut:

The two kernels live in stylometry/model/kernels.py:

- The output layer and the cross-entropy are one step (`LinearCrossEntropy`) over chunks of rows: a
  batch's logits (B x 1024 x 50,257 floats, 206 MB per window) are never held at once. When gradients
  are wanted, each chunk's gradients are made in the same pass (softmax minus one-hot, times the
  weights), so backward is a scale by the incoming gradient and the logits are computed only once.
- Attention dropout on a CPU (the study's attn_pdrop=0.1): SDPA has no CPU kernel with dropout and
  falls back to materialising (B, H, T, T) scores, probabilities and masks per layer.
  `CausalAttentionWithDropout` works in blocks of query rows, skips the blocks above the diagonal
  and draws its dropout mask from 16-bit random lanes (3x or more faster than `bernoulli_`).
  On CUDA, and without dropout, SDPA does it.
"""

import importlib.util
import logging

import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from stylometry.config.schema import ModelConfig
from stylometry.model.kernels import IGNORE_INDEX, LinearCrossEntropy, causal_attention, dropout, linear_cross_entropy

log = logging.getLogger(__name__)


def build_model(cfg: ModelConfig) -> GPT2LMHeadModel:
    config = GPT2Config(
        n_positions=cfg.n_positions,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        vocab_size=cfg.vocab_size,
        resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout,
    )
    return GPT2LMHeadModel(config)


def flops_per_token(cfg: ModelConfig) -> float:
    """Training FLOPs per token (forward + backward), as PaLM and nanoGPT count them for MFU.

    6 per weight of every matrix multiply (the layers' 12 d^2 and the output layer's vocab x d),
    plus 12 L T d for the attention scores and their weighted sum (the causal half not subtracted).
    """
    d, n_layer, n_positions = cfg.n_embd, cfg.n_layer, cfg.n_positions
    matmul_weights = n_layer * 12 * d * d + cfg.vocab_size * d
    return 6 * matmul_weights + 12 * n_layer * n_positions * d


def nll_sum(model: GPT2LMHeadModel, input_ids: torch.Tensor, labels: torch.Tensor) -> tuple:
    """(total negative log-likelihood, predicted tokens) of `labels` shifted by one; -100 is not counted.

    The same quantity as `model(input_ids, labels=input_ids).loss * n` (the study's); dropout as
    the model's mode says (train or eval).
    """
    hidden = _final_hidden(model, input_ids)[:, :-1].reshape(-1, model.config.n_embd)
    targets = labels[:, 1:].reshape(-1)
    weight = model.lm_head.weight
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        total = LinearCrossEntropy.apply(hidden, weight, targets)
    else:
        total = linear_cross_entropy(hidden, weight, targets, want_grads=False)[0]
    # Training passes labels=input_ids: every position counts, and counting needs no device sync.
    n_predicted = targets.numel() if labels is input_ids else int((targets != IGNORE_INDEX).sum())
    return total, n_predicted


def token_nll(model: GPT2LMHeadModel, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each position's negative log-likelihood of its next label, (windows, positions - 1) in float32, 0 where the
    label is -100: the terms whose sum is nll_sum's, from the same kernel."""
    hidden = _final_hidden(model, input_ids)[:, :-1].reshape(-1, model.config.n_embd)
    targets = labels[:, 1:].reshape(-1)
    row_nll = torch.empty(len(targets), dtype=torch.float32, device=hidden.device)
    linear_cross_entropy(hidden, model.lm_head.weight, targets, want_grads=False, row_nll=row_nll)
    return row_nll.view(len(input_ids), -1)


def _final_hidden(model: GPT2LMHeadModel, input_ids: torch.Tensor) -> torch.Tensor:
    """GPT2Model.forward's arithmetic (pre-LayerNorm blocks, tanh GELU, learned positions), minus its overheads."""
    config, trunk = model.config, model.transformer
    _check_supported(config)
    training = model.training
    n_batch, n_positions = input_ids.shape
    d, n_head = config.n_embd, config.n_head
    eps = config.layer_norm_epsilon
    x = F.embedding(input_ids, trunk.wte.weight) + trunk.wpe.weight[:n_positions]
    x = dropout(x, config.embd_pdrop, training)
    for block in trunk.h:
        h = F.layer_norm(x, (d,), block.ln_1.weight, block.ln_1.bias, eps)
        qkv = _conv1d(h, block.attn.c_attn).view(n_batch, n_positions, 3, n_head, d // n_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (batch, heads, positions, head dim)
        a = causal_attention(q, k, v, config.attn_pdrop if training else 0.0)
        a = a.transpose(1, 2).reshape(n_batch, n_positions, d)
        x = x + dropout(_conv1d(a, block.attn.c_proj), config.resid_pdrop, training)
        h = F.layer_norm(x, (d,), block.ln_2.weight, block.ln_2.bias, eps)
        h = _conv1d(F.gelu(_conv1d(h, block.mlp.c_fc), approximate="tanh"), block.mlp.c_proj)
        x = x + dropout(h, config.resid_pdrop, training)
    return F.layer_norm(x, (d,), trunk.ln_f.weight, trunk.ln_f.bias, eps)


def _conv1d(x: torch.Tensor, layer) -> torch.Tensor:
    """transformers' Conv1D (a linear layer with its weight stored as (in, out))."""
    return torch.addmm(layer.bias, x.reshape(-1, x.shape[-1]), layer.weight).view(*x.shape[:-1], -1)


def _check_supported(config: GPT2Config) -> None:
    unsupported = {
        "activation_function": config.activation_function != "gelu_new",
        "scale_attn_weights": not config.scale_attn_weights,
        "scale_attn_by_inverse_layer_idx": config.scale_attn_by_inverse_layer_idx,
        "reorder_and_upcast_attn": config.reorder_and_upcast_attn,
        "add_cross_attention": config.add_cross_attention,
        "n_inner": config.n_inner is not None,
    }
    bad = [key for key, is_bad in unsupported.items() if is_bad]
    if bad:
        raise ValueError(f"nll_sum implements GPT-2 as build_model makes it; this model changes {bad}")


def optimizer_options(device_type: str) -> dict:
    """AdamW's implementation: fused (one kernel over every parameter) on CUDA and CPU, else torch's default.

    On this project's CPU the fused step takes 7 ms against 23 ms for the per-parameter loop.
    """
    return {"fused": True} if device_type in ("cuda", "cpu") else {}


def maybe_compile(loss_fn, enabled: bool, device_type: str):
    """torch.compile(loss_fn) where asked for and meant for (CUDA with Triton); else loss_fn, said in the log.

    On a CPU inductor spends ~30 s compiling even the tiny model (against a start-up of under a
    second), with no measured gain over the kernels above, so a CPU job runs eagerly even when asked.
    """
    if not enabled:
        return loss_fn
    if device_type != "cuda" or importlib.util.find_spec("triton") is None:
        log.warning("device.compile=true needs CUDA with Triton; this job (%s) runs without torch.compile", device_type)
        return loss_fn
    return torch.compile(loss_fn)
