"""An attribution from start to result, all but writing: the study, its texts, every score, the verdicts (or
the held-out books' accuracy).

    python -m stylometry.attribute multirun/corpus/paper letter.txt --out attribution/a    # attribute(request)

Each text is read as the study's models saw their books (the runs' tokenizer and variant transform, through
the training's token cache) and cut to the first `data.eval_max_tokens` tokens, as the study evaluated its
own texts (max_tokens "all": the whole text).
"""

import dataclasses
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from stylometry.analysis.baselines import LANGUAGE_MODELS, BaselineError
from stylometry.analysis.normalized import LOSS, NORMALIZED, judged, normalized_scores, reference_losses
from stylometry.attribution.baselines import baseline_columns, baseline_votes
from stylometry.attribution.held_out import held_out_accuracy, held_out_attribution
from stylometry.attribution.impostors import GENERAL_IMPOSTORS, impostor_trials
from stylometry.attribution.kept import keep, kept_key, kept_path, read_kept
from stylometry.attribution.none_of_them import lr_open_set, rates, with_thresholds
from stylometry.attribution.open_set import (
    CALIBRATION_COLUMNS,
    FALSE_REJECTION,
    calibration,
    open_set_columns,
    open_set_rates,
)
from stylometry.attribution.result import Attribution
from stylometry.attribution.rolling import (
    STRIDE,
    WINDOW,
    change_points,
    check_texts,
    passages,
    rolling_accuracy,
    rolling_table,
    stitched_books,
)
from stylometry.attribution.scoring import ScoreSettings, score_all
from stylometry.attribution.texts import (
    AttributionError,
    Text,
    find_texts,
    held_out_texts,
    leave_out_trained_seeds,
    read_texts,
)
from stylometry.attribution.trust import (
    CURVE_COLUMNS,
    CURVE_LENGTHS,
    trust_columns,
    with_book_tokens,
)
from stylometry.attribution.verdicts import excerpt_summary, study_group, verdicts
from stylometry.attribution.verification import (
    LOSS_COLUMNS,
    MODEL,
    CalibrationError,
    calibrate,
    cross_validated,
    held_out_losses,
    metrics,
    model_levels,
    text_verification,
    trials,
    with_pair_trials,
)
from stylometry.config.schema import ConfigError, DeviceConfig
from stylometry.runs.impostor_study import with_impostors
from stylometry.runs.study import Study, load_study

log = logging.getLogger("stylometry.attribute")  # the command's progress

REFERENCE_PREFIX = "reference: "  # a reference book's text name in the scoring, apart from any text's name
SCORED_MODEL = MODEL  # one model of a study, in the scores (attribution/verification.py)


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
    # The held-out books' cap where they calibrate (curve, open set, LR, reference): as max_tokens, not bound to it.
    calibration_tokens: str | None = None
    device: str = "auto"
    jobs: int | None = None  # models scored at once; None: one per GPU x jobs_per_gpu, or 1 on a CPU
    jobs_per_gpu: int = 1
    batch_size: int | None = None  # windows per batch; None: the study's data.eval_batch_size
    corpus: Path | None = None  # the study's corpus, if it has moved
    tokenizer: str | None = None  # the study's tokenizer folder, if it has moved
    score: str = LOSS  # what the verdicts compare: the loss, or the normalized score (stylometry.analysis.normalized)
    baselines: bool = False  # also naive Bayes and Burrows' Delta on every text (attribution/baselines.py)
    trust: bool = True  # the study's held-out accuracy at each text's length beside its verdict (attribution/trust.py)
    rolling: bool = False  # along each text: windows of `window` tokens every `stride` (attribution/rolling.py)
    window: int = WINDOW
    stride: int = STRIDE
    likelihood_ratio: bool = True  # each candidate's calibrated likelihood ratio (attribution/verification.py)
    impostors: Path | None = None  # a study of other writers: more of the LR's reference (runs/impostor_study.py)
    closed_set: bool = False  # always name the best candidate: no "none of the candidates" (attribution/open_set.py)
    false_rejection: float = FALSE_REJECTION  # the open set's: this share of a candidate's own text called none


def attribute(request: Request) -> Attribution:
    """Everything but writing: the study, the texts, every score, the verdicts (or the held-out curve)."""
    study, request, unavailable = _study(request)
    max_tokens = _max_tokens(request.max_tokens, study)
    reader = _reader(request, study)
    texts, unscored = _texts(request, study, reader, max_tokens)
    _check_excerpt_lengths(request.excerpt_tokens, texts, study.cfg.model.n_positions)
    # --held-out --rolling: the held-out books, and texts stitched from them, to measure the rule on.
    stitches = stitched_books(texts) if request.held_out and request.rolling else []
    scored_texts = texts + [stitch.text for stitch in stitches]
    _check_rolling(request, study, scored_texts)
    kept = _kept_calibration(request, study, _book_tokens(request, study, max_tokens))
    books = _held_out_books(request, study, reader, _book_tokens(request, study, max_tokens), kept.missing)
    candidate_books = {book.name.removeprefix(REFERENCE_PREFIX) for book, _ in books if book.author in study.authors}
    scored, impostor_scores = _score(request, study, scored_texts, books)
    result = Attribution(
        study,
        texts,
        request.excerpt_tokens,
        request.alpha,
        max_tokens,
        scored,
        unscored=unscored,
        score=request.score,
        false_rejection=request.false_rejection,
        unavailable=unavailable,
    )
    book_names, stitch_names = {book.name for book, _ in books}, {stitch.text.name for stitch in stitches}
    every_book_scores = _split_off(result, book_names)
    _split_off(result, stitch_names)  # their losses at each token are all they give
    every_model_books = pd.concat(  # the candidates' and the impostors' rows of the held-out books
        [every_book_scores, _named_as_books(impostor_scores[impostor_scores["text"].isin(book_names)])]
    ).reset_index(drop=True)
    impostor_scores = impostor_scores[~impostor_scores["text"].isin(book_names | stitch_names)]
    book_scores = every_book_scores[every_book_scores["text"].isin(candidate_books)].reset_index(drop=True)
    if request.score == NORMALIZED:
        book_scores = _normalize(result, book_scores)
    scores = judged(result.scores, request.score)
    if request.held_out:
        every_model = pd.concat([impostor_scores, every_model_books], ignore_index=True)
        impostor_books = _named_as_scored([book for book, _ in books])
        return _held_out(result, request, scores, texts, scored_texts, stitches, every_model, impostor_books)
    result.verdicts = verdicts(scores, request.alpha, study_group(study))
    if request.rolling:
        _roll(result, request, texts, reader.tokenizer)
    if request.excerpt_tokens:
        result.excerpts = excerpt_summary(result.verdicts)
    if request.baselines:
        result.baseline_votes = baseline_votes(study, texts, request.excerpt_tokens)
        result.verdicts = baseline_columns(result.baseline_votes, result.verdicts)
    if kept.missing:
        kept.compute(
            judged(book_scores, request.score), _named_as_scored([b for b, _ in books]), every_model_books, study
        )
    if request.trust:
        result.verdicts = trust_columns(result.verdicts, texts, kept.curve, len(study.authors))
    if request.likelihood_ratio:
        _verify(result, texts, kept, impostor_scores)
    _open_set(result, request, scores, kept)
    return result


def _without_held_out_books(request: Request, study: Study) -> tuple[Request, list[str]]:
    """The request as a study whose held-out books are not known can answer it (Study.no_held_out_books): the raw
    losses compared, and the answers measured on those books named as unavailable; AttributionError for a request
    that asks for nothing else."""
    if not study.no_held_out_books:
        return request, []
    for asked, option in [
        (request.held_out, "--held-out"),
        (request.score == NORMALIZED, "--score normalized"),
        (request.baselines, "--baselines"),
    ]:
        if asked:
            raise AttributionError(
                f"{option} needs the study's books, and {study.study_dir} holds {study.no_held_out_books}"
            )
    unavailable = [
        answer
        for answer, wanted in [
            ("the study's held-out accuracy at each text's length", request.trust),
            ("the likelihood ratio", request.likelihood_ratio),
            ('the open set ("none of the candidates")', not request.closed_set),
            ("the normalized score", True),
        ]
        if wanted
    ]
    log.warning("not answered: %s: %s holds %s", ", ".join(unavailable), study.study_dir, study.no_held_out_books)
    return replace(request, trust=False, likelihood_ratio=False, closed_set=True), unavailable


def _score(request: Request, study: Study, texts: list[Text], books) -> tuple[dict, pd.DataFrame]:
    """Every model's scores of the texts and books, and the impostors' rows taken out of them: the study's models of
    authors who are not candidates, the likelihood ratio's reference only (none with --no-lr)."""
    impostors = study.impostors if request.likelihood_ratio else []
    models = [*study.models, *impostors]
    scored = score_all(study, texts, request.excerpt_tokens, _settings(request, study), books, models)
    return scored, _impostor_rows(scored, {model.author for model in impostors})


def _open_set(result: Attribution, request: Request, scores: pd.DataFrame, kept: "_Calibration") -> None:
    """None of the candidates? Decided by the likelihood ratio where it is calibrated, else by the open-set bound."""
    by_lr = frozenset() if request.closed_set else frozenset(result.verification.get("text", []))
    result.verdicts = open_set_columns(
        result.verdicts, scores, result.texts, kept.calibrated, request.false_rejection, by_lr
    )
    if by_lr:
        result.verdicts = lr_open_set(result.verdicts, result.verification)


def _study(request: Request) -> tuple[Study, Request, list[str]]:
    """The study, and the request as it can answer it, with the answers it cannot give (_without_held_out_books)."""
    one_author = 1 if request.impostors else 2  # another study's writers can be the one candidate's reference
    study = load_study(request.study_dir, request.authors, request.corpus, request.tokenizer, one_author)
    if request.impostors:
        study = with_impostors(study, request.impostors, request.tokenizer)
    for line in study.left_out:
        log.warning("left out: %s", line)
    return study, *_without_held_out_books(request, study)


def _check_rolling(request: Request, study: Study, scored_texts: list[Text]) -> None:
    if not request.rolling:
        return
    if len(study.authors) < 2:
        raise AttributionError("--rolling compares the candidates along a text: pass two --authors or more")
    check_texts(request.window, scored_texts)


def _book_tokens(request: Request, study: Study, max_tokens: int | None) -> int | None:
    """The held-out books' cap: with --held-out the impostors' books are trials, capped as the texts are; else they
    calibrate, capped by --calibration-tokens (the study's data.eval_max_tokens), whatever the texts' cap."""
    if request.held_out:
        return max_tokens
    return _max_tokens(request.calibration_tokens, study, "--calibration-tokens")


def _held_out(
    result: Attribution, request: Request, scores, texts, scored_texts, stitches, reference_scores, impostor_books
) -> Attribution:
    """--held-out: the books' accuracy, the open set's rates, the likelihood ratio's metrics, the rolling rule.
    reference_scores: the impostors' rows, and every model's of impostor_books (the impostors' held-out books)."""
    result.held_out = held_out_attribution(scores, texts)
    result.held_out_accuracy = held_out_accuracy(result.held_out)
    if not request.closed_set and request.excerpt_tokens:
        result.open_set_rates = open_set_rates(scores, texts, request.false_rejection)
    if request.likelihood_ratio:
        _measure_verification(result, [*texts, *impostor_books], request.excerpt_tokens, reference_scores)
    if request.rolling:
        _roll(result, request, scored_texts)
        result.switches, result.rolling_summary = rolling_accuracy(
            result.change_points, stitches, texts, request.window
        )
    return result


def _verify(result: Attribution, texts: list[Text], kept: "_Calibration", impostor_scores: pd.DataFrame) -> None:
    """Each text's likelihood ratio for each candidate (attribution/verification.py), or why there is none."""
    trial_rows = trials(kept.losses, result.study.authors)
    try:
        calibration = calibrate(with_pair_trials(trial_rows))
    except CalibrationError as error:
        result.verification_note = str(error)
        log.warning("no likelihood ratio: %s", error)
        return
    result.verification_calibration = with_thresholds(calibration, trial_rows, result.false_rejection)
    every_model = pd.concat([result.scores, impostor_scores], ignore_index=True)
    levels = model_levels(kept.losses, result.study.authors)
    result.verification = text_verification(
        every_model, levels, texts, result.verification_calibration, result.study.authors
    )


def _measure_verification(
    result: Attribution, books: list[Text], excerpt_lengths: list[int], reference_scores: pd.DataFrame
) -> None:
    """--held-out: the likelihood ratio's metrics on the held-out books' trials, each seed judged by the others; and
    General Impostors' on the same trials (attribution/impostors.py), the baseline to beat."""
    if not excerpt_lengths:
        result.verification_note = "the likelihood ratio is measured on excerpts: pass --excerpt-tokens"
        return
    every_model = pd.concat([result.scores, reference_scores], ignore_index=True)
    trial_rows = with_pair_trials(trials(held_out_losses(every_model, books), result.study.authors))
    try:
        calibration = calibrate(trial_rows)
        result.verification_trials = cross_validated(trial_rows)
    except CalibrationError as error:
        result.verification_note = str(error)
        log.warning("the likelihood ratio is not measured: %s", error)
        return
    result.verification_calibration = with_thresholds(calibration, trial_rows, result.false_rejection)
    measured = _with_rates(metrics(result.verification_trials), trial_rows, result.verification_trials, result)
    baseline = _impostor_metrics(result, books, excerpt_lengths)
    tables = [measured.assign(method=LANGUAGE_MODELS), *([baseline] if len(baseline) else [])]
    result.verification_metrics = pd.concat(tables, ignore_index=True)
    result.verification_metrics.insert(0, "method", result.verification_metrics.pop("method"))


def _with_rates(measured: pd.DataFrame, trial_rows: pd.DataFrame, judged: pd.DataFrame, result: Attribution):
    """The metrics with the open set's rates at the result's false rejection (none_of_them.rates)."""
    measured_rates = rates(trial_rows, judged, result.false_rejection)
    return measured.merge(measured_rates, on=["against", "excerpt_tokens"], how="left")


def _impostor_metrics(result: Attribution, books: list[Text], excerpt_lengths: list[int]) -> pd.DataFrame:
    """General Impostors' metrics on the likelihood ratio's trials (attribution/impostors.py), or none, said why."""
    try:
        impostor_rows = impostor_trials(result.study, books, excerpt_lengths)
        if impostor_rows.empty:
            raise CalibrationError("no trial has an impostor (a study of two authors)")
        judged = cross_validated(impostor_rows)
    except (BaselineError, CalibrationError) as error:
        log.warning("General Impostors is not measured: %s", error)
        return pd.DataFrame(columns=["method"])
    return _with_rates(metrics(judged), impostor_rows, judged, result).assign(method=GENERAL_IMPOSTORS)


@dataclass
class _Calibration:
    """What the study's held-out books tell about its verdicts, kept in the token cache under one key (kept.py: the
    models, the score, the cap): the held-out curve (trust.py), the open set's calibration (open_set.py), and every
    model's losses on the books (the likelihood ratio's trials and levels are computed from them, verification.py).
    `missing`: one that is wanted is not kept yet, so the books are scored and both computed."""

    curve_file: Path | None
    calibration_file: Path | None
    trust: bool
    open_set: bool
    losses_file: Path | None = None
    curve: pd.DataFrame | None = None
    calibrated: pd.DataFrame | None = None
    losses: pd.DataFrame | None = None  # every model's losses on its seed's held-out books (held_out_losses)

    @property
    def missing(self) -> bool:
        unkept = (self.trust and self.curve is None) or (self.open_set and self.calibrated is None)
        return unkept or (self.losses_file is not None and self.losses is None)

    def compute(
        self, book_scores: pd.DataFrame, every_book: list[Text], every_book_scores: pd.DataFrame, study: Study
    ) -> None:
        """book_scores: the candidates' held-out books (as judged) by their models; every_book(_scores): every
        author's, as logged by every model (the impostors' too)."""
        books = [book for book in every_book if book.author in study.authors]
        if self.losses_file is not None:
            self.losses = held_out_losses(every_book_scores, every_book)
            keep(self.losses, self.losses_file, "models' losses on the held-out books")
        if self.trust:
            self.curve = with_book_tokens(held_out_accuracy(held_out_attribution(book_scores, books)), books)
            keep(self.curve, self.curve_file, "held-out curve")
        if self.open_set:
            self.calibrated = calibration(book_scores, books)
            keep(self.calibrated, self.calibration_file, "open-set calibration")


def _kept_calibration(request: Request, study: Study, max_tokens: int | None) -> _Calibration:
    """The held-out curve and the open set's calibration this attribution wants, read where they are kept."""
    if request.held_out:  # the texts are the held-out books
        return _Calibration(None, None, False, False)
    key = kept_key(study, request.score, max_tokens, list(CURVE_LENGTHS))
    kept = _Calibration(
        kept_path(study, key, ""), kept_path(study, key, "_calibration"), request.trust, not request.closed_set
    )
    if kept.trust:
        kept.curve = read_kept(kept.curve_file, CURVE_COLUMNS, whole_numbers=("excerpt_tokens",))
    if kept.open_set:
        kept.calibrated = read_kept(kept.calibration_file, CALIBRATION_COLUMNS)
    if request.likelihood_ratio:
        kept.losses_file = kept_path(study, key, "_losses")
        kept.losses = read_kept(kept.losses_file, LOSS_COLUMNS, whole_numbers=("excerpt_tokens", "excerpt"))
    if not kept.missing and (kept.trust or kept.open_set or request.likelihood_ratio):
        log.info(
            "calibration: read where an earlier attribution kept it (held-out books on their first %s tokens, "
            "--calibration-tokens): %s",
            _cap_words(max_tokens),
            kept.curve_file.parent,
        )
    return kept


def _roll(result: Attribution, request: Request, texts: list[Text], tokenizer=None) -> None:
    """Rolling attribution from the models' losses at every token: the windows, the change points, and with a
    tokenizer the passages."""
    references = result.references if request.score == NORMALIZED else None
    result.rolling = rolling_table(result.scored["token_losses"], texts, request.window, request.stride, references)
    result.change_points = change_points(result.rolling, request.window, request.stride)
    if tokenizer is not None:
        result.passages = passages(result.rolling, texts, tokenizer.decode)
    result.window, result.stride = request.window, request.stride


def _held_out_books(
    request: Request, study: Study, reader, max_tokens: int | None, for_curve: bool
) -> list[tuple[Text, tuple[int, ...]]]:
    """The study's held-out books to score beside the texts, each by its seed's models, with the excerpt lengths
    wanted of it: whole, for the normalized score's reference; cut at CURVE_LENGTHS too, for the held-out curve, the
    open set's calibration and the likelihood ratio's trials (which take every author's books, candidate or not).
    With --held-out (the texts are the candidates' books) the impostors' books only, at the texts' lengths: the
    likelihood ratio's different-author trials whose author is neither candidate; else none where neither is wanted."""
    impostors = request.likelihood_ratio and study.impostors
    if (request.held_out and not impostors) or not (request.held_out or for_curve or request.score == NORMALIZED):
        return []
    try:
        books = held_out_texts(study, reader, max_tokens, every_author=for_curve or request.held_out)
    except AttributionError as error:
        raise AttributionError(f"attribute scores every model on its seed's held-out books: {error}") from None
    if request.held_out:
        books = [book for book in books if book.author not in study.authors]
    for book in books:
        book.name = REFERENCE_PREFIX + book.name
    lengths = tuple(request.excerpt_tokens) if request.held_out else CURVE_LENGTHS if for_curve else ()
    if not request.held_out:
        cut = f" and cut at {', '.join(f'{n:,}' for n in lengths)} tokens" if lengths else ""
        log.info(
            "calibration: %d held-out books scored on their first %s tokens (--calibration-tokens), whole%s, for %s",
            len(books),
            _cap_words(max_tokens),
            cut,
            _calibration_uses(request, for_curve),
        )
    return [(book, lengths) for book in books]


def _cap_words(max_tokens: int | None) -> str:
    return "all" if max_tokens is None else f"{max_tokens:,}"


def _calibration_uses(request: Request, for_curve: bool) -> str:
    """What the held-out books are scored for, in words: the answers this attribution asks for."""
    uses = [
        use
        for use, wanted in [
            ("the normalized score's reference", request.score == NORMALIZED),
            ("the held-out curve", for_curve and request.trust),
            ("the open set", for_curve and not request.closed_set),
            ("the likelihood ratio", for_curve and request.likelihood_ratio),
        ]
        if wanted
    ]
    kept = " (kept for the next attribution)" if for_curve else ""
    if len(uses) < 2:
        return "".join(uses) + kept
    return ", ".join(uses[:-1]) + " and " + uses[-1] + kept


def _split_off(result: Attribution, names: set[str]) -> pd.DataFrame:
    """Takes the held-out books' rows out of the result's scores; returns them, named as the books are."""
    scores = result.scores
    result.scored["scores"] = scores[~scores["text"].isin(names)].reset_index(drop=True)
    return _named_as_books(scores[scores["text"].isin(names)])


def _named_as_books(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(text=rows["text"].str.removeprefix(REFERENCE_PREFIX)).reset_index(drop=True)


def _impostor_rows(scored: dict, impostors: set[str]) -> pd.DataFrame:
    """Takes the impostors' rows (and losses at each token) out of the scoring; returns the rows."""
    scores = scored["scores"]
    is_impostor = scores["model_author"].isin(impostors)
    scored["scores"] = scores[~is_impostor].reset_index(drop=True)
    scored["token_losses"] = {key: v for key, v in scored["token_losses"].items() if key[1] not in impostors}
    return scores[is_impostor].reset_index(drop=True)


def _normalize(result: Attribution, book_scores: pd.DataFrame) -> pd.DataFrame:
    """Each model's reference loss (stylometry.analysis.normalized: its mean on its seed's held-out books, whole,
    each cut to the first data.eval_max_tokens tokens as the study evaluates) and every score normalized by it;
    returns the books' scores normalized too."""
    reference = book_scores if len(book_scores) else result.scores  # --held-out: the texts are the books
    result.references = reference_losses(reference[reference["excerpt_tokens"].isna()], SCORED_MODEL)
    result.scored["scores"] = normalized_scores(result.scores, result.references, SCORED_MODEL)
    return normalized_scores(book_scores, result.references, SCORED_MODEL) if len(book_scores) else book_scores


def _named_as_scored(books: list[Text]) -> list[Text]:
    """The held-out books as their split-off scores name them (without REFERENCE_PREFIX)."""
    return [dataclasses.replace(book, name=book.name.removeprefix(REFERENCE_PREFIX)) for book in books]


def _max_tokens(value: str | None, study: Study, option: str = "--max-tokens") -> int | None:
    if value is None:
        return study.cfg.data.eval_max_tokens
    if value == "all":
        return None
    if not value.isdigit() or int(value) < 2:
        raise AttributionError(f"{option} {value}: a whole number of tokens (at least 2), or all")
    return int(value)


def _reader(request: Request, study: Study):
    """The study's book reader: its tokenizer (or --tokenizer), its variant's transform, its token cache."""
    from stylometry.data.tokenizer import load_tokenizer
    from stylometry.data.tokens import BookReader

    try:
        return BookReader.of_run(study.cfg, load_tokenizer(request.tokenizer or study.tokenizer))
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
        token_losses=request.rolling,
    )
