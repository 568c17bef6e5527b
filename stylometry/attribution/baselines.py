"""The classical methods on every questioned text (attribute --baselines): naive Bayes and Burrows' Delta beside the
language models' verdicts.

    python -m stylometry.attribute multirun/mycorpus/small disputed/ --baselines --out attribution/disputed

For each seed, both methods are fitted on exactly the training text of each candidate's model of that seed, and
attribute each text that seed's models may score (the analysis's classifiers and its rebuilding of the training
texts from the run dirs: stylometry.analysis.baselines), read as the models read it (the same tokens, decoded).
Per text and method: the author most seeds name (ties: the first by name), and in how many seeds each was named.
"""

import numpy as np
import pandas as pd

from stylometry.analysis.baselines import DELTA, NAIVE_BAYES, burrows_delta, decode, naive_bayes, seed_texts
from stylometry.attribution.texts import Text
from stylometry.attribution.verdicts import seed_counts
from stylometry.runs.study import Study

METHODS = {NAIVE_BAYES: ("naive_bayes", naive_bayes), DELTA: ("burrows_delta", burrows_delta)}  # method: column, build


def baseline_votes(study: Study, texts: list[Text]) -> pd.DataFrame:
    """One row per seed, method and text: the author that seed's classifier names (text, method, seed, author)."""
    rows = []
    for seed in study.seeds:
        models = [model for model in study.models if model.seed == seed]
        runs = pd.DataFrame({"path": [str(m.run_dir) for m in models], "model_author": [m.author for m in models]})
        training = seed_texts(runs, (), seed)
        authors = sorted(training.train_text)
        scored = [text for text in texts if text.seeds is None or seed in text.seeds]
        if not scored:
            continue
        documents = [decode(training.tokenizer, text.tokens) for text in scored]
        for method, (_, build) in METHODS.items():
            with np.errstate(divide="ignore", invalid="ignore"):  # NearestCentroid: 0/0 sd, one text each
                classifier = build().fit([training.train_text[a] for a in authors], authors)
            for text, author in zip(scored, classifier.predict(documents)):
                rows.append({"text": text.name, "method": method, "seed": seed, "author": author})
    return pd.DataFrame(rows, columns=["text", "method", "seed", "author"])


def baseline_columns(votes: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """The whole texts' verdicts with each method's verdict, its seeds ("alice in 3 of 3 seeds"), and whether both
    methods name the language models' author."""
    table = verdicts.copy()
    whole = table["excerpt_tokens"].isna()
    agree = pd.Series(whole, index=table.index)
    for method, (column, _) in METHODS.items():
        named = votes[votes["method"] == method].rename(columns={"author": "model_author"})
        counts = seed_counts(named, ["text"]).set_index("text")
        table[column] = table["text"].map(counts["most_seeds"]).where(whole)
        table[f"{column}_seeds"] = table["text"].map(counts["seed_counts"]).where(whole)
        agree &= table[column] == table["attributed_to"]
    table["methods_agree"] = agree.where(whole)
    return table
