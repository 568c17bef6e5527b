"""The GPT-2 each job trains, and the one loss every number in this project comes from."""

import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from stylometry.config import ModelConfig

# Rows of logits materialised at once when evaluating: 2,048 x 50,257 fp32 logits are 400 MB.
EVAL_LOGIT_ROWS = 2048


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


def nll_sum(model: GPT2LMHeadModel, input_ids: torch.Tensor, labels: torch.Tensor) -> tuple:
    """(total negative log-likelihood, predicted tokens) of `labels` shifted by one; -100 is not counted.

    The same quantity as `model(input_ids, labels=input_ids).loss * n` (the study's), but the
    logits are made a slice of rows at a time, so evaluation never holds a whole batch of them.
    """
    hidden = model.transformer(input_ids=input_ids).last_hidden_state[:, :-1].reshape(-1, model.config.n_embd)
    targets = labels[:, 1:].reshape(-1)
    if torch.is_grad_enabled():  # backward needs every row's logits anyway: make them in one go
        logits = model.lm_head(hidden).float()
        total = F.cross_entropy(logits, targets, ignore_index=-100, reduction="sum")
    else:
        total = sum(
            F.cross_entropy(model.lm_head(hidden[i : i + EVAL_LOGIT_ROWS]).float(), targets[i : i + EVAL_LOGIT_ROWS],
                            ignore_index=-100, reduction="sum")
            for i in range(0, len(targets), EVAL_LOGIT_ROWS)
        )
    return total, int((targets != -100).sum())
