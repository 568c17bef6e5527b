"""Classical baselines under the language models' protocol: the study's bag-of-words naive Bayes and
Burrows' Delta, trained for each seed on exactly each author's model's training text and tested on the
seed's held-out books, extra books and excerpts.

    python -m stylometry.analyze multirun/corpus --out analysis/corpus --baselines
    python -m stylometry.attribute multirun/corpus/paper --held-out --excerpt-tokens 256,1024,4096 \\
        --out attribution/held_out
    python -m stylometry.analyze multirun/corpus --out analysis/corpus --baselines --attribution attribution/held_out

The texts come from the run dirs: each run's saved config (stylometry.runs.layout.read_run_config) rebuilds
its data with stylometry.data.splits.load_study_data, the same call the trainer makes, so a model's training
tokens, the seed's held-out books (capped at data.eval_max_tokens, as evaluated) and the variant's
transform are the language model's. Tokens are decoded back to text with the run's tokenizer.

- naive Bayes: the study's own baseline (llm_stylometry/classification): scikit-learn's CountVectorizer
  with its defaults (lower case, words of 2+ characters, no stop-word list) and MultinomialNB (alpha 1).
  One training document per author (its whole training text), so the class prior is uniform; the study
  trained on whole books, one document each.
- Burrows' Delta: relative frequencies of the DELTA_WORDS most frequent words of the seed's training
  texts (one-letter words included: "a" and "i" are among the most telling), z-scored with the mean and
  sd over the authors' training texts (scikit-learn's StandardScaler), nearest author by cityblock
  distance (NearestCentroid, metric "manhattan"; with one text per author its centroid is that text).
  Delta is that distance divided by the number of words, so the nearest author is the same.
- Excerpts: every consecutive excerpt of each held-out book (stylometry.data.excerpts.excerpts, the function
  `python -m stylometry.attribute` cuts with), at the lengths of --excerpt-tokens or of the attribution.
  The language models' verdicts on the same excerpts are read from the output of
  `python -m stylometry.attribute <study> --held-out --excerpt-tokens ...` (--attribution): it scores
  the same held-out tokens (data.eval_max_tokens of each book) with each seed's models. Which group it
  belongs to is found by its whole-book losses, which equal the group's logged final losses.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, Normalizer, StandardScaler

from stylometry.analysis import stats
from stylometry.analysis.load import GROUP, PUBLISHED
from stylometry.config.schema import first_line
from stylometry.data.excerpts import excerpts
from stylometry.runs.layout import METRICS, RUN_CONFIG

NAIVE_BAYES, DELTA, LANGUAGE_MODELS = "naive Bayes", "Burrows' Delta", "language models"
LOSS_MATCH = 1e-3  # attribute's whole-book loss vs the logged one (6 decimals, runs/metrics.py): same model and text
# Burrows (2002) used the 150 most frequent words. On the study's corpus (10 seeds, 8 authors, full training
# texts) Delta attributed 66, 73, 78 and 78 of 80 held-out books with 150, 300, 500 and 1,000 words, and
# 71%, 77%, 79% and 67% of 800 excerpts of 1,024 tokens: 500 is the best of these. It was chosen on the same
# books it is tested on, which favours the baseline if anything.
DELTA_WORDS = 500
WORD = r"(?u)\b\w+\b"  # Delta counts one-letter words too


class BaselineError(ValueError):
    """Runs whose texts cannot be rebuilt here; the message says what to do."""


@dataclass
class BaselineTables:
    verdicts: pd.DataFrame  # every verdict: held-out books, extra books and excerpts, per method and seed
    accuracy: pd.DataFrame  # books attributed, per method, per seed and overall (seed <NA>)
    confusion: pd.DataFrame  # per method: how many books of each author went to each author
    extra_sets: pd.DataFrame  # per method and seed: the extra books' verdicts
    accuracy_by_length: pd.DataFrame  # per method and excerpt length, per seed and overall
    num_delta_words: int = DELTA_WORDS
    seconds: float | None = None  # the classical baselines' time: texts rebuilt, fitted, applied
    num_seeds: int = 0
    num_models: int = 0
    problems: list = field(default_factory=list)

    def csv_tables(self) -> dict:
        tables = {
            "baselines": self.verdicts,
            "baseline_accuracy": self.accuracy,
            "baseline_confusion": self.confusion,
            "baseline_extra_sets": self.extra_sets,
        }
        if len(self.accuracy_by_length):
            tables["accuracy_by_length"] = self.accuracy_by_length
        return tables


@dataclass
class SeedTexts:
    """One seed of one group, as the language models saw it."""

    key: tuple  # GROUP values
    seed: int
    train_text: dict  # author -> its model's training text, decoded
    held_out: dict  # book author -> the book's tokens as evaluated
    extra: dict  # extra set -> (its tokens as evaluated, the authors whose models evaluated it)
    tokenizer: object
    decoded: dict = field(default_factory=dict)  # book or extra set -> its text, decoded once

    def text(self, name: str) -> str:
        if name not in self.decoded:
            self.decoded[name] = decode(
                self.tokenizer, self.held_out[name] if name in self.held_out else self.extra[name][0]
            )
        return self.decoded[name]


@dataclass(frozen=True)
class HeldOutAttribution:
    """`stylometry.attribute --held-out`'s output, as its writer reads it back (stylometry/attribution/report.py:
    read_held_out_attribution): every held-out book and excerpt attributed, and every model's loss on each."""

    directory: Path
    held_out: pd.DataFrame
    scores: pd.DataFrame


def compare_baselines(tables, excerpt_tokens=(), attribution: Optional[HeldOutAttribution] = None) -> BaselineTables:
    """The classical baselines for every seed of every group of our runs in `tables` (an analysis's
    Tables); on excerpts of excerpt_tokens (default: the lengths of the attribution), beside the language
    models' verdicts in `attribution`."""
    started = time.perf_counter()
    runs = tables.runs
    problems = []
    published = runs[runs["state"] == PUBLISHED]
    if len(published):
        problems.append(
            f"baselines: {len(published)} models of the study's published logs left out (their training "
            "texts are not in the logs; train the study with stylometry to compare)"
        )
    ours = runs[runs["state"] != PUBLISHED]
    if ours.empty:
        raise BaselineError(
            f"--baselines needs run dirs of our training ({RUN_CONFIG} beside {METRICS}); "
            "the inputs hold only the study's published logs"
        )
    language_models = read_attribution(attribution, tables) if attribution is not None else None
    if language_models is not None and not excerpt_tokens:
        excerpt_tokens = sorted(language_models["excerpt_tokens"].dropna().unique().astype(int))
    verdicts = []
    for key, seed_runs in ours.groupby([*GROUP, "seed"], sort=False):
        texts = seed_texts(seed_runs, tuple(key[:-1]), int(key[-1]))
        verdicts.append(classify_seed(texts, excerpt_tokens))
    seconds = time.perf_counter() - started
    if language_models is not None:
        verdicts.append(language_models)
    verdicts = pd.concat(verdicts, ignore_index=True).astype({"excerpt_tokens": "Int64", "excerpt": "Int64"})
    books = verdicts[verdicts["kind"] == "book"]
    excerpt_rows = verdicts[verdicts["kind"] == "excerpt"]
    by_length = pd.DataFrame()
    if len(excerpt_rows):
        by_length = stats.accuracy(excerpt_rows, by=("method", "excerpt_tokens")).rename(
            columns={"num_books": "num_excerpts"}
        )
    counted = books[books["own_model"]]
    confusion = counted.groupby([*GROUP, "method", "book", "attributed_to"]).size().rename("num_books").reset_index()
    return BaselineTables(
        verdicts=verdicts,
        accuracy=stats.accuracy(books, by=("method",)),
        confusion=confusion,
        extra_sets=verdicts[verdicts["kind"] == "extra"]
        .drop(columns=["kind", "own_model", "correct", "excerpt_tokens", "excerpt"])
        .rename(columns={"book": "eval_set"}),
        accuracy_by_length=by_length,
        seconds=seconds,
        num_seeds=ours.groupby([*GROUP, "seed"]).ngroups,
        num_models=len(ours),
        problems=problems,
    )


def read_attribution(attribution: HeldOutAttribution, tables) -> pd.DataFrame:
    """The language models' verdicts on each held-out excerpt, as rows of the baselines' verdict table for the group
    whose logged final losses the attribution's whole-book scores equal."""
    directory, verdicts, scores = attribution.directory, attribution.held_out, attribution.scores
    whole = scores[scores["excerpt_tokens"].isna()].assign(eval_set=lambda d: d["text"].str.split("/").str[0])
    final = stats.at_epoch(tables.results, stats.OWN_FINAL)
    matched = []
    for key, group in final.groupby(GROUP, sort=False):
        both = whole.merge(group, on=["model_author", "seed", "eval_set"], suffixes=("", "_logged"))
        if len(both) == len(whole) and (both["loss"] - both["loss_logged"]).abs().max() < LOSS_MATCH:
            matched.append(key)
    if len(matched) != 1:
        found = "no group" if not matched else f"{len(matched)} groups"
        raise BaselineError(
            f"--attribution {directory}: its whole-book losses match {found} of the analysed runs "
            "(each model's final losses); pass the attribution of one of the analysed studies"
        )
    excerpts_only = verdicts[verdicts["excerpt_tokens"].notna()]
    return pd.DataFrame(
        {
            **dict(zip(GROUP, matched[0])),
            "seed": excerpts_only["seed"].astype(int),
            "method": LANGUAGE_MODELS,
            "kind": "excerpt",
            "book": excerpts_only["author"],
            "excerpt_tokens": excerpts_only["excerpt_tokens"].astype(int),
            "excerpt": excerpts_only["excerpt"].astype(int),
            "attributed_to": excerpts_only["attributed_to"],
            "own_model": True,
            "correct": excerpts_only["correct"].astype(bool),
        }
    )


# ---- the texts ----------------------------------------------------------------------------------


def seed_texts(seed_runs: pd.DataFrame, key: tuple, seed: int) -> SeedTexts:
    """Rebuilds, from each run's config, its training text and the seed's evaluation texts."""
    from omegaconf.errors import OmegaConfBaseException

    from stylometry.data.splits import load_study_data
    from stylometry.data.tokenizer import load_tokenizer
    from stylometry.data.tokens import BookReader
    from stylometry.data.variants import transform_key
    from stylometry.runs.layout import read_run_config

    train_text, held_out, extra = {}, {}, {}
    tokenizer, readers = None, {}
    for run in seed_runs.itertuples():
        run_dir = Path(run.path)
        try:
            cfg = read_run_config(run_dir)
        except (OSError, ValueError, KeyError, OmegaConfBaseException) as error:  # missing, or another schema's
            raise BaselineError(
                f"{run_dir}: cannot read its config ({first_line(error)}); --baselines "
                "rebuilds each model's training text from it"
            ) from None
        if cfg.data.kind != "corpus" or cfg.author is None:
            raise BaselineError(f"{run_dir} is a data={cfg.data.kind} run: baselines compare authors of a corpus")
        cfg = _with_inputs_found(cfg, run_dir)
        reader_key = (cfg.data.tokenizer, transform_key(cfg.variant), cfg.data.cache_dir)
        if reader_key not in readers:  # one tokenizer and transform per seed: the runs of a group share them
            tokenizer = load_tokenizer(cfg.data.tokenizer)
            readers[reader_key] = BookReader.of_run(cfg, tokenizer)
        data = load_study_data(
            cfg.data, cfg.author.name, list(cfg.author.extra_eval_sets), cfg.seed, readers[reader_key]
        )
        train_text[run.model_author] = decode(tokenizer, data.train_tokens)
        for name, texts in data.eval_texts.items():
            tokens = np.concatenate(texts)
            if name in data.held_out_books:
                if name in held_out and not np.array_equal(held_out[name], tokens):
                    raise BaselineError(
                        f"{run_dir}: its held-out book of {name} differs from another run's of seed "
                        f"{seed}: the runs of this group were not trained on one corpus"
                    )
                held_out[name] = tokens
            else:
                candidates = extra.get(name, (tokens, []))[1]
                extra[name] = (tokens, candidates + [run.model_author])
    return SeedTexts(key, seed, train_text, held_out, extra, tokenizer)


def _with_inputs_found(cfg, run_dir: Path):
    """The run's config with its corpus and tokenizer as found from here (stylometry/runs/manifest.py)."""
    import dataclasses

    from stylometry.runs.manifest import run_inputs

    found = run_inputs(run_dir, cfg)
    if found.corpus_root is None:
        raise BaselineError(
            f"{run_dir}: its corpus data.root={cfg.data.root} is not found from here; run the analysis "
            "where training ran, or from the same working directory"
        )
    return dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, root=str(found.corpus_root), tokenizer=found.tokenizer)
    )


def decode(tokenizer, tokens: np.ndarray) -> str:
    ids = np.asarray(tokens).tolist()
    backend = getattr(tokenizer, "backend_tokenizer", None)  # the Rust tokenizer: a third faster than decode()
    return backend.decode(ids) if backend is not None else tokenizer.decode(ids)


# ---- the classifiers ----------------------------------------------------------------------------


def naive_bayes():
    """The study's baseline: word counts and multinomial naive Bayes."""
    return make_pipeline(CountVectorizer(), MultinomialNB())


def burrows_delta(num_words: int = DELTA_WORDS):
    """Burrows' Delta: z-scored relative frequencies of the most frequent words, nearest author by
    cityblock distance."""
    return make_pipeline(
        CountVectorizer(token_pattern=WORD, max_features=num_words),
        Normalizer(norm="l1"),
        FunctionTransformer(_dense, accept_sparse=True),
        StandardScaler(),
        NearestCentroid(metric="manhattan"),
    )


def _dense(matrix):
    return matrix.toarray()


def classify_seed(texts: SeedTexts, excerpt_tokens=()) -> pd.DataFrame:
    """Both classical methods fitted on the seed's training texts and applied to its held-out books, its
    extra books (among the authors whose models evaluated each) and its excerpts."""
    authors = sorted(texts.train_text)
    documents = [texts.train_text[a] for a in authors]
    rows = []
    for method, build in ((NAIVE_BAYES, naive_bayes), (DELTA, burrows_delta)):
        with np.errstate(
            divide="ignore", invalid="ignore"
        ):  # NearestCentroid's within-class sd: 0/0 with one text each
            classifier = build().fit(documents, authors)
        books = sorted(texts.held_out)
        predicted = classifier.predict([texts.text(b) for b in books])
        rows += [_verdict(texts, method, "book", book, guess) for book, guess in zip(books, predicted)]
        for name, (_, candidates) in sorted(texts.extra.items()):
            rows.append(
                _verdict(texts, method, "extra", name, _among(classifier, texts.text(name), candidates, method))
            )
        for length in excerpt_tokens:
            cut = [
                (book, index, excerpt)
                for book in books
                for index, excerpt in enumerate(excerpts(texts.held_out[book], length))
            ]
            if not cut:
                continue
            predicted = classifier.predict([decode(texts.tokenizer, excerpt) for _, _, excerpt in cut])
            rows += [
                _verdict(texts, method, "excerpt", book, guess, length, index)
                for (book, index, _), guess in zip(cut, predicted)
            ]
    return pd.DataFrame(rows)


def _among(classifier, text: str, candidates: list, method: str) -> str:
    """The classifier's verdict on a text among some of its classes only: the most probable (naive Bayes)
    or the nearest (Delta) of the candidates."""
    classes = list(classifier.classes_)
    columns = [classes.index(c) for c in candidates]
    if method == NAIVE_BAYES:
        scores = classifier.predict_log_proba([text])[0][columns]
        return candidates[int(np.argmax(scores))]
    features = classifier[:-1].transform([text])
    distances = np.abs(features - classifier[-1].centroids_[columns]).sum(axis=1)
    return candidates[int(np.argmin(distances))]


def _verdict(
    texts: SeedTexts, method: str, kind: str, text: str, attributed_to: str, excerpt_tokens=None, excerpt=None
) -> dict:
    own_model = text in texts.train_text
    return {
        **dict(zip(GROUP, texts.key)),
        "seed": texts.seed,
        "method": method,
        "kind": kind,
        "book": text,
        "excerpt_tokens": excerpt_tokens,
        "excerpt": excerpt,
        "attributed_to": attributed_to,
        "own_model": own_model,
        "correct": attributed_to == text,
    }
