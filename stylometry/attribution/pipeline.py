"""An attribution from start to result, all but writing: the study, its texts, every score, the verdicts (or
the held-out books' accuracy).

    python -m stylometry.attribute multirun/corpus/paper letter.txt --out attribution/a    # attribute(request)

Each text is read as the study's models saw their books (the runs' tokenizer and variant transform, through
the training's token cache) and cut to the first `data.eval_max_tokens` tokens, as the study evaluated its
own texts (max_tokens "all": the whole text).
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from stylometry.attribution.baselines import baseline_columns, baseline_votes
from stylometry.attribution.held_out import held_out_accuracy, held_out_attribution
from stylometry.attribution.normalized import (
    LOSS,
    NORMALIZED,
    REFERENCE_PREFIX,
    judged,
    normalized_scores,
    reference_losses,
)
from stylometry.attribution.result import Attribution
from stylometry.attribution.scoring import ScoreSettings, score_all
from stylometry.attribution.texts import (
    AttributionError,
    Text,
    find_texts,
    held_out_texts,
    leave_out_trained_seeds,
    read_texts,
)
from stylometry.attribution.verdicts import excerpt_summary, study_group, verdicts
from stylometry.config.schema import ConfigError, DeviceConfig
from stylometry.runs.study import Study, load_study

log = logging.getLogger("stylometry.attribute")  # the command's progress


@dataclass(frozen=True)
class Request:
    """What to attribute, as the command line asked (stylometry.attribute's options, parsed)."""

    study_dir: Path
    alpha: float  # no verdict where p is above this
    texts: list[str] = field(default_factory=list)  # files, folders and globs; none with held_out
    held_out: bool = False  # the study's own held-out books instead of texts
    excerpt_tokens: list[int] = field(default_factory=list)  # excerpt lengths, sorted
    authors: list[str] = field(default_factory=list)  # only these authors' models; [] for all
    max_tokens: str | None = None  # a whole number, "all", or None for the study's data.eval_max_tokens
    device: str = "auto"
    jobs: int | None = None  # models scored at once; None: one per GPU x jobs_per_gpu, or 1 on a CPU
    jobs_per_gpu: int = 1
    batch_size: int | None = None  # windows per batch; None: the study's data.eval_batch_size
    corpus: Path | None = None  # the study's corpus, if it has moved
    tokenizer: str | None = None  # the study's tokenizer folder, if it has moved
    score: str = LOSS  # what the verdicts compare: the loss, or the normalized score (attribution/normalized.py)
    baselines: bool = False  # also naive Bayes and Burrows' Delta on every text (attribution/baselines.py)


def attribute(request: Request) -> Attribution:
    """Everything but writing: the study, the texts, every score, the verdicts (or the held-out curve)."""
    study = load_study(request.study_dir, request.authors, request.corpus, request.tokenizer)
    for line in study.left_out:
        log.warning("left out: %s", line)
    max_tokens = _max_tokens(request.max_tokens, study)
    reader = _reader(request, study)
    texts, unscored = _texts(request, study, reader, max_tokens)
    _check_excerpt_lengths(request.excerpt_tokens, texts, study.cfg.model.n_positions)
    references = _reference_books(request, study, reader, max_tokens)
    scored = score_all(study, texts, request.excerpt_tokens, _settings(request, study), references)
    result = Attribution(
        study, texts, request.excerpt_tokens, request.alpha, max_tokens, scored, unscored=unscored, score=request.score
    )
    if request.score == NORMALIZED:
        _normalize(result, {text.name for text in references})
    scores = judged(result.scores, request.score)
    if request.held_out:
        result.held_out = held_out_attribution(scores, texts)
        result.held_out_accuracy = held_out_accuracy(result.held_out)
    else:
        result.verdicts = verdicts(scores, request.alpha, study_group(study))
        if request.excerpt_tokens:
            result.excerpts = excerpt_summary(result.verdicts)
        if request.baselines:
            result.baseline_votes = baseline_votes(study, texts)
            result.verdicts = baseline_columns(result.baseline_votes, result.verdicts)
    return result


def _reference_books(request: Request, study: Study, reader, max_tokens: int | None) -> list[Text]:
    """The normalized score's reference set, to be scored beside the texts: each seed's held-out book of every
    candidate, by that seed's models (with --held-out these are the texts themselves: nothing more to score)."""
    if request.score != NORMALIZED or request.held_out:
        return []
    try:
        books = held_out_texts(study, reader, max_tokens)
    except AttributionError as error:
        raise AttributionError(f"--score normalized scores every model on its seed's held-out books: {error}") from None
    for book in books:
        book.name = REFERENCE_PREFIX + book.name
    return books


def _normalize(result: Attribution, reference_names: set[str]) -> None:
    """Splits the reference books' rows from the texts' and adds each model's reference loss and normalized score."""
    scores = result.scores
    if reference_names:
        reference = scores[scores["text"].isin(reference_names)]
        scores = scores[~scores["text"].isin(reference_names)].reset_index(drop=True)
        reference = reference.assign(text=reference["text"].str.removeprefix(REFERENCE_PREFIX))
    else:  # --held-out: the held-out books are the reference
        reference = scores
    result.references = reference_losses(reference)
    result.scored["scores"] = normalized_scores(scores, result.references)


def _max_tokens(value: str | None, study: Study) -> int | None:
    if value is None:
        return study.cfg.data.eval_max_tokens
    if value == "all":
        return None
    if not value.isdigit() or int(value) < 2:
        raise AttributionError(f"--max-tokens {value}: a whole number of tokens (at least 2), or all")
    return int(value)


def _reader(request: Request, study: Study):
    """The study's book reader: its tokenizer (or --tokenizer), its variant's transform, its token cache."""
    from stylometry.data.tokens import BookReader, load_tokenizer

    try:
        return BookReader.of_run(study.cfg, load_tokenizer(request.tokenizer or study.cfg.data.tokenizer))
    except ConfigError as error:
        raise AttributionError(f"{error} (--tokenizer names the study's tokenizer if it has moved)") from None


def _texts(request: Request, study: Study, reader, max_tokens: int | None) -> tuple[list[Text], list[Text]]:
    """(the texts to score, each with the seeds that may score it; those every seed's models trained on)."""
    cfg = study.cfg
    if request.held_out:
        texts = held_out_texts(study, reader, max_tokens)
    else:
        texts = read_texts(find_texts(request.texts), reader, max_tokens, cfg.variant.name)
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
    return texts, unscored


def _check_excerpt_lengths(lengths: list[int], texts: list[Text], n_positions: int) -> None:
    longest = max(len(text.tokens) for text in texts)
    if lengths and min(lengths) > longest:
        raise AttributionError(
            f"--excerpt-tokens {','.join(map(str, lengths))}: every text is shorter "
            f"(the longest scored is {longest:,} tokens): choose shorter excerpts, or "
            "--max-tokens all"
        )
    for length in lengths:
        if length > n_positions:
            log.info(
                "excerpts of %d tokens are longer than the models' context (%d): each is scored in consecutive "
                "windows of %d tokens, as evaluation scores a whole text",
                length,
                n_positions,
                n_positions,
            )


def _settings(request: Request, study: Study) -> ScoreSettings:
    """How the models score: their context and evaluation settings, and where and how many at once."""
    from stylometry.hardware.device import choose_placement, detect, gpu_ids

    cfg = study.cfg
    device = DeviceConfig(type=request.device, precision="auto", jobs_per_gpu=request.jobs_per_gpu)
    choose_placement(device, detect())  # no such device: one line now, not in a worker later
    num_gpus = len(gpu_ids()) if device.type in ("auto", "cuda") and detect().cuda_count else 0
    jobs = request.jobs or (num_gpus * request.jobs_per_gpu if num_gpus else 1)
    return ScoreSettings(
        cfg.model.n_positions,
        cfg.data.eval_stride,
        request.batch_size or cfg.data.eval_batch_size,
        device,
        min(jobs, len(study.models)),
    )
