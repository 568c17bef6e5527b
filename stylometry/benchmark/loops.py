"""The two loops the benchmark measures: the study's, as it was written (the study loop), and the trainer's own
step and evaluation (optimized).

    python -m stylometry.bench    # each measured in a worker process (workers.py)

The study loop: `GPT2LMHeadModel` with gradient checkpointing, `model(input_ids, labels=input_ids)`,
`torch.optim.AdamW()` with its defaults, batches from a DataLoader over Python lists of token ids. The
optimized: `trainer.train_step` (`nll_sum`, the trainer's optimizer step) and stylometry.model.evaluate.
"""

import dataclasses
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from stylometry.data.windows import eval_windows, sample_offsets
from stylometry.hardware.distributed import World
from stylometry.model.evaluate import evaluate
from stylometry.model.gpt import build_model
from stylometry.training import loop as trainer


class _Windows:
    """A map-style dataset of windows over a Python list of token ids (the study's batches)."""

    def __init__(self, token_ids: list[int], offsets: list[int], n_positions: int):
        self.token_ids, self.offsets, self.n_positions = token_ids, offsets, n_positions

    def __len__(self):
        return len(self.offsets)

    def __getitem__(self, i):
        start = self.offsets[i]
        return torch.tensor(self.token_ids[start : start + self.n_positions])


def study_model(model_cfg):
    """GPT2LMHeadModel as the study trained it: gradient checkpointing on, fp32 on the CPU."""
    model = build_model(model_cfg)
    # transformers 5 renamed it; the same torch.utils.checkpoint around every block either way.
    (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    return model


def study_batches(token_ids: list[int], n_positions: int, batch_size: int, seed: int):
    rng = random.Random(seed)
    n_windows = len(token_ids) // n_positions
    offsets = [rng.randrange(len(token_ids) - n_positions + 1) for _ in range(n_windows)]
    generator = torch.Generator().manual_seed(seed)
    windows = _Windows(token_ids, offsets, n_positions)
    loader = DataLoader(windows, batch_size=batch_size, shuffle=True, generator=generator)
    while True:
        yield from loader


def study_step(model, optimizer, input_ids) -> float:
    loss = model(input_ids, labels=input_ids).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def optimized_offsets(n_tokens: int, n_positions: int, batch_size: int, seed: int, device):
    """Batches of window offsets at random positions, epoch after epoch, on the device as the trainer has them (an
    epoch's offsets move there at once: no copy, no host sync per step). An epoch's short last batch is left out,
    so that every step is timed as the `batch_size` windows it holds."""
    rng = np.random.default_rng(seed)
    while True:
        for offsets in sample_offsets(n_tokens, n_positions, rng).to(device).split(batch_size):
            if len(offsets) == batch_size:
                yield offsets


def optimized_training(cfg, placement, batch_size: int) -> Callable[[], torch.Tensor]:
    """One `trainer.train_step` of the job's model per call (one batch, no accumulation), on random token ids
    (their values do not change the work)."""
    device = torch.device(placement.device)
    n_positions = cfg.model.n_positions
    # The number of tokens only bounds the window offsets; at least a few batches of distinct windows.
    n_tokens = max(cfg.data.n_train_tokens or 0, 8 * batch_size * n_positions)
    generator = torch.Generator().manual_seed(cfg.seed)
    train_tokens = torch.randint(0, cfg.model.vocab_size, (n_tokens,), generator=generator).to(device)
    cfg = dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, batch_size=batch_size),
        optimizer=dataclasses.replace(cfg.optimizer, grad_accum_steps=1, batch_tokens=None),
    )
    run = trainer.build_run(
        cfg,
        Path(tempfile.gettempdir()),
        placement,
        World(),
        trainer.Inputs(data=None, train_tokens=train_tokens, eval_sets={}),
    )
    run.model.train()
    offsets = optimized_offsets(n_tokens, n_positions, batch_size, cfg.seed, device)
    # The step's summed NLL stays on the device: no host sync per step; the caller syncs once per timed group.
    return lambda: trainer.train_step(run, [next(offsets)], step=0, want_norm=False)[0]


def optimized_evaluation(cfg, placement, n_batches: int) -> Callable[[], list]:
    """`evaluate` (stylometry.model.evaluate) over n_batches batches of `data.eval_batch_size` windows of random
    token ids per call."""
    n_positions, n_windows = cfg.model.n_positions, n_batches * cfg.data.eval_batch_size
    text = np.random.default_rng(cfg.seed).integers(0, cfg.model.vocab_size, n_windows * n_positions)
    eval_sets = {"bench": eval_windows([text], n_positions)}
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(placement.device).eval()
    return lambda: evaluate(model, eval_sets, cfg.data.eval_batch_size, placement)
