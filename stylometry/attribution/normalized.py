"""The normalized score: a model's loss on a text minus its own mean loss on a reference set that every model of its
seed is scored on alike, so that a model that is simply better at English has no edge.

    python -m stylometry.attribute multirun/corpus/small letter.txt --score normalized --out attribution/a

Comparing two authors' models on one text also compares how well each learned the language: on a small corpus
one seed's model of one author can reach a far lower loss on everything, and its margins outweigh the other
seeds' in the mean over seeds. Each model's loss minus its mean loss on the reference set measures the model
against itself. The reference set is each seed's held-out books of every candidate (stylometry.runs.study:
the books that seed's models never trained on), one weight per book, each cut to the first data.eval_max_tokens
tokens as the study evaluates: the same texts for every model of the seed, none trained on by any of them.
"""

import pandas as pd

LOSS, NORMALIZED = "loss", "normalized"
SCORES = (LOSS, NORMALIZED)
REFERENCE_PREFIX = "reference: "  # a reference book's text name in the scoring, apart from any text's name
REFERENCE_COLUMNS = ["model_author", "seed", "reference_loss", "num_reference_books"]


def reference_losses(reference_scores: pd.DataFrame) -> pd.DataFrame:
    """Per model (model_author, seed): the mean of its losses on the reference books, one weight per book."""
    books = reference_scores[reference_scores["excerpt_tokens"].isna()]
    table = (
        books.groupby(["model_author", "seed"])
        .agg(reference_loss=("loss", "mean"), num_reference_books=("loss", "size"))
        .reset_index()
    )
    return table[REFERENCE_COLUMNS]


def normalized_scores(scores: pd.DataFrame, references: pd.DataFrame) -> pd.DataFrame:
    """The scores with each model's reference loss and its normalized score (loss - reference_loss)."""
    table = scores.merge(references[["model_author", "seed", "reference_loss"]], on=["model_author", "seed"])
    if len(table) != len(scores):  # every model of a seed is scored on its seed's reference books
        missing = scores.merge(references, on=["model_author", "seed"], how="left", indicator=True)
        model = missing[missing["_merge"] == "left_only"].iloc[0]
        raise ValueError(f"model {model['model_author']} seed={model['seed']} has no reference loss")
    table[NORMALIZED] = table["loss"] - table["reference_loss"]
    return table


def judged(scores: pd.DataFrame, score: str) -> pd.DataFrame:
    """The scores the verdicts are computed on: `loss` holding the chosen score."""
    return scores if score == LOSS else scores.assign(loss=scores[NORMALIZED])
