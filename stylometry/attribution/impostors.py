"""General Impostors (Koppel & Winter 2014) on the classical features: the verification baseline the language
models' likelihood ratio is measured against, on the same trials (attribute --held-out: verification.csv).

    python -m stylometry.attribute multirun/corpus/paper --held-out --excerpt-tokens 256,1024 --out attribution/h

Each trial is an excerpt of a seed's held-out book and a candidate, as for the language models
(attribution/verification.py). The features are Burrows' Delta's (stylometry.analysis.baselines): the relative
frequencies of the DELTA_WORDS most frequent words of the seed's training texts, z-scored over the authors'
training texts (each author's its model's training text, decoded). In each of ITERATIONS rounds a random
FEATURE_SHARE of the features is kept, and the excerpt's cityblock distance to the candidate's training text is
compared with its distance to each impostor's: the seed's other authors' training texts, the excerpt's author's left
out (an outsider's text has no known text, as it has no model). The score is the share of rounds in which the
candidate is nearer than every impostor (stylo's imposters() and bitig's GeneralImpostors count the same); it is
calibrated and measured exactly as the models' score is, alone. A study of two authors leaves no impostor for a
different-author trial, and is not measured.
"""

import numpy as np
import pandas as pd

from stylometry.analysis.baselines import burrows_delta, decode
from stylometry.attribution.baselines import training_texts
from stylometry.attribution.texts import Text
from stylometry.attribution.verification import ANYONE, TRIAL_COLUMNS
from stylometry.data.excerpts import excerpts
from stylometry.runs.study import Study

GENERAL_IMPOSTORS = "General Impostors"
ITERATIONS = 100  # Koppel & Winter's 100 rounds
FEATURE_SHARE = 0.5  # Koppel & Winter keep half the features each round


def impostor_trials(study: Study, books: list[Text], excerpt_lengths) -> pd.DataFrame:
    """Every excerpt of every book (each scored at the seeds in its `seeds`), against each candidate of the study,
    with its General Impostors score (TRIAL_COLUMNS; relative empty). Empty where no trial has an impostor."""
    rows = []
    for seed in study.seeds:
        training = training_texts([*study.models, *study.impostors], seed)
        authors = sorted(training.train_text)
        units = [
            (book, length, i, piece)
            for book in books
            if book.seeds is None or seed in book.seeds
            for length in excerpt_lengths
            for i, piece in enumerate(excerpts(book.tokens, length))
        ]
        if not units:
            continue
        features = burrows_delta()[:-1]  # Delta's words, relative frequencies, z-scored: all but its nearest author
        known = features.fit_transform([training.train_text[a] for a in authors])
        questioned = features.transform([decode(training.tokenizer, unit[3]) for unit in units])
        rng = np.random.default_rng(seed)
        kept = (rng.random((ITERATIONS, known.shape[1])) < FEATURE_SHARE).astype(float)
        for (book, length, i, _), features in zip(units, questioned):
            distance = np.abs(features - known) @ kept.T  # [author, round]: cityblock over the round's features
            for c, candidate in enumerate(authors):
                if candidate not in study.authors:
                    continue
                others = [j for j, a in enumerate(authors) if a not in (candidate, book.author)]
                if not others:
                    continue
                nearer = distance[c] < distance[others].min(axis=0)
                rows.append(
                    {
                        "excerpt_tokens": length,
                        "seed": seed,
                        "candidate": candidate,
                        "against": ANYONE,
                        "author": book.author,
                        "book": book.name,
                        "excerpt": i,
                        "score": float(nearer.mean()),
                        "relative": np.nan,
                        "same": candidate == book.author,
                    }
                )
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)
