"""A model's loss on texts: the one scoring that training, attribution, the benchmark and the analysis share.

    python -m stylometry.attribute multirun/corpus/paper letter.txt --out attribution/letter   # evaluate() per model

Each text comes as windows (stylometry/data/windows.py: eval_windows); its loss is the total NLL over its
scored tokens divided by their number (`SetLoss`; the trainer writes them into the run dir). A data-parallel
job's processes each score a share of the windows, and the sums are added.
"""

from dataclasses import dataclass
from typing import List

import numpy as np
import torch

from stylometry.hardware import distributed
from stylometry.hardware.device import Placement
from stylometry.hardware.distributed import World
from stylometry.model.gpt import nll_sum, token_nll


@dataclass(frozen=True)
class SetLoss:
    dataset: str  # the evaluation set's name
    loss: float  # mean NLL per predicted token, nats
    tokens: int  # predicted tokens


@torch.no_grad()
def evaluate(model, eval_sets, batch_size: int, placement: Placement, world: World = World()) -> List[SetLoss]:
    """The loss on each evaluation set (name -> EvalBatches): total NLL over its predicted tokens / their number."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows = []
    for name, windows in eval_sets.items():
        total = 0.0
        input_ids, labels = windows.input_ids, windows.labels
        if world.size > 1:
            input_ids, labels = (
                input_ids.tensor_split(world.size)[world.rank],
                labels.tensor_split(world.size)[world.rank],
            )
        for batch_ids, batch_labels in zip(input_ids.split(batch_size), labels.split(batch_size)):
            with placement.autocast():
                nll, _ = nll_sum(model, batch_ids.to(device), batch_labels.to(device))
            total += float(nll)
        if world.size > 1:
            total = float(distributed.all_sum(torch.tensor(total, dtype=torch.float64, device=device), world))
        rows.append(SetLoss(name, total / windows.n_predicted, windows.n_predicted))
    model.train(was_training)
    return rows


@torch.no_grad()
def token_losses(model, windows, batch_size: int, placement: Placement, n_tokens: int) -> np.ndarray:
    """One book's loss at every token (float32, n_tokens long; NaN where a token is not predicted: the first, and
    each window's first): the terms whose mean is evaluate()'s loss on the same windows, from one pass."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    losses = np.full(n_tokens, np.nan, dtype=np.float32)
    for batch_ids, batch_labels, starts in zip(
        windows.input_ids.split(batch_size), windows.labels.split(batch_size), windows.starts.split(batch_size)
    ):
        with placement.autocast():
            nll = token_nll(model, batch_ids.to(device), batch_labels.to(device)).cpu().numpy()
        predicted = batch_labels[:, 1:].numpy() != -100
        # Position p of a window predicts its token p + 1, the book's token start + p + 1.
        places = starts.numpy()[:, None] + np.arange(1, batch_ids.shape[1])[None, :]
        losses[places[predicted]] = nll[predicted]
    model.train(was_training)
    return losses


@torch.no_grad()
def window_nll(
    model, input_ids: torch.Tensor, labels: torch.Tensor, batch_size: int, placement: Placement
) -> np.ndarray:
    """Each window's total NLL over its scored tokens (float64; labels -100 are not scored), `batch_size` windows a
    pass: many short texts (attribute's excerpts, a window or a few each) are scored as one stack of windows, not
    one small batch per text. Summed per text and divided by its scored tokens, it is evaluate()'s loss."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums = []
    for batch_ids, batch_labels in zip(input_ids.split(batch_size), labels.split(batch_size)):
        with placement.autocast():
            nll = token_nll(model, batch_ids.to(device), batch_labels.to(device))
        sums.append(nll.sum(dim=1, dtype=torch.float64).cpu().numpy())
    model.train(was_training)
    return np.concatenate(sums) if sums else np.zeros(0)
