"""The two autograd kernels behind nll_sum (stylometry/model/gpt.py): blocked attention with dropout on a CPU, and the
output layer fused with its cross-entropy.

    python -m stylometry.bench          # their speed: training tokens/s against the study's loop
    python -m pytest tests/test_kernels.py   # each held equal to PyTorch's own arithmetic

- `LinearCrossEntropy`: the output layer and the cross-entropy in one step over chunks of rows, so a batch's
  logits (B x 1024 x 50,257 floats, 206 MB per window) are never held at once; each chunk's gradients are made
  in the same pass (softmax minus one-hot, times the weights), so the logits are computed only once.
- `CausalAttentionWithDropout`: SDPA has no CPU kernel with dropout and falls back to materialising (B, H, T, T)
  scores, probabilities and masks per layer; this works in blocks of query rows, skips the blocks above the
  diagonal and draws its dropout mask from 16-bit random lanes (3x or more faster than `bernoulli_`).
"""

import math

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100  # labels that are not predicted (padding), as in transformers' loss
# Rows of the output layer handled at once: 512 x 50,304 fp32 logits are 103 MB. Fewer rows leave
# MKL too few to amortise packing the weights; more, and the softmax passes miss the cache.
LOGIT_ROWS = 512
# On a GPU the chunk is a launch-overhead question, not a cache one: 4,096 rows (824 MB fp32) per chunk.
LOGIT_ROWS_GPU = 4096
VOCAB_MULTIPLE = 64  # the output layer's columns are padded to this for aligned matmuls
# Query rows per attention block on the CPU: a block's scores, (batch x heads) x 64 x 1,024 fp32,
# are 8 MB at batch 4, so they stay in the last-level cache between the kernels that read them.
# (32 to 128 rows measured alike here; 256 and more slower.)
ATTENTION_ROWS = 64


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """F.dropout, with the CPU's mask drawn as in attention (bernoulli_ is a fifth of a CPU step's dropout cost)."""
    if not training or p == 0 or x.device.type != "cpu":
        return F.dropout(x, p, training)
    return x * dropout_keep_mask(x.shape, p, x.device) * (1.0 / keep_probability(p))


# --- attention -------------------------------------------------------------------------------------


def attention_kernel(device_type: str, dropout_p: float) -> str:
    """`sdpa` (PyTorch's fused kernels), or `blocked` where SDPA would materialise its dropout (CPU)."""
    return "blocked" if dropout_p > 0 and device_type == "cpu" else "sdpa"


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float) -> torch.Tensor:
    """softmax(q k^T / sqrt(head dim), causal) with dropout on the probabilities, times v; all (B, H, T, D)."""
    if attention_kernel(q.device.type, dropout_p) == "blocked":
        return CausalAttentionWithDropout.apply(q, k, v, dropout_p)
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)


def dropout_keep_mask(shape, dropout_p: float, device=None) -> torch.Tensor:
    """A bool mask, True (kept) with probability 1 - p, from 16-bit random lanes of 64-bit draws.

    torch's bernoulli_ makes one 32-bit draw per element (~100 M masks/s here); four 16-bit lanes per
    64-bit draw give 300 M/s or more. The drop probability is p rounded to a multiple of 2^-16
    (0.1 -> 0.100006); `keep_probability` gives the rescaling that keeps the expectation exact.
    """
    n = math.prod(shape)
    draws = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    lanes = draws.view(torch.int16)[:n].view(shape)
    return lanes >= -(2**15) + _drop_lanes(dropout_p)


def keep_probability(dropout_p: float) -> float:
    return 1.0 - _drop_lanes(dropout_p) / 2**16


def _drop_lanes(dropout_p: float) -> int:
    return round(dropout_p * 2**16)


class CausalAttentionWithDropout(torch.autograd.Function):
    """Causal attention with dropout on the probabilities, in blocks of query rows (CPU training).

    Forward keeps each block's probabilities (fp32) and keep mask (bool) for backward: with the
    blocks above the diagonal skipped (blocks of 64 rows) that is 53% of one (B, H, T, T) tensor and
    mask per layer, less than SDPA's math path keeps. Backward is the flash-attention gradient with
    the mask applied.
    """

    @staticmethod
    def forward(ctx, q, k, v, dropout_p):
        n_batch, n_head, n_positions, head_dim = q.shape
        scale = head_dim**-0.5
        q = (q * scale).reshape(n_batch * n_head, n_positions, head_dim)  # contiguous copies, (BH, T, D)
        k = k.reshape(q.shape)
        v = v.reshape(q.shape)
        keep_scale = 1.0 / keep_probability(dropout_p)
        rows = min(ATTENTION_ROWS, n_positions)
        scratch = q.new_empty(q.shape[0] * rows * n_positions)
        zero = q.new_zeros(())
        # -inf above the diagonal of a diagonal block: an add is 5x faster than a masked_fill there.
        causal_bias = torch.full((rows, rows), float("-inf"), device=q.device).triu_(1)
        k_t = k.transpose(1, 2).contiguous()  # (BH, D, T): bmm reads it faster than a transposed view
        out_blocks, probs, keeps = [], [], []
        for start in range(0, n_positions, rows):
            end = min(start + rows, n_positions)
            scores = scratch[: q.shape[0] * (end - start) * end].view(q.shape[0], end - start, end)
            torch.bmm(q[:, start:end], k_t[:, :, :end], out=scores)
            scores[:, :, start:end].add_(causal_bias[: end - start, : end - start])
            prob = torch.softmax(scores, dim=-1)
            keep = dropout_keep_mask(prob.shape, dropout_p, q.device)
            out_blocks.append(torch.bmm(torch.where(keep, prob, zero, out=scores), v[:, :end]))
            probs.append(prob)
            keeps.append(keep)
        out = torch.cat(out_blocks, dim=1).mul_(keep_scale)
        ctx.save_for_backward(q, k, v, out)
        ctx.probs, ctx.keeps, ctx.rows, ctx.keep_scale = probs, keeps, rows, keep_scale
        ctx.shape = (n_batch, n_head, n_positions, head_dim)
        return out.view(ctx.shape)

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out = ctx.saved_tensors
        n_positions, rows = q.shape[1], ctx.rows
        grad_out = grad_out.reshape(q.shape) * ctx.keep_scale  # the dropout's rescaling, folded into dO
        # Flash attention's D: sum_j P_ij dP_ij per row = dO_i . O_i (both with the rescaling).
        row_dot = (grad_out * out).sum(-1, keepdim=True) / ctx.keep_scale
        scratch = q.new_empty(q.shape[0] * rows * n_positions)
        zero = q.new_zeros(())
        v_t = v.transpose(1, 2).contiguous()
        grad_q_blocks, grad_k, grad_v = [], torch.zeros_like(k), torch.zeros_like(v)
        for i, start in enumerate(range(0, n_positions, rows)):
            end = min(start + rows, n_positions)
            prob, keep = ctx.probs[i], ctx.keeps[i]
            work = scratch[: q.shape[0] * (end - start) * end].view(q.shape[0], end - start, end)
            grad_v[:, :end] += torch.bmm(
                torch.where(keep, prob, zero, out=work).transpose(1, 2), grad_out[:, start:end]
            )
            torch.bmm(grad_out[:, start:end], v_t[:, :, :end], out=work)  # dP; dropped entries are zeroed next
            grad_scores = torch.where(keep, work, zero, out=work).sub_(row_dot[:, start:end]).mul_(prob)
            grad_q_blocks.append(torch.bmm(grad_scores, k[:, :end]))
            grad_k[:, :end] += torch.bmm(grad_scores.transpose(1, 2), q[:, start:end])  # q is pre-scaled
        ctx.probs = ctx.keeps = None
        grad_q = torch.cat(grad_q_blocks, dim=1).mul_(ctx.shape[-1] ** -0.5)
        return grad_q.view(ctx.shape), grad_k.view(ctx.shape), grad_v.view(ctx.shape), None


# --- output layer and loss --------------------------------------------------------------------------


def linear_cross_entropy(hidden, weight, targets, want_grads: bool, row_nll: torch.Tensor | None = None):
    """(sum of -log softmax(hidden weight^T)[target] over rows with a target, d/dhidden, d/dweight).

    row_nll: a float32 tensor of one value per row, filled with each row's -log p(target) (0 where there is none):
    a text's per-token losses from the same pass that sums them.

    Chunks of LOGIT_ROWS rows (LOGIT_ROWS_GPU off the CPU); each chunk's logits buffer becomes its
    log-probabilities, then its softmax minus one-hot (the gradient of the loss with respect to the logits), in place.
    Under autocast the matmuls run in the autocast dtype and the softmax in fp32, as autocast would.
    """
    device_type = hidden.device.type
    compute_dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else weight.dtype
    n_vocab = len(weight)
    # Rows of zeros up to a multiple of 64: with 50,257 columns every row of the logits is misaligned
    # and MKL's sgemm runs at two thirds of its speed. The padding's logits are set to -inf below.
    n_padded = -(-n_vocab // VOCAB_MULTIPLE) * VOCAB_MULTIPLE
    chunk_rows = LOGIT_ROWS if device_type == "cpu" else LOGIT_ROWS_GPU
    with torch.autocast(device_type, enabled=False):
        h_all = hidden.to(compute_dtype)
        w = F.pad(weight, (0, 0, 0, n_padded - n_vocab)).to(compute_dtype)
        valid_all = targets != IGNORE_INDEX
        safe_targets = targets.masked_fill(~valid_all, 0)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty(hidden.shape, dtype=torch.float32, device=hidden.device) if want_grads else None
        grad_weight = (
            torch.zeros((n_padded, weight.shape[1]), dtype=torch.float32, device=weight.device) if want_grads else None
        )
        buffer = torch.empty(min(chunk_rows, len(targets)) * n_padded, dtype=torch.float32, device=hidden.device)
        for start in range(0, len(targets), chunk_rows):
            end = min(start + chunk_rows, len(targets))
            h, target, valid = h_all[start:end], safe_targets[start:end, None], valid_all[start:end, None]
            logits = buffer[: (end - start) * n_padded].view(end - start, n_padded)  # one buffer: no fresh pages
            if compute_dtype == torch.float32:
                torch.mm(h, w.t(), out=logits)
            else:
                logits.copy_(torch.mm(h, w.t()))
            logits[:, n_vocab:] = float("-inf")
            log_probs = torch.ops.aten._log_softmax.out(logits, 1, False, out=logits)  # in place
            target_log_probs = log_probs.gather(1, target).masked_fill_(~valid, 0.0)
            total -= target_log_probs.sum()
            if row_nll is not None:
                row_nll[start:end] = -target_log_probs[:, 0]
            if want_grads:
                grad_logits = log_probs.exp_().scatter_add_(1, target, -valid.to(log_probs.dtype)).to(compute_dtype)
                # Rows without a target get no gradient: mask the small tensors, not the chunk.
                grad_hidden[start:end] = torch.mm(grad_logits, w).mul_(valid)
                if compute_dtype == torch.float32:  # in place: no 25 MB temporary per chunk
                    grad_weight.addmm_(grad_logits.t(), h * valid)
                else:
                    grad_weight += torch.mm(grad_logits.t(), h * valid).float()
    return total, grad_hidden, grad_weight[:n_vocab] if want_grads else None


class LinearCrossEntropy(torch.autograd.Function):
    """The summed cross-entropy of hidden @ weight^T; its gradients are made in forward, chunk by chunk."""

    @staticmethod
    def forward(ctx, hidden, weight, targets):
        total, grad_hidden, grad_weight = linear_cross_entropy(hidden, weight, targets, want_grads=True)
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.dtypes = (hidden.dtype, weight.dtype)
        return total

    @staticmethod
    def backward(ctx, grad_total):
        grad_hidden, grad_weight = ctx.saved_tensors
        return (grad_hidden * grad_total).to(ctx.dtypes[0]), (grad_weight * grad_total).to(ctx.dtypes[1]), None
