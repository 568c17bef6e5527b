"""The classical methods on every questioned text (attribute --baselines): naive Bayes and Burrows' Delta beside the
language models' verdicts.

    python -m stylometry.attribute multirun/mycorpus/small disputed/ --baselines --out attribution/disputed

For each seed, both methods are fitted on exactly the training text of each candidate's model of that seed, and
attribute each text that seed's models may score (the analysis's classifiers and its rebuilding of the training
texts from the run dirs: stylometry.analysis.baselines), read as the models read it (the same tokens, decoded),
and each of its excerpts that the models score (--excerpt-tokens). Per text (and excerpt) and method: the author
most seeds name (ties: the first by name), and in how many seeds each was named.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from stylometry.analysis.baselines import DELTA, NAIVE_BAYES, burrows_delta, decode, naive_bayes, seed_texts
from stylometry.attribution.texts import Text
from stylometry.attribution.verdicts import UNIT, seed_counts
from stylometry.data.excerpts import excerpts
from stylometry.runs.study import Model, Study

VOTE_COLUMNS = ["text", "excerpt_tokens", "excerpt", "method", "seed", "author"]
METHODS = {NAIVE_BAYES: ("naive_bayes", naive_bayes), DELTA: ("burrows_delta", burrows_delta)}  # method: column, build


def baseline_votes(study: Study, texts: list[Text], excerpt_lengths: Sequence[int] = ()) -> pd.DataFrame:
    """One row per seed, method and text (and excerpt: the same excerpts the models score, stylometry.data.excerpts):
    the author that seed's classifier names (text, excerpt_tokens, excerpt, method, seed, author)."""
    rows = []
    for seed in study.seeds:
        training = training_texts(study.models, seed)
        authors = sorted(training.train_text)
        units = [
            (text.name, length, i, piece)
            for text in texts
            if text.seeds is None or seed in text.seeds
            for length, i, piece in [(None, None, text.tokens)]
            + [(n, i, piece) for n in excerpt_lengths for i, piece in enumerate(excerpts(text.tokens, n))]
        ]
        if not units:
            continue
        documents = [decode(training.tokenizer, tokens) for *_, tokens in units]
        for method, (_, build) in METHODS.items():
            with np.errstate(divide="ignore", invalid="ignore"):  # NearestCentroid: 0/0 sd, one text each
                classifier = build().fit([training.train_text[a] for a in authors], authors)
            for (name, length, i, _), author in zip(units, classifier.predict(documents)):
                rows.append(
                    {
                        "text": name,
                        "excerpt_tokens": length,
                        "excerpt": i,
                        "method": method,
                        "seed": seed,
                        "author": author,
                    }
                )
    votes = pd.DataFrame(rows, columns=VOTE_COLUMNS)
    return votes.astype({"excerpt_tokens": "Int64", "excerpt": "Int64"})


def training_texts(models: Sequence[Model], seed: int):
    """The seed's training text of each of `models` (of that seed), decoded, as the analysis rebuilds them
    (stylometry.analysis.baselines.seed_texts)."""
    models = [model for model in models if model.seed == seed]
    runs = pd.DataFrame({"path": [str(m.run_dir) for m in models], "model_author": [m.author for m in models]})
    return seed_texts(runs, (), seed)


def baseline_columns(votes: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """The verdicts (of whole texts and excerpts) with each method's verdict, its seeds ("alice in 3 of 3 seeds"),
    and whether both methods name the language models' author."""
    table = verdicts.copy()
    agree = pd.Series(True, index=table.index)
    for method, (column, _) in METHODS.items():
        named = votes[votes["method"] == method].rename(columns={"author": "model_author"})
        counts = seed_counts(named, UNIT).rename(columns={"most_seeds": column, "seed_counts": f"{column}_seeds"})
        merged = table[UNIT].merge(counts, on=UNIT, how="left")  # merge matches the <NA> of whole texts
        table[column] = merged[column].to_numpy()
        table[f"{column}_seeds"] = merged[f"{column}_seeds"].to_numpy()
        agree &= table[column] == table["attributed_to"]
    table["methods_agree"] = agree
    return table
