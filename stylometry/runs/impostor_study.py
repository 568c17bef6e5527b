"""A second study whose models are the likelihood ratio's impostors: writers who are no candidates, trained as the
candidates were, for a study that has no other authors (or too few) to be its reference.

    python -m stylometry.attribute multirun/corpus/small letter.txt --impostors multirun/others/small --out a/v

The impostor study is read as any study (stylometry.runs.study: its complete models, one study, its corpus and
held-out books), then checked against the candidates' study: none of its authors is one of the study's, it has a
model of every seed the candidates have (its other seeds are left out), and it was trained by the same recipe
(every setting but the author, seed, corpus and where things are: the same model, tokens, steps, optimizer, variant,
tokenizer and evaluation). Its models join the study's impostors; its held-out books join each seed's, read from
its own corpus, and what its models trained on is no evidence at their seed either.

With init=background the impostor study's models start from its own backgrounds (trained on its authors' pooled
text by the same recipe): the same amount of training, another starting point. Trained with
init.background_study=<the candidates' study> they start from the candidates' backgrounds instead, as the candidates
did, which is checked seed by seed (the sha256 of the weights each model started from, in its run's identity).

    python -m stylometry.train -m experiment=small author=austen,wells 'seed=range(5)' init.background_study=small
"""

import dataclasses
from pathlib import Path

from stylometry.config.schema import BACKGROUND
from stylometry.runs.export import exported_facts, is_exported_model
from stylometry.runs.study import Model, Study, StudyError, load_study

# What is not the recipe: who the model is and where its files are (the run's place, its corpus's authors, caches).
NOT_RECIPE = {
    "author": None,
    "seed": None,
    "study": None,
    "run_name": None,
    "device": None,
    "logger": None,
    "data": ("root", "tokenizer", "cache_dir", "authors", "not_authors", "eval_batch_size", "max_train_tokens"),
    "variant": ("nltk_data",),
    "init": ("background_study",),  # where the backgrounds are: checked by the weights themselves (_refuse_other_start)
}


def with_impostors(study: Study, impostors_dir: Path, tokenizer_override: str | None = None) -> Study:
    """The study with the impostor study's models as more impostors (at the study's seeds), their held-out books
    and training books; a StudyError naming what differs where the impostor study cannot be the reference."""
    where = f"--impostors {impostors_dir}"
    if study.no_held_out_books:
        raise StudyError(f"{where}: {study.study_dir} holds {study.no_held_out_books}, so no likelihood ratio")
    try:
        other = load_study(impostors_dir, tokenizer_override=tokenizer_override, min_authors=1)
    except StudyError as error:
        raise StudyError(f"{where}: {error}") from None
    if other.no_held_out_books:
        raise StudyError(f"{where} holds {other.no_held_out_books}; impostors need run dirs or an export")
    ours = {model.author for model in [*study.models, *study.impostors]}
    shared = sorted(ours & set(other.authors))
    if shared:
        raise StudyError(
            f"{where} has models of {', '.join(shared)}, an author of {study.study_dir} too: impostors are writers "
            "who are not the study's authors"
        )
    missing = sorted(set(study.seeds) - set(other.seeds))
    if missing:
        raise StudyError(
            f"{where} has no models of seed(s) {', '.join(map(str, missing))}: train its authors at every seed of the "
            f"candidates (seed={','.join(map(str, study.seeds))})"
        )
    difference = recipe_difference(study.cfg, other.cfg)
    if difference:
        raise StudyError(
            f"{where} was trained otherwise than the candidates ({difference}): train the impostors with the "
            "candidates' settings, so that they are as trained as the candidates are"
        )
    _refuse_other_tokenizer(study, other, where)
    models = [model for model in other.models if model.seed in study.seeds]
    if other.cfg.init.background_study:
        _refuse_other_start(study, models, where, other.cfg.init.background_study)
    held_out = {seed: dict(books) for seed, books in study.held_out_books.items()}
    for seed in study.seeds:
        held_out[seed].update({a: b for a, b in other.held_out_books[seed].items() if a in other.authors})
    trained = {key: books for key, books in other.train_books.items() if key[1] in held_out}
    train_books = {**study.train_books, **trained}
    roots = {**study.author_roots, **{author: other.corpus_root for author in other.authors}}
    return dataclasses.replace(
        study,
        impostors=[*study.impostors, *models],
        held_out_books=held_out,
        train_books=train_books,
        author_roots=roots,
        impostors_dir=impostors_dir,
        impostors_start=_start_words(other.cfg),
    )


def recipe(cfg) -> dict:
    """The run config's settings that make its training what it is (`group.key` -> value): every one but NOT_RECIPE."""
    settings = {}
    for group, value in dataclasses.asdict(cfg).items():
        if group in NOT_RECIPE and NOT_RECIPE[group] is None:
            continue
        if not isinstance(value, dict):
            settings[group] = value
            continue
        for key, setting in value.items():
            if key not in (NOT_RECIPE.get(group) or ()):
                settings[f"{group}.{key}"] = setting
    return settings


def recipe_difference(cfg, other_cfg) -> str:
    """The first setting in which the two runs' recipes differ, in words (`stop_criteria.max_epochs=2 there, 1
    here`), or "" where they are one recipe."""
    ours, theirs = recipe(cfg), recipe(other_cfg)
    for key in sorted(ours.keys() | theirs.keys()):
        if ours.get(key) != theirs.get(key):
            return f"{key}={theirs.get(key)} there, {ours.get(key)} here"
    return ""


def _refuse_other_start(study: Study, impostors: list[Model], where: str, background_study: str) -> None:
    """Impostors trained from the candidates' backgrounds (init.background_study) start from their seed's
    candidates' weights, each of them."""
    ours = {model.seed: _read_start(model, where) for model in study.models}
    for model in impostors:
        if _read_start(model, where) != ours[model.seed]:
            raise StudyError(
                f"{where}: {model.author} seed {model.seed} started from other weights than the candidates of seed "
                f"{model.seed} (init.background_study={background_study} is not their study's backgrounds): train the "
                f"impostors with init.background_study=<the dir {study.study_dir} was trained in>"
            )


def started_from(model: Model) -> str | None:
    """The sha256 of the weights the model started from (None: from scratch): its run's identity, saved with its
    checkpoint (runs/checkpoint.py), or an exported model's facts."""
    from stylometry.runs.checkpoint import read_training_state

    if is_exported_model(model.checkpoint):
        return exported_facts(model.checkpoint).get("init_weights_sha256")
    return read_training_state(model.checkpoint, mmap=True).identity.get("init", {}).get("weights_sha256")


def _read_start(model: Model, where: str) -> str | None:
    """started_from, or a StudyError naming the model whose checkpoint cannot be read."""
    from stylometry.runs.checkpoint import CheckpointError

    try:
        return started_from(model)
    except (CheckpointError, OSError, ValueError) as error:
        raise StudyError(
            f"{where}: where {model.author} seed {model.seed} started from cannot be read ({error}): train it again"
        ) from None


def _start_words(cfg) -> str:
    """Where the impostor study's models started, in words for a report."""
    if cfg.init.background_study:
        return "fine-tuned from the candidates' backgrounds"
    if cfg.init.name == BACKGROUND:
        return "fine-tuned from their own study's backgrounds"
    return ""


def _refuse_other_tokenizer(study: Study, other: Study, where: str) -> None:
    """The same vocabulary: an impostor's loss is comparable to a candidate's only over the same tokens."""
    from stylometry.data.tokenizer import load_tokenizer, tokenizer_fingerprint

    if study.tokenizer == other.tokenizer:
        return
    fingerprints = [tokenizer_fingerprint(load_tokenizer(name)) for name in (study.tokenizer, other.tokenizer)]
    if fingerprints[0] != fingerprints[1]:
        raise StudyError(
            f"{where} reads with another tokenizer ({other.tokenizer}, the study's {study.tokenizer}): "
            "train the impostors with the candidates' tokenizer"
        )


def impostors_sentence(study: Study) -> str:
    """The study's impostors in words, for a report: whose models, and where from; "" where there are none."""
    if not study.impostors:
        return ""
    of_study = sorted({m.author for m in study.impostors} - set(study.author_roots))
    joined = sorted(study.author_roots)
    parts = [f"{', '.join(of_study)} (the study's other authors)"] if of_study else []
    if joined:
        start = f", {study.impostors_start}" if study.impostors_start else ""
        parts.append(f"{', '.join(joined)} (from {study.impostors_dir}, --impostors{start})")
    return (
        f"Impostors, the likelihood ratio's reference and never candidates: {'; '.join(parts)}, "
        f"{len(study.impostors)} models."
    )
