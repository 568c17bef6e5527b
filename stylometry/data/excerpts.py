"""Consecutive excerpts of a text's tokens: how long must a text be before its verdict can be trusted?

    python -m stylometry.attribute <study dir> <texts> --excerpt-tokens 256,1024,4096

One function, so that the language models (stylometry.attribute) and the classical baselines
(stylometry.analysis.baselines) are scored on exactly the same excerpts.
"""

from typing import List

import numpy as np


def excerpts(tokens: np.ndarray, length: int) -> List[np.ndarray]:
    """The text cut into consecutive, non-overlapping excerpts of `length` tokens, in order.

    The tail shorter than `length` is dropped, so every excerpt of a curve's point has the same length;
    a text shorter than `length` gives no excerpt.
    """
    if length < 2:
        raise ValueError(f"an excerpt needs at least 2 tokens (one predicted), not {length}")
    return [tokens[start : start + length] for start in range(0, len(tokens) - length + 1, length)]
