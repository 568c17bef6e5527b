"""Attribute any text with a trained study: every complete model's loss on it, and a verdict over seeds.

    python -m stylometry.attribute multirun/corpus/paper letter.txt chapters/ 'essays/*.txt' --out attribution/a
    python -m stylometry.attribute multirun/corpus/paper letter.txt --excerpt-tokens 256,1024,4096 --out attribution/b
    python -m stylometry.attribute multirun/corpus/paper --held-out --excerpt-tokens 256,1024,4096 --out attribution/c

The study dir is a sweep, or any folder of run dirs (stylometry.runs.study: unfinished and failed runs
are listed and left out; a study that mixes variants, tokenizers, corpora or settings is refused).
Each complete model is loaded once and scores every text with its final checkpoint (`checkpoint/`),
exactly as training evaluates (stylometry.training.loop.evaluate: consecutive windows, total NLL over the
predicted tokens divided by their number, no padding counted), on the text as the study's models
saw their books: the runs' tokenizer and variant transform, through the training's token cache, and
the first `data.eval_max_tokens` tokens, as the study evaluated its own texts (--max-tokens all: the
whole text). Models are scored in parallel over GPUs (--jobs-per-gpu each, leased as the sweep's
jobs lease them) or CPU processes (--jobs).

A text is never scored by a model that trained on it (stylometry.data.overlap): a text taken from one of
the study's books is scored only by the seeds whose models did not train on that book (the seeds
that held it out), by every author's model of those seeds, so that the book's own author is never
the one left out.

Outputs in --out (each file written whole, after every model has scored every text):
    scores.csv       text, excerpt_tokens, excerpt, model_author, seed, loss, tokens (one row per model and text)
    verdicts.csv     per text (and excerpt): the author with the lowest mean loss over seeds, the runner-up,
                     the paired t-test over the seeds they share (Welch's where the seeds differ), p, the
                     seeds won, and the verdict: the author, or "no verdict" where p > --alpha.
                     The same numbers as `analyze`'s extra-set verdicts (stylometry.analysis.stats).
    excerpts.csv     with --excerpt-tokens: per text and excerpt length, how many excerpts went to each author
    held_out.csv, held_out_accuracy.csv
                     with --held-out: each held-out book (of each seed, attributed by that seed's models
                     only) and its excerpts, and accuracy against excerpt length, per author and overall,
                     with a 95% confidence interval
    report.md, figures/*.png
"""

import argparse
import glob
import logging
import multiprocessing
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stylometry.analysis import stats
from stylometry.analysis.load import GROUP
from stylometry.config.schema import ConfigError, DeviceConfig, first_line
from stylometry.data.excerpts import excerpts
from stylometry.data.overlap import FROM_BOOK_SHARE, book_runs, shares_in_books
from stylometry.runs.study import Model, Study, StudyError, load_study, without_sampling_hint

log = logging.getLogger("stylometry.attribute")

USAGE = (
    "usage: python -m stylometry.attribute <study dir> [<texts> ...] --out <dir> [--excerpt-tokens 256,1024] "
    "[--held-out]"
)
NO_VERDICT = "no verdict"
NO_RUNNER_UP, TOO_FEW_SEEDS = "no test (one author)", "no test (too few seeds)"  # verdicts.csv's `test` if none
DEVICES = ("auto", "cpu", "cuda", "mps")
CONFIDENCE = 0.95
# The percentile interval's ends move by at most 0.012 between 20 draws of 2,000 resamples (5 to 80 books, measured).
BOOTSTRAP_RESAMPLES = 2000
MIN_BOOKS_TO_RESAMPLE = 5  # fewer books: Wilson's interval over excerpts instead of a bootstrap over books


class AttributionError(ValueError):
    """Bad input; the message says what to do."""


# ---- the texts ----------------------------------------------------------------------------------


@dataclass
class Text:
    name: str
    path: Path
    tokens: np.ndarray  # as the study's models see it: tokenizer, variant, the first --max-tokens tokens
    num_tokens: int  # before the cap
    author: str | None = None  # a held-out book's author
    seeds: frozenset[int] | None = None  # the seeds whose models may score it; None: every seed
    note: str = ""  # why some seeds are left out


def find_texts(patterns: Sequence[str]) -> list[Path]:
    """Files, folders (their .txt files, at any depth) and globs, in the order given, each once."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*.txt") if p.is_file())
            if not matches:
                raise AttributionError(f"{pattern} holds no .txt file: pass .txt files, or a folder of them")
        elif path.is_file():
            matches = [path]
        elif glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            if not matches:
                raise AttributionError(
                    f"{pattern} matches no file: check the pattern (quote it so the shell leaves it alone)"
                )
        else:
            raise AttributionError(f"no such text file {pattern}: pass .txt files, folders of them, or globs")
        found += [match for match in matches if match not in found]
    return found


def read_texts(paths: list[Path], reader, max_tokens: int | None, variant_name: str) -> list[Text]:
    """Each file as the study's models see their books (tokenizer and variant, through the token cache)."""
    from stylometry.data.corpus import check_book

    names = _text_names(paths)
    texts = []
    for path, name in zip(paths, names):
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise AttributionError(f"cannot read {path} ({error.strerror}): pass a readable .txt file") from None
        if b"\0" in raw:
            raise AttributionError(f"{path} is binary, not text: pass UTF-8 .txt files")
        try:
            check_book(path)  # empty, or not UTF-8: the corpus's own rules for a book
        except ConfigError as error:
            raise AttributionError(str(error)) from None
        tokens = reader.read(path).tokens
        if len(tokens) < 2:
            raise AttributionError(
                f"{path} is {len(tokens)} token(s) long as the study's models read it "
                f"(variant {variant_name}): a text needs at least 2 tokens, one to predict"
            )
        texts.append(Text(name, path, tokens[:max_tokens], len(tokens)))
    return texts


def _text_names(paths: list[Path]) -> list[str]:
    """File names where they are unique; otherwise the paths as given."""
    names = [path.name for path in paths]
    return [path.name if names.count(path.name) == 1 else str(path) for path in paths]


def held_out_texts(study: Study, reader, max_tokens: int | None) -> list[Text]:
    """Each seed's held-out book of each author with models in that seed, to be scored by that seed's models only."""
    texts = []
    for seed in study.seeds:
        authors = sorted({m.author for m in study.models if m.seed == seed})
        for author in authors:
            book = study.held_out_books[seed].get(author)
            if book is None:
                raise AttributionError(
                    f"the runs of seed {seed} record no held-out book of {author} (manifest.json): "
                    f"their models were not evaluated on {author}'s books; leave --held-out out"
                )
            path = study.corpus_root / author / book
            if not path.is_file():
                raise AttributionError(
                    f"seed {seed}'s held-out book of {author} ({path}) is not in the corpus: "
                    "pass the study's corpus with --corpus <dir>"
                )
            tokens = reader.read(path).tokens
            texts.append(
                Text(f"{author}/{book}", path, tokens[:max_tokens], len(tokens), author=author, seeds=frozenset([seed]))
            )
    return texts


def leave_out_trained_seeds(texts: list[Text], study: Study, reader) -> None:
    """Sets each text's seeds to those whose models trained on no book the text was taken from (data/overlap.py)."""
    books: dict[Path, list[int]] = {}  # a training book -> the seeds in which some model trained on it
    for (author, seed), names in study.train_books.items():
        for name in names:
            books.setdefault(study.corpus_root / author / name, []).append(seed)
    baseline = reader.baseline()
    runs = {}
    for path in sorted(books):
        if not path.is_file():
            raise AttributionError(
                f"the study's training book {path} is not in its corpus: pass the study's corpus with --corpus <dir>"
            )
        runs[path] = book_runs(baseline.read(path).tokens)
    for text in texts:
        shares = shares_in_books(baseline.read(text.path).tokens, runs)
        sources = {path: share for path, share in shares.items() if share >= FROM_BOOK_SHARE}
        if not sources:
            continue
        trained = {seed for path in sources for seed in books[path]}
        before = frozenset(study.seeds) if text.seeds is None else text.seeds
        allowed = before - trained
        if allowed == before:
            continue  # a held-out book: its seed's models never trained on it
        text.seeds = allowed
        named = ", ".join(f"{path.parent.name}/{path.name} ({share:.0%} of it)" for path, share in sources.items())
        text.note = (
            f"taken from {named}, which the models of seed(s) {', '.join(map(str, sorted(trained)))} "
            f"trained on: scored by the models of seed(s) {', '.join(map(str, sorted(allowed))) or 'none'}"
        )


# ---- scoring ------------------------------------------------------------------------------------


@dataclass
class Unit:
    """What one score is of: a whole text (excerpt_tokens None), or one excerpt of it."""

    text: str
    excerpt_tokens: int | None
    excerpt: int | None
    tokens: np.ndarray


@dataclass
class ScoreSettings:
    n_positions: int
    eval_stride: int | None
    batch_size: int
    device: DeviceConfig
    parallel_jobs: int


def units_of(text: Text, excerpt_lengths: Sequence[int]) -> list[Unit]:
    """The whole text and, for each excerpt length, its consecutive excerpts (stylometry.data.excerpts)."""
    units = [Unit(text.name, None, None, text.tokens)]
    for length in excerpt_lengths:
        units += [Unit(text.name, length, i, piece) for i, piece in enumerate(excerpts(text.tokens, length))]
    return units


def score_model(model: Model, work: list[tuple[str, list[Unit]]], settings: ScoreSettings, position: str) -> dict:
    """One model's loss on every unit of `work` (text name -> its units), as trainer.evaluate computes it."""
    import torch

    from stylometry.data.tokens import eval_windows
    from stylometry.generate import GenerateError, load_model
    from stylometry.hardware.device import place_job
    from stylometry.training.loop import evaluate

    _quiet_transformers()
    started = time.time()
    rows = []
    with place_job(settings.device, settings.parallel_jobs) as placement:
        try:
            net = load_model(model.checkpoint, placement.device)
        except GenerateError as error:
            raise AttributionError(
                f"{without_sampling_hint(error)}: train that model again, or move its run dir out of the study dir"
            ) from None
        for i, (text, units) in enumerate(work, 1):
            tokens = sum(len(unit.tokens) for unit in units)
            log.info(
                "%s %s seed=%d: text %d/%d %s (%s units, %s tokens)",
                position,
                model.author,
                model.seed,
                i,
                len(work),
                text,
                f"{len(units):,}",
                f"{tokens:,}",
            )
            sets = {
                str(j): _trimmed(eval_windows([unit.tokens], settings.n_positions, settings.eval_stride), torch)
                for j, unit in enumerate(units)
            }
            for unit, row in zip(units, evaluate(net, sets, settings.batch_size, placement, epoch=0, seconds=0.0)):
                rows.append(
                    {
                        "text": unit.text,
                        "excerpt_tokens": unit.excerpt_tokens,
                        "excerpt": unit.excerpt,
                        "model_author": model.author,
                        "seed": model.seed,
                        "loss": float(row["loss"]),
                        "tokens": int(row["tokens"]),
                    }
                )
    return {
        "rows": rows,
        "seconds": time.time() - started,
        "device": placement.device,
        "precision": placement.precision,
    }


def _trimmed(windows, torch):
    """The windows without the padding columns past the longest one: a 256-token excerpt of a 1,024-token
    model is not run as 1,024 positions. Causal attention makes the kept positions' losses the same."""
    scored = (windows.labels != -100).any(dim=0).nonzero()
    width = int(scored.max()) + 1 if len(scored) else windows.input_ids.shape[1]
    if width == windows.input_ids.shape[1]:
        return windows
    return type(windows)(
        windows.input_ids[:, :width].contiguous(), windows.labels[:, :width].contiguous(), windows.n_predicted
    )


def score_all(study: Study, texts: list[Text], excerpt_lengths: Sequence[int], settings: ScoreSettings) -> dict:
    """Every model's loss on every unit of every text it may score; each model is loaded once."""
    units = {text.name: units_of(text, excerpt_lengths) for text in texts}
    plan = []
    for model in study.models:
        work = [(text.name, units[text.name]) for text in texts if text.seeds is None or model.seed in text.seeds]
        if work:
            plan.append((model, work))
    total_tokens = sum(len(u.tokens) for _, work in plan for _, us in work for u in us)
    done_tokens, rows, started, placements = 0, [], time.time(), set()
    positions = {model: f"[model {i}/{len(plan)}]" for i, (model, _) in enumerate(plan, 1)}

    def finished(model, work, result, count):
        nonlocal done_tokens
        rows.extend(result["rows"])
        placements.add(f"{result['device']} ({result['precision']})")
        tokens = sum(len(u.tokens) for _, us in work for u in us)
        done_tokens += tokens
        left = total_tokens - done_tokens
        rate = done_tokens / max(time.time() - started, 1e-9)
        log.info(
            "scored %d/%d models (%s seed=%d: %s tokens in %.1f s); %d left, about %.0f s",
            count,
            len(plan),
            model.author,
            model.seed,
            f"{tokens:,}",
            result["seconds"],
            len(plan) - count,
            left / max(rate, 1e-9),
        )

    if settings.parallel_jobs == 1:
        for count, (model, work) in enumerate(plan, 1):
            finished(model, work, score_model(model, work, settings, positions[model]), count)
    else:
        context = multiprocessing.get_context("spawn")  # a fresh process: no torch threads inherited from a fork
        with ProcessPoolExecutor(settings.parallel_jobs, mp_context=context, initializer=_init_worker) as pool:
            futures = {
                pool.submit(score_model, model, work, settings, positions[model]): (model, work) for model, work in plan
            }
            try:
                for count, future in enumerate(as_completed(futures), 1):
                    model, work = futures[future]
                    finished(model, work, future.result(), count)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    seconds = time.time() - started
    scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    scores["excerpt_tokens"] = scores["excerpt_tokens"].astype("Int64")
    scores["excerpt"] = scores["excerpt"].astype("Int64")
    scores = scores.sort_values(
        ["text", "excerpt_tokens", "excerpt", "model_author", "seed"], na_position="first", kind="stable"
    ).reset_index(drop=True)
    predicted = int(scores["tokens"].sum())
    return {
        "scores": scores,
        "seconds": seconds,
        "tokens_per_s": predicted / max(seconds, 1e-9),
        "placement": ", ".join(sorted(placements)),
        "num_models": len(plan),
    }


SCORE_COLUMNS = ["text", "excerpt_tokens", "excerpt", "model_author", "seed", "loss", "tokens"]


def _init_worker() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")


def _quiet_transformers() -> None:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


# ---- verdicts -----------------------------------------------------------------------------------

UNIT = ["text", "excerpt_tokens", "excerpt"]
VERDICT_COLUMNS = UNIT + [
    "verdict",
    "attributed_to",
    "mean_loss",
    "runner_up",
    "runner_up_mean_loss",
    "margin",
    "test",
    "p",
    "seeds_won",
    "num_paired_seeds",
    "num_seeds",
    "runner_up_num_seeds",
    "welch_t",
    "welch_df",
    "welch_p",
    "paired_t",
    "paired_df",
    "paired_p",
]


def verdicts(scores: pd.DataFrame, alpha: float, group: dict[str, str]) -> pd.DataFrame:
    """Per text (and excerpt): analyze's extra-set verdict (stylometry.analysis.stats.extra_set_verdicts) on its
    scores, the test that decides (paired where both authors' models share every seed, as the study did for the
    contested book; Welch's otherwise), and the verdict: the attributed author, or "no verdict" where p > alpha."""
    if scores.empty:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    keys = scores[UNIT].drop_duplicates().reset_index(drop=True)
    unit_ids = scores.merge(keys.reset_index().rename(columns={"index": "eval_set"}), on=UNIT, how="left")["eval_set"]
    rows = scores.assign(eval_set=unit_ids.to_numpy(), **group)
    table = stats.extra_set_verdicts(rows[GROUP + ["eval_set", "model_author", "seed", "loss"]])
    table = pd.concat(
        [keys.loc[table["eval_set"]].reset_index(drop=True), table.drop(columns=GROUP + ["eval_set"])], axis=1
    )
    seeds = table[["num_paired_seeds", "num_seeds", "runner_up_num_seeds"]].astype(float)  # NaN: no runner-up
    paired = (
        (seeds["num_paired_seeds"] >= 2)
        & (seeds["num_paired_seeds"] == seeds["num_seeds"])
        & (seeds["num_paired_seeds"] == seeds["runner_up_num_seeds"])
    ).to_numpy()
    table["p"] = np.where(paired, table["paired_p"].astype(float), table["welch_p"].astype(float))
    table["test"] = np.where(
        table["runner_up"].isna(),
        NO_RUNNER_UP,
        np.where(np.isnan(table["p"]), TOO_FEW_SEEDS, np.where(paired, "paired t", "Welch t")),
    )
    table["margin"] = table["runner_up_mean_loss"] - table["mean_loss"]
    table["verdict"] = np.where(table["p"] <= alpha, table["attributed_to"], NO_VERDICT)
    return table[VERDICT_COLUMNS]


def excerpt_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per text and excerpt length: how many excerpts went to each author (lowest mean loss), and with a verdict."""
    rows = table[table["excerpt_tokens"].notna()]
    counts = rows.groupby(["text", "excerpt_tokens", "attributed_to"]).agg(
        num_attributed=("attributed_to", "size"), num_verdicts=("verdict", lambda v: int((v != NO_VERDICT).sum()))
    )
    totals = rows.groupby(["text", "excerpt_tokens"]).size().rename("num_excerpts")
    summary = counts.reset_index().merge(totals.reset_index(), on=["text", "excerpt_tokens"])
    summary["share"] = summary["num_attributed"] / summary["num_excerpts"]
    summary = summary.rename(columns={"attributed_to": "author"})
    return summary[["text", "excerpt_tokens", "author", "num_excerpts", "num_attributed", "share", "num_verdicts"]]


def held_out_attribution(scores: pd.DataFrame, texts: list[Text]) -> pd.DataFrame:
    """Each held-out book (and excerpt) of each seed: the author whose model of that seed has the lowest loss on it
    (ties: the first by name, as stats.attribute), and whether that is the book's author."""
    authors = {text.name: text.author for text in texts}
    keys = UNIT + ["seed"]
    rows = scores.sort_values("model_author", kind="stable")
    best = rows.loc[rows.groupby(keys, dropna=False)["loss"].idxmin(), keys + ["model_author", "loss"]]
    counts = rows.groupby(keys, dropna=False).size().rename("num_models").reset_index()
    table = best.rename(columns={"model_author": "attributed_to"}).merge(counts, on=keys, how="left")
    table.insert(3, "author", table["text"].map(authors))
    table["correct"] = table["attributed_to"] == table["author"]
    return table.sort_values(
        ["seed", "text", "excerpt_tokens", "excerpt"], na_position="first", kind="stable"
    ).reset_index(drop=True)


def held_out_accuracy(attribution: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per excerpt length (<NA>: whole books), per author and over all authors ("all"), with a 95% interval
    (_interval says which)."""
    per_book = (
        attribution.groupby(["excerpt_tokens", "author", "seed", "text"], dropna=False)
        .agg(num_excerpts=("correct", "size"), num_correct=("correct", "sum"))
        .reset_index()
    )
    rows = []
    for length, of_length in per_book.groupby("excerpt_tokens", dropna=False, sort=True):
        for author, books in [*of_length.groupby("author", sort=True), ("all", of_length)]:
            low, high, method = _interval(books["num_correct"].to_numpy(), books["num_excerpts"].to_numpy())
            num_correct, num_excerpts = int(books["num_correct"].sum()), int(books["num_excerpts"].sum())
            rows.append(
                {
                    "excerpt_tokens": length,
                    "author": author,
                    "num_books": len(books),
                    "num_excerpts": num_excerpts,
                    "num_correct": num_correct,
                    "accuracy": num_correct / num_excerpts,
                    "ci_low": low,
                    "ci_high": high,
                    "ci_method": method,
                }
            )
    table = pd.DataFrame(rows, columns=ACCURACY_COLUMNS)
    table["excerpt_tokens"] = table["excerpt_tokens"].astype("Int64")
    return table


ACCURACY_COLUMNS = [
    "excerpt_tokens",
    "author",
    "num_books",
    "num_excerpts",
    "num_correct",
    "accuracy",
    "ci_low",
    "ci_high",
    "ci_method",
]
WILSON_BOOKS, BOOTSTRAP, WILSON_EXCERPTS = "Wilson over books", "bootstrap over books", "Wilson over excerpts"


def _interval(num_correct: np.ndarray, num_excerpts: np.ndarray) -> tuple[float, float, str]:
    """A 95% interval for sum(num_correct) / sum(num_excerpts), each entry one book.

    Whole books (one excerpt each) are independent trials: Wilson's interval. Excerpts of one book are
    not (a model that misreads a book misreads many of its excerpts), so from MIN_BOOKS_TO_RESAMPLE
    books the interval resamples books (a percentile bootstrap over books). Below that a bootstrap has
    too few distinct resamples (2 books give 3) and is far too narrow; Wilson's interval over the
    excerpts is given instead, marked as such: it is too narrow too where the books differ."""
    from scipy import stats as scipy_stats

    def wilson(successes, trials):
        ci = scipy_stats.binomtest(int(successes), int(trials)).proportion_ci(CONFIDENCE, "wilson")
        return float(ci.low), float(ci.high)

    if (num_excerpts == 1).all():
        return (*wilson(num_correct.sum(), len(num_correct)), WILSON_BOOKS)
    if len(num_correct) < MIN_BOOKS_TO_RESAMPLE:
        return (*wilson(num_correct.sum(), num_excerpts.sum()), WILSON_EXCERPTS)
    with warnings.catch_warnings():  # every book at the same accuracy: the interval is that point
        warnings.simplefilter("ignore")
        result = scipy_stats.bootstrap(
            (num_correct, num_excerpts),
            lambda c, n, axis=-1: c.sum(axis=axis) / n.sum(axis=axis),
            paired=True,
            vectorized=True,
            confidence_level=CONFIDENCE,
            n_resamples=BOOTSTRAP_RESAMPLES,
            method="percentile",
            random_state=np.random.default_rng(0),
        )  # fixed: the same scores give the same interval
    return float(result.confidence_interval.low), float(result.confidence_interval.high), BOOTSTRAP


# ---- the result ---------------------------------------------------------------------------------


@dataclass
class Attribution:
    study: Study
    texts: list[Text]
    excerpt_lengths: list[int]
    alpha: float
    max_tokens: int | None
    scored: dict  # score_all's result
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    excerpts: pd.DataFrame = field(default_factory=pd.DataFrame)
    held_out: pd.DataFrame = field(default_factory=pd.DataFrame)
    held_out_accuracy: pd.DataFrame = field(default_factory=pd.DataFrame)
    unscored: list[Text] = field(default_factory=list)  # texts every seed's models trained on

    @property
    def scores(self) -> pd.DataFrame:
        return self.scored["scores"]

    def tables(self) -> dict[str, pd.DataFrame]:
        tables = {"scores": self.scores}
        if self.held_out.empty:
            tables["verdicts"] = self.verdicts
            if self.excerpt_lengths:
                tables["excerpts"] = self.excerpts
        else:
            tables["held_out"] = self.held_out
            tables["held_out_accuracy"] = self.held_out_accuracy
        return tables


# ---- the command --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, as every other bad input
        raise AttributionError(f"{message} ({USAGE})")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = _Parser(
        prog="python -m stylometry.attribute",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("study_dir", type=Path, help="a sweep dir, or any folder of run dirs")
    parser.add_argument("texts", nargs="*", help=".txt files, folders of them, or globs")
    parser.add_argument("--out", required=True, type=Path, help="output dir")
    parser.add_argument("--excerpt-tokens", default="", help="comma-separated excerpt lengths, e.g. 256,1024,4096")
    parser.add_argument(
        "--held-out",
        action="store_true",
        help="attribute the study's own held-out books (each by its seed's models) instead of texts",
    )
    parser.add_argument(
        "--authors", default="", help="comma-separated: compare only these authors' models (default: all)"
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=stats.ALPHA,
        help=f"no verdict where p is above this (default: the study's {stats.ALPHA})",
    )
    parser.add_argument(
        "--max-tokens",
        default=None,
        help="score each text's first N tokens, or `all` (default: the study's data.eval_max_tokens)",
    )
    parser.add_argument("--device", default="auto", help="auto (cuda, else mps, else cpu), cpu, cuda or mps")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="models scored at once (default: one per GPU x --jobs-per-gpu; on a CPU, 1)",
    )
    parser.add_argument("--jobs-per-gpu", type=int, default=1, help="models sharing one GPU (default 1)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="windows per batch (default: data.eval_batch_size)"
    )
    parser.add_argument("--corpus", type=Path, default=None, help="the study's corpus, if it has moved")
    parser.add_argument("--tokenizer", default=None, help="the study's tokenizer folder, if it has moved")
    parser.add_argument("--no-figures", action="store_true", help="tables and report only")
    args = parser.parse_args(argv)
    args.excerpt_tokens = _lengths(args.excerpt_tokens)
    args.authors = [name for name in args.authors.split(",") if name]
    if args.device not in DEVICES:
        raise AttributionError(f"--device {args.device}: choose {', '.join(DEVICES[:-1])} or {DEVICES[-1]}")
    if not 0 < args.alpha < 1:
        raise AttributionError(f"--alpha {args.alpha}: choose a p threshold between 0 and 1, e.g. 0.001")
    if args.held_out and args.texts:
        raise AttributionError(
            "--held-out attributes the study's own held-out books: give it no texts (or drop --held-out)"
        )
    if not args.held_out and not args.texts:
        raise AttributionError(
            f"no texts: pass .txt files, folders or globs after the study dir, or --held-out ({USAGE})"
        )
    for key in ("jobs", "batch_size"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            raise AttributionError(f"--{key.replace('_', '-')} must be at least 1")
    if args.out.exists() and not args.out.is_dir():
        raise AttributionError(f"--out {args.out} is a file: pass a dir (made if missing)")
    return args


def _lengths(value: str) -> list[int]:
    lengths = []
    for part in filter(None, value.split(",")):
        if not part.strip().isdigit() or int(part) < 2:
            raise AttributionError(
                f"--excerpt-tokens {value}: each length is a whole number of tokens, at least 2 "
                "(one to predict), e.g. 256,1024,4096"
            )
        lengths.append(int(part))
    return sorted(set(lengths))


def _max_tokens(value: str | None, study: Study) -> int | None:
    if value is None:
        return study.cfg.data.eval_max_tokens
    if value == "all":
        return None
    if not value.isdigit() or int(value) < 2:
        raise AttributionError(f"--max-tokens {value}: a whole number of tokens (at least 2), or all")
    return int(value)


def attribute(args: argparse.Namespace) -> Attribution:
    """Everything but writing: the study, the texts, every score, the verdicts (or the held-out curve)."""
    from stylometry.data.tokens import BookReader, load_tokenizer
    from stylometry.hardware.device import choose_placement, detect, gpu_ids

    study = load_study(args.study_dir, args.authors, args.corpus, args.tokenizer)
    for line in study.left_out:
        log.warning("left out: %s", line)
    cfg = study.cfg
    max_tokens = _max_tokens(args.max_tokens, study)
    try:
        tokenizer = load_tokenizer(args.tokenizer or cfg.data.tokenizer)
        reader = BookReader.of_run(cfg, tokenizer)
    except ConfigError as error:
        raise AttributionError(f"{error} (--tokenizer names the study's tokenizer if it has moved)") from None
    if args.held_out:
        texts = held_out_texts(study, reader, max_tokens)
    else:
        texts = read_texts(find_texts(args.texts), reader, max_tokens, cfg.variant.name)
    leave_out_trained_seeds(texts, study, reader)
    for text in texts:
        if text.note:
            log.warning("%s: %s", text.name, text.note)
    unscored = [text for text in texts if text.seeds is not None and not text.seeds]
    texts = [text for text in texts if text not in unscored]
    if not texts:
        raise AttributionError(
            "every text was taken from a book that every seed's models trained on: "
            "pass texts the study did not train on"
        )
    longest = max(len(text.tokens) for text in texts)
    if args.excerpt_tokens and min(args.excerpt_tokens) > longest:
        raise AttributionError(
            f"--excerpt-tokens {','.join(map(str, args.excerpt_tokens))}: every text is shorter "
            f"(the longest scored is {longest:,} tokens): choose shorter excerpts, or "
            "--max-tokens all"
        )
    for length in args.excerpt_tokens:
        if length > cfg.model.n_positions:
            log.info(
                "excerpts of %d tokens are longer than the models' context (%d): each is scored in consecutive "
                "windows of %d tokens, as evaluation scores a whole text",
                length,
                cfg.model.n_positions,
                cfg.model.n_positions,
            )

    device = DeviceConfig(type=args.device, precision="auto", jobs_per_gpu=args.jobs_per_gpu)
    choose_placement(device, detect())  # no such device: one line now, not in a worker later
    num_gpus = len(gpu_ids()) if device.type in ("auto", "cuda") and detect().cuda_count else 0
    jobs = args.jobs or (num_gpus * args.jobs_per_gpu if num_gpus else 1)
    settings = ScoreSettings(
        cfg.model.n_positions,
        cfg.data.eval_stride,
        args.batch_size or cfg.data.eval_batch_size,
        device,
        min(jobs, len(study.models)),
    )
    scored = score_all(study, texts, args.excerpt_tokens, settings)
    result = Attribution(study, texts, args.excerpt_tokens, args.alpha, max_tokens, scored, unscored=unscored)
    if args.held_out:
        result.held_out = held_out_attribution(result.scores, texts)
        result.held_out_accuracy = held_out_accuracy(result.held_out)
    else:
        identity = {
            "sweep": str(study.study_dir),
            "study": getattr(cfg, "study", ""),
            "experiment": cfg.experiment_name,
            "variant": cfg.variant.name,
        }
        group = {column: identity.get(column, "") for column in GROUP}  # analyze's grouping columns, one group
        result.verdicts = verdicts(result.scores, args.alpha, group)
        if args.excerpt_tokens:
            result.excerpts = excerpt_summary(result.verdicts)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    command = "python -m stylometry.attribute " + " ".join(shlex.quote(a) for a in argv)
    try:
        args = parse_args(argv)
        result = attribute(args)
    except KeyboardInterrupt:
        return 130
    except (AttributionError, StudyError, ConfigError) as error:
        print(f"error: {first_line(error)}", file=sys.stderr)
        return 2
    from stylometry.attribution.report import summary_lines, write_outputs

    write_outputs(result, args.out, command, not args.no_figures)
    print("\n".join(summary_lines(result)))
    print(f"report: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
