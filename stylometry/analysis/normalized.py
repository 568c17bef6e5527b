"""The normalized score: a model's loss on a text minus its own mean loss on a reference set that every model of its
seed is scored on alike, so that a model that is simply better at English has no edge.

    python -m stylometry.analyze multirun/corpus --score normalized --out analysis/normalized
    python -m stylometry.attribute multirun/corpus/small letter.txt --score normalized --out attribution/a

Comparing two authors' models on one text also compares how well each learned the language: on a small corpus
one seed's model of one author can reach a far lower loss on everything, and its margins outweigh the other
seeds' in the mean over seeds. Each model's loss minus its mean loss on the reference set measures the model
against itself. The reference set is each seed's held-out books of every candidate (stylometry.runs.study: the
books that seed's models never trained on), one weight per book: the same texts for every model of the seed, none
trained on by any of them. The analysis takes them at each epoch (stats.normalized); an attribution takes them once,
from the final models, each book cut to the first data.eval_max_tokens tokens as the study evaluates.
"""

import pandas as pd

LOSS, NORMALIZED = "loss", "normalized"  # what is compared: the loss as logged, or the normalized score
SCORES = (LOSS, NORMALIZED)


def reference_losses(book_losses: pd.DataFrame, model: list[str]) -> pd.DataFrame:
    """Per model (the `model` columns): the mean of its losses on the reference books, one weight per book, in
    `reference_loss`, and how many books in `num_reference_books`."""
    table = book_losses.groupby(model).agg(reference_loss=("loss", "mean"), num_reference_books=("loss", "size"))
    return table.reset_index()[model + ["reference_loss", "num_reference_books"]]


def normalized_scores(
    scores: pd.DataFrame, references: pd.DataFrame, model: list[str], require: bool = True
) -> pd.DataFrame:
    """The scores with each model's reference loss and its normalized score (loss - reference_loss). A model without
    a reference loss is a ValueError naming it where `require`, else NaN."""
    table = scores.merge(references[model + ["reference_loss"]], on=model, how="left")
    missing = table[table["reference_loss"].isna()]
    if require and len(missing):
        raise ValueError(f"model {', '.join(f'{key}={missing.iloc[0][key]}' for key in model)} has no reference loss")
    table[NORMALIZED] = table["loss"] - table["reference_loss"]
    return table


def judged(scores: pd.DataFrame, score: str) -> pd.DataFrame:
    """The scores the verdicts are computed on: `loss` holding the chosen score."""
    return scores if score == LOSS else scores.assign(loss=scores[NORMALIZED])
