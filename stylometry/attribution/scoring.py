"""Every complete model of a study scores every text it may: its loss on the whole text and on each excerpt.

    python -m stylometry.attribute multirun/corpus/paper letter.txt --jobs 2 --out attribution/a

Each model is loaded once, with its final checkpoint, and scores its texts exactly as training evaluates
(consecutive windows, total NLL over the predicted tokens divided by their number, no padding counted).
With token_losses (attribute --rolling) each whole text's loss comes from its loss at every token, kept for the
rolling windows, from the same single pass.
Models are scored one after another, or in parallel in fresh processes (`parallel_jobs`), each placed as a
sweep's job is (a slot of a GPU, or its share of the CPU's cores).
"""

import logging
import multiprocessing
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stylometry.attribution.texts import AttributionError, Text
from stylometry.config.schema import DeviceConfig, first_line
from stylometry.data.excerpts import excerpts
from stylometry.runs.metrics import logged_loss
from stylometry.runs.study import Model, Study

log = logging.getLogger("stylometry.attribute")  # the command's progress, wherever it is logged from

SCORE_COLUMNS = ["text", "excerpt_tokens", "excerpt", "model_author", "seed", "loss", "tokens"]


@dataclass
class Unit:
    """What one score is of: a whole text (excerpt_tokens None), or one excerpt of it."""

    text: str
    excerpt_tokens: int | None
    excerpt: int | None
    tokens: np.ndarray
    per_token: bool = False  # also keep the loss at every token (a whole text, for rolling attribution)


@dataclass
class ScoreSettings:
    n_positions: int
    eval_stride: int | None
    batch_size: int
    device: DeviceConfig
    parallel_jobs: int
    token_losses: bool = False  # keep every model's loss at each token of each whole text (--rolling)


Work = list[tuple[str, list[Unit]]]  # a model's texts: text name -> its units


def units_of(text: Text, excerpt_lengths: Sequence[int], per_token: bool = False) -> list[Unit]:
    """The whole text (with its loss at every token if per_token) and, for each excerpt length, its consecutive
    excerpts (stylometry.data.excerpts)."""
    units = [Unit(text.name, None, None, text.tokens, per_token)]
    for length in excerpt_lengths:
        units += [Unit(text.name, length, i, piece) for i, piece in enumerate(excerpts(text.tokens, length))]
    return units


def score_model(model: Model, work: Work, settings: ScoreSettings, position: str) -> dict:
    """One model's loss on every unit of `work`, as training evaluates (stylometry.model.evaluate)."""
    from stylometry.hardware.device import place_job
    from stylometry.runs.loading import LoadError, load_model

    _quiet_transformers()
    started = time.time()
    rows, token_losses = [], {}
    with place_job(settings.device, settings.parallel_jobs) as placement:
        try:
            net = load_model(model.checkpoint, placement.device)
        except LoadError as error:
            raise AttributionError(
                f"{first_line(error)}: train that model again, or move its run dir out of the study dir"
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
            unit_rows, unit_token_losses = _unit_rows(net, model, units, settings, placement)
            rows += unit_rows
            token_losses.update(unit_token_losses)
    return {
        "rows": rows,
        "token_losses": token_losses,
        "seconds": time.time() - started,
        "device": placement.device,
        "precision": placement.precision,
    }


def _unit_rows(net, model: Model, units: list[Unit], settings: ScoreSettings, placement) -> tuple[list, dict]:
    """The model's loss on each unit (one scores.csv row each), and its loss at every token of each per-token
    unit: (text, model_author, seed) -> array. A per-token unit's loss is the mean of its tokens' losses, from
    the same pass: rolling attribution costs no second scoring."""
    import torch

    from stylometry.data.windows import eval_windows
    from stylometry.model.evaluate import evaluate, token_losses

    windows = [
        _trimmed(eval_windows([unit.tokens], settings.n_positions, settings.eval_stride), torch) for unit in units
    ]
    whole_sets = {
        str(j): windows[j] for j, unit in enumerate(units) if unit.excerpt_tokens is None and not unit.per_token
    }
    losses = {
        int(set_loss.dataset): (logged_loss(set_loss.loss), set_loss.tokens)
        for set_loss in evaluate(net, whole_sets, settings.batch_size, placement)
    }
    excerpt_units = [j for j, unit in enumerate(units) if unit.excerpt_tokens is not None]
    losses.update(_excerpt_losses(net, excerpt_units, windows, settings, placement))
    per_token = {}
    for j, unit in enumerate(units):
        if unit.per_token:
            per_token[(unit.text, model.author, model.seed)] = values = token_losses(
                net, windows[j], settings.batch_size, placement, len(unit.tokens)
            )
            scored = values[~np.isnan(values)]
            losses[j] = (logged_loss(float(scored.sum(dtype=np.float64) / len(scored))), len(scored))
    rows = [
        {
            "text": unit.text,
            "excerpt_tokens": unit.excerpt_tokens,
            "excerpt": unit.excerpt,
            "model_author": model.author,
            "seed": model.seed,
            "loss": losses[j][0],
            "tokens": losses[j][1],
        }
        for j, unit in enumerate(units)
    ]
    return rows, per_token


def _excerpt_losses(net, excerpt_units: list[int], windows: list, settings: ScoreSettings, placement) -> dict:
    """The loss on each excerpt (unit index -> (loss, tokens)), as evaluate() gives it, from the excerpts' windows
    stacked (those of one width together) and scored `batch_size` at a time: an excerpt is a window or a few, and
    one batch per excerpt took 50.1 s where this takes 32.5 s (docs/performance.md)."""
    import torch

    from stylometry.model.evaluate import window_nll

    by_width = {}
    for j in excerpt_units:
        by_width.setdefault(windows[j].input_ids.shape[1], []).append(j)
    losses = {}
    for group in by_width.values():
        owner = np.repeat(np.arange(len(group)), [len(windows[j].input_ids) for j in group])
        nll = window_nll(
            net,
            torch.cat([windows[j].input_ids for j in group]),
            torch.cat([windows[j].labels for j in group]),
            settings.batch_size,
            placement,
        )
        totals = np.bincount(owner, weights=nll, minlength=len(group))
        for total, j in zip(totals, group):
            losses[j] = (round(float(total) / windows[j].n_predicted, 6), windows[j].n_predicted)  # as evaluate()
    return losses


def _trimmed(windows, torch):
    """The windows without the padding columns past the longest one: a 256-token excerpt of a 1,024-token
    model is not run as 1,024 positions. Causal attention makes the kept positions' losses the same."""
    scored = (windows.labels != -100).any(dim=0).nonzero()
    width = int(scored.max()) + 1 if len(scored) else windows.input_ids.shape[1]
    if width == windows.input_ids.shape[1]:
        return windows
    return type(windows)(
        windows.input_ids[:, :width].contiguous(),
        windows.labels[:, :width].contiguous(),
        windows.n_predicted,
        windows.starts,
    )


def score_all(
    study: Study,
    texts: list[Text],
    excerpt_lengths: Sequence[int],
    settings: ScoreSettings,
    books: Sequence[tuple[Text, Sequence[int]]] = (),
    models: Sequence[Model] | None = None,
) -> dict:
    """Every model's (the study's candidates', or `models`) loss on every unit of every text it may score, and of
    each of `books` (the study's held-out books, for the normalized score's reference and the held-out curve) with its
    own excerpt lengths; each model is loaded once."""
    units = {text.name: units_of(text, excerpt_lengths, settings.token_losses) for text in texts}
    units.update({book.name: units_of(book, lengths) for book, lengths in books})
    plan = []
    for model in study.models if models is None else models:
        work = [
            (text.name, units[text.name])
            for text in [*texts, *(book for book, _ in books)]
            if text.seeds is None or model.seed in text.seeds
        ]
        if work:
            plan.append((model, work))
    progress = _Progress(plan)
    positions = {model: f"[model {i}/{len(plan)}]" for i, (model, _) in enumerate(plan, 1)}
    if settings.parallel_jobs == 1:
        for count, (model, work) in enumerate(plan, 1):
            progress.finished(model, work, score_model(model, work, settings, positions[model]), count)
    else:
        _score_in_processes(plan, settings, positions, progress)
    seconds = time.time() - progress.started
    scores = pd.DataFrame(progress.rows, columns=SCORE_COLUMNS)
    scores["excerpt_tokens"] = scores["excerpt_tokens"].astype("Int64")
    scores["excerpt"] = scores["excerpt"].astype("Int64")
    scores = scores.sort_values(
        ["text", "excerpt_tokens", "excerpt", "model_author", "seed"], na_position="first", kind="stable"
    ).reset_index(drop=True)
    return {
        "scores": scores,
        "token_losses": progress.token_losses,
        "seconds": seconds,
        "tokens_per_s": int(scores["tokens"].sum()) / max(seconds, 1e-9),
        "placement": ", ".join(sorted(progress.placements)),
        "num_models": len(plan),
    }


@dataclass
class _Progress:
    """The models scored so far: their rows, where they ran, and a log line for each with the time left."""

    plan: list[tuple[Model, Work]]
    rows: list[dict] = field(default_factory=list)
    token_losses: dict = field(default_factory=dict)  # (text, model_author, seed) -> the loss at each token
    placements: set[str] = field(default_factory=set)
    done_tokens: int = 0
    started: float = field(default_factory=time.time)

    def __post_init__(self):
        self.total_tokens = sum(len(u.tokens) for _, work in self.plan for _, us in work for u in us)

    def finished(self, model: Model, work: Work, result: dict, count: int) -> None:
        self.rows.extend(result["rows"])
        self.token_losses.update(result["token_losses"])
        self.placements.add(f"{result['device']} ({result['precision']})")
        tokens = sum(len(u.tokens) for _, us in work for u in us)
        self.done_tokens += tokens
        rate = self.done_tokens / max(time.time() - self.started, 1e-9)
        log.info(
            "scored %d/%d models (%s seed=%d: %s tokens in %.1f s); %d left, about %.0f s",
            count,
            len(self.plan),
            model.author,
            model.seed,
            f"{tokens:,}",
            result["seconds"],
            len(self.plan) - count,
            (self.total_tokens - self.done_tokens) / max(rate, 1e-9),
        )


def _score_in_processes(plan, settings: ScoreSettings, positions: dict, progress: _Progress) -> None:
    context = multiprocessing.get_context("spawn")  # a fresh process: no torch threads inherited from a fork
    with ProcessPoolExecutor(settings.parallel_jobs, mp_context=context, initializer=_init_worker) as pool:
        futures = {
            pool.submit(score_model, model, work, settings, positions[model]): (model, work) for model, work in plan
        }
        try:
            for count, future in enumerate(as_completed(futures), 1):
                model, work = futures[future]
                progress.finished(model, work, future.result(), count)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _init_worker() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")


def _quiet_transformers() -> None:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
