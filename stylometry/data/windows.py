"""Windows of tokens: the random ones an epoch trains on, and the consecutive ones a text is scored on.

    python -m stylometry.train author=baum seed=0     # sample_offsets() every epoch; eval_windows() once per set

An epoch is len(training text) // n_positions windows at random offsets (`sample_offsets`). A text is scored on
consecutive windows over each of its books, never spanning two (`eval_windows`): the loss of every token but a
window's first, over the tokens scored.
"""

from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch

from stylometry.config.schema import ConfigError


def num_windows(n_tokens: int, n_positions: int, multiple_of: int = 1) -> int:
    """The windows of one epoch over n_tokens training tokens, or a ConfigError if there are too few to train on.

    multiple_of: the job's processes; a data-parallel job needs at least one window for each.
    """
    n_windows = n_tokens // n_positions
    if n_windows < 1:
        raise ConfigError(
            f"data.n_train_tokens={n_tokens} is shorter than one window (model.n_positions={n_positions})"
        )
    if n_windows < multiple_of:
        raise ConfigError(
            f"data.n_train_tokens={n_tokens} holds {n_windows} windows, fewer than the job's {multiple_of} processes"
        )
    return n_windows


def sample_offsets(n_tokens: int, n_positions: int, rng: np.random.Generator, multiple_of: int = 1) -> torch.Tensor:
    """One epoch: the start offsets of n_tokens // n_positions windows at random positions.

    multiple_of: a data-parallel job drops the last few windows so that every process gets as many.
    """
    n_windows = num_windows(n_tokens, n_positions, multiple_of)
    offsets = torch.from_numpy(rng.integers(0, n_tokens - n_positions + 1, size=n_windows))
    return offsets[: n_windows - n_windows % multiple_of]


def sample_windows(train_tokens: torch.Tensor, n_positions: int, rng: np.random.Generator) -> torch.Tensor:
    """One epoch: len // n_positions windows at random offsets, as a (windows, n_positions) index tensor."""
    return sample_offsets(len(train_tokens), n_positions, rng)[:, None] + torch.arange(n_positions)


@dataclass
class EvalBatches:
    input_ids: torch.Tensor  # (windows, n_positions), padded with token 0 past each window's end
    labels: torch.Tensor  # the same ids, -100 on padding, so padding is never counted
    n_predicted: int  # tokens whose loss is averaged: each window predicts all but its first token
    starts: torch.Tensor | None = None  # each window's first token's offset in its book (per-token losses' places)


def eval_windows(texts: List[np.ndarray], n_positions: int, stride: Optional[int] = None) -> EvalBatches:
    """Windows over each book and the tokens each scores (labels; -100 elsewhere).

    stride null (or n_positions): consecutive non-overlapping windows, the study's (each window's first
    token is not scored: it has no context); a last window shorter than 2 tokens predicts nothing. A smaller
    stride starts a window every `stride` tokens and
    scores only the tokens no earlier window scored (HF's sliding-window perplexity), so each scored
    token but the first window's sees at least n_positions - stride tokens of context.
    """
    stride = stride or n_positions
    rows = []  # (window tokens, first scored position in the window, offset of the window in its book)
    for tokens in texts:
        scored_until = 1  # the book's first token is never predicted
        for start in range(0, len(tokens), stride):
            window = tokens[start : start + n_positions]
            first = max(1, scored_until - start)  # a window's first token has no context: never scored
            if len(window) > first:
                rows.append((torch.from_numpy(window.astype(np.int64)), first, start))
            scored_until = start + len(window)
            if scored_until == len(tokens):
                break
    input_ids = torch.zeros(len(rows), n_positions, dtype=torch.long)
    labels = torch.full((len(rows), n_positions), -100, dtype=torch.long)
    for i, (row, first, _) in enumerate(rows):
        input_ids[i, : len(row)] = row
        labels[i, first : len(row)] = row[first:]
        labels[i, 0] = row[0]  # never a target (labels shift by one); kept as the study's layout had it
    return EvalBatches(
        input_ids,
        labels,
        n_predicted=sum(len(row) - first for row, first, _ in rows),
        starts=torch.tensor([start for _, _, start in rows], dtype=torch.long),
    )
