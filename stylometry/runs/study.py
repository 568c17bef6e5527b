"""A trained study read from its run dirs: its complete models, checked to be one study.

    python -m stylometry.attribute multirun/corpus/paper letter.txt --out attribution/letter    # load_study() first

A study dir is a sweep, or any folder of run dirs (every dir below it that a job wrote into; the
layout is not assumed). Its complete runs are its models, each with its final checkpoint: a run is one when
the run dir decision (stylometry/runs/decision.py) has nothing left to train in it; runs not complete
(running, failed, paused, interrupted) are listed and left out, never used. The runs must be one study
(stylometry/runs/compatibility.py: one variant, tokenizer, corpus, experiment and set of settings), with one
run per author and seed. Anything else is refused with one line naming the difference.
"""

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from stylometry.config.schema import ConfigError, first_line
from stylometry.runs.background_run import is_background
from stylometry.runs.compatibility import first_mix, runs_text
from stylometry.runs.decision import SKIP, decide
from stylometry.runs.export import ExportError, is_export, read_export
from stylometry.runs.layout import CHECKPOINT, MANIFEST, STATUS, read_run_config
from stylometry.runs.loading import LoadError, choose_checkpoint
from stylometry.runs.manifest import read_manifest, run_inputs
from stylometry.runs.status import read_status
from stylometry.runs.sweep import find_run_dirs, job_state

RETRAIN = "train that model again, or move its run dir out of the study dir"


class StudyError(ValueError):
    """A study dir that cannot be attributed with; the message says what to do."""


@dataclass(frozen=True)
class Model:
    run_dir: Path
    author: str
    seed: int
    checkpoint: Path  # the run's final checkpoint


@dataclass
class Study:
    study_dir: Path
    models: list[Model]
    left_out: list[str]  # runs not used, each in words
    cfg: object  # one complete run's TrainConfig: tokenizer, variant, model and evaluation settings (all agree)
    corpus_root: Path
    tokenizer: str  # the runs' tokenizer, found from here (stylometry/runs/manifest.py: run_inputs)
    held_out_books: dict[int, dict[str, str]]  # seed -> author -> the file name of that author's held-out book
    train_books: dict[tuple[str, int], list[str]]  # (author, seed) -> the file names its model trained on
    # The complete models of the study's other authors where --authors chose fewer: no candidates, but trained as the
    # candidates were (the likelihood ratio's impostors, attribution/verification.py).
    impostors: list[Model] = field(default_factory=list)
    # Why the study's held-out books are not known, where they are not: models that do not say which books they
    # trained on and held out (plain from_pretrained folders, _plain_study). "" for run dirs and exports.
    no_held_out_books: str = ""
    # Where an author's books are, where it is not corpus_root: the authors of an --impostors study, in its corpus.
    author_roots: dict[str, Path] = field(default_factory=dict)
    impostors_dir: Path | None = None  # the study the impostors of --impostors came from (runs/impostor_study.py)
    impostors_start: str = ""  # where those impostors started, in words ("fine-tuned from the candidates' backgrounds")

    def book_path(self, author: str, name: str) -> Path:
        """The file of one of `author`'s books (a name its runs recorded) in the corpus that holds them."""
        return self.author_roots.get(author, self.corpus_root) / author / name

    @property
    def authors(self) -> list[str]:
        return sorted({model.author for model in self.models})

    @property
    def seeds(self) -> list[int]:
        return sorted({model.seed for model in self.models})


@dataclass
class _Run:
    run_dir: Path
    cfg: object
    status: dict
    manifest: dict
    checkpoint: Path | None = None  # an exported model's folder (its weights); None: the run dir's final checkpoint


def load_study(
    study_dir: Path,
    authors: list[str] | None = None,
    corpus: Path | None = None,
    tokenizer_override: str | None = None,
    min_authors: int = 2,
) -> Study:
    """The study's complete models (of `authors`, or all), checked to be one study; the rest listed as left out.
    An export of a study (stylometry.runs.export) is read as the study it came from; a folder of plain per-author
    from_pretrained folders as a study whose held-out books are not known (_plain_study). min_authors: 1 where
    another study's models join it (runs/impostor_study.py), so that one author's models are a study."""
    if study_dir.is_dir() and not find_run_dirs(study_dir) and not is_export(study_dir) and _plain_folders(study_dir):
        return _plain_study(study_dir, authors)
    runs, left_out = (
        (_exported_runs(study_dir), []) if study_dir.is_dir() and is_export(study_dir) else _complete_runs(study_dir)
    )
    _refuse_mixed(study_dir, runs, tokenizer_override)
    if authors:
        unknown = sorted(set(authors) - {run.cfg.author.name for run in runs})
        if unknown:
            raise StudyError(
                f"--authors {','.join(unknown)}: no complete model of that author in {study_dir} "
                f"(its authors: {', '.join(sorted({run.cfg.author.name for run in runs}))})"
            )
    every_author = {run.cfg.author.name for run in runs}
    impostor_runs = [run for run in runs if authors and run.cfg.author.name not in authors]
    runs = [run for run in runs if run not in impostor_runs]
    models = _models(study_dir, runs, every_author, min_authors)
    impostors = _models(study_dir, impostor_runs, every_author, min_authors)
    reference = runs[0]
    found = run_inputs(reference.run_dir, reference.cfg)
    root = corpus or found.corpus_root
    if root is None or not root.is_dir():
        raise StudyError(
            f"the study's corpus {root or reference.cfg.data.root} is not here: pass --corpus <dir> (its books tell "
            "which texts a model trained on, and which books it held out)"
        )
    held_out, train_books = {}, {}
    for run in [*runs, *impostor_runs]:  # a text an impostor trained on is no evidence at that seed either
        if "held_out_books" not in run.manifest or "train_books" not in run.manifest:
            raise StudyError(f"{run.run_dir}/{MANIFEST} does not say which books the run trained on: {RETRAIN}")
        held_out.setdefault(run.cfg.seed, {}).update(run.manifest["held_out_books"])
        train_books[run.cfg.author.name, run.cfg.seed] = list(run.manifest["train_books"])
    return Study(study_dir, models, left_out, reference.cfg, root, found.tokenizer, held_out, train_books, impostors)


def _complete_runs(study_dir: Path) -> tuple[list[_Run], list[str]]:
    """The complete runs below study_dir (those with nothing left to train), and the others in words."""
    if not study_dir.is_dir():
        raise StudyError(f"no study dir {study_dir}: pass the dir a sweep wrote, e.g. multirun/<study>/<experiment>")
    run_dirs = find_run_dirs(study_dir)
    if not run_dirs:
        raise StudyError(
            f"{study_dir} holds no run dirs (no {STATUS} below it): pass the dir a sweep wrote, "
            "e.g. multirun/<study>/<experiment>"
        )
    runs, left_out, states = [], [], []
    for run_dir in run_dirs:
        if is_background(run_dir):  # what its seed's authors started from (init=background), not a candidate
            continue
        if decide(run_dir).action != SKIP:  # not a complete model: where the run stands says why
            job = job_state(run_dir)
            left_out.append(f"{run_dir}: {job.state}" + (f" ({job.detail})" if job.detail else ""))
            states.append(job.state)
            continue
        try:
            cfg = read_run_config(run_dir)
        except (OSError, ValueError, KeyError) as error:  # KeyError: a key this version's config has no more
            raise StudyError(
                f"{run_dir} is complete but its config does not read ({first_line(error)}): "
                "move it out of the study dir"
            ) from None
        if cfg.data.kind != "corpus":
            raise StudyError(f"{run_dir} is a data=text run, not a model of an author: pass a study's sweep dir")
        runs.append(_Run(run_dir, cfg, read_status(run_dir) or {}, read_manifest(run_dir)))
    if not runs:
        counts = ", ".join(f"{states.count(state)} {state}" for state in sorted(set(states))) or "none"
        raise StudyError(
            f"{study_dir} holds no complete model ({len(left_out)} runs: {counts}): finish the sweep (run its "
            "command again), then attribute"
        )
    return runs, left_out


PLAIN_SEED = re.compile(r"(?P<author>.+)-seed(?P<seed>\d+)")  # a folder <author>-seed<N>; any other name: seed 0
PLAIN = (
    "models that do not say which books they trained on and held out (plain from_pretrained folders, with no "
    "stylometry.json beside them): only their losses are compared"
)


def _plain_folders(study_dir: Path) -> list[Path]:
    return sorted(folder for folder in study_dir.iterdir() if (folder / "config.json").is_file())


def _plain_study(study_dir: Path, authors: list[str] | None) -> Study:
    """One model per folder (named <author> or <author>-seed<N>), each a GPT-2 with its own tokenizer, all of one
    vocabulary and shape; nothing is known of their books, so no held-out book is a reference."""
    from stylometry.data.tokenizer import load_tokenizer, tokenizer_fingerprint

    models, fingerprints, shapes = [], set(), set()
    for folder in _plain_folders(study_dir):
        named = PLAIN_SEED.fullmatch(folder.name)
        author, seed = (named["author"], int(named["seed"])) if named else (folder.name, 0)
        config = json.loads((folder / "config.json").read_text())
        if config.get("model_type") != "gpt2":
            raise StudyError(
                f"{folder} is not a GPT-2 (model_type {config.get('model_type')}): attribute scores GPT-2s"
            )
        try:
            tokenizer = load_tokenizer(str(folder))
        except ConfigError:
            raise StudyError(f"{folder} holds no tokenizer: save the model's tokenizer beside it") from None
        if len(tokenizer) > config["vocab_size"]:
            raise StudyError(
                f"{folder}: its tokenizer has {len(tokenizer):,} tokens, its weights {config['vocab_size']:,}: "
                "save the tokenizer the model was trained with beside it"
            )
        if any((m.author, m.seed) == (author, seed) for m in models):
            raise StudyError(f"two folders of {author} seed {seed} in {study_dir}: keep one")
        fingerprints.add(tokenizer_fingerprint(tokenizer))
        shapes.add(config.get("n_positions"))
        models.append(Model(folder, author, seed, folder))
    if len(fingerprints) > 1 or len(shapes) > 1:
        raise StudyError(f"{study_dir}'s models differ in tokenizer or context: pass a folder of one study's models")
    every_author = {m.author for m in models}
    chosen = [m for m in models if not authors or m.author in authors]
    unknown = sorted(set(authors or ()) - every_author)
    if unknown or len(every_author) < 2:
        raise StudyError(
            f"{study_dir}: models of {', '.join(sorted(every_author))}"
            + (f", none of {', '.join(unknown)}" if unknown else ": attribution needs two authors or more")
        )
    cfg = _plain_config(study_dir, models[0])
    seeds = {m.seed for m in models}
    return Study(study_dir, chosen, [], cfg, None, str(models[0].checkpoint), {s: {} for s in seeds}, {}, [], PLAIN)


def _plain_config(study_dir: Path, model: Model):
    """A TrainConfig that scores as the model's own shape says (its context, vocabulary), every text whole."""
    from stylometry.config.compose import compose
    from stylometry.config.schema import to_run_config
    from stylometry.data.authors import register_authors

    config = json.loads((model.checkpoint / "config.json").read_text())
    register_authors([model.author])
    shape = [f"model.{key}={config[key]}" for key in MODEL_KEYS]
    overrides = [f"author={model.author}", f"data.root={study_dir}", f"data.tokenizer={model.checkpoint}", *shape]
    return to_run_config(compose("train", [*overrides, "data.eval_max_tokens=null", f"study={study_dir.name}"]))


MODEL_KEYS = ("n_positions", "n_embd", "n_layer", "n_head", "vocab_size")  # config.json's names are the schema's


def _exported_runs(study_dir: Path) -> list[_Run]:
    """An export's models as the runs they were: their configs, and the facts of their status and manifest that a
    study is read from (which books each trained on and held out, the study's identity)."""
    try:
        exported = read_export(study_dir)
    except ExportError as error:
        raise StudyError(str(error)) from None
    runs = []
    for model in exported:
        facts = model.facts
        status = {key: facts.get(key) for key in ("study", "experiment", "corpus_sha256", "config_sha256")}
        manifest = {key: facts[key] for key in ("held_out_books", "train_books", "corpus_root")}
        runs.append(_Run(model.folder, model.cfg, status, manifest, checkpoint=model.folder))
    return runs


def _models(study_dir: Path, runs: list[_Run], every_author: set[str], min_authors: int = 2) -> list[Model]:
    """Each run's model and final checkpoint, one per author and seed, from a study of min_authors authors or more
    (two, of which --authors may choose one: a verification's candidate, the others' held-out books its reference;
    one where --impostors brings the others)."""
    models, seen = [], {}
    for run in runs:
        author, seed = run.cfg.author.name, run.cfg.seed
        if (author, seed) in seen:
            raise StudyError(
                f"two runs of {author} seed {seed}: {seen[author, seed]} and {run.run_dir}: "
                "pass a dir that holds one of them"
            )
        seen[author, seed] = run.run_dir
        if run.checkpoint is not None:
            models.append(Model(run.run_dir, author, seed, run.checkpoint))
            continue
        try:
            checkpoint = choose_checkpoint(run.run_dir, "latest")
        except LoadError as error:
            raise StudyError(f"{error}: {RETRAIN}") from None
        if checkpoint.name != CHECKPOINT:
            raise StudyError(f"{run.run_dir} has no final {CHECKPOINT}/ (only {checkpoint.name}/): {RETRAIN}")
        models.append(Model(run.run_dir, author, seed, checkpoint))
    if len(every_author) < min_authors:
        raise StudyError(
            f"{study_dir} has complete models of {len(every_author)} author(s) only: attribution needs models of "
            "two authors or more (one candidate is checked against the other authors' held-out books; or pass "
            "--impostors <a study of other writers>)"
        )
    return sorted(models, key=lambda m: (m.author, m.seed))


def _refuse_mixed(study_dir: Path, runs: list[_Run], tokenizer_override: str | None) -> None:
    """One study (stylometry/runs/compatibility.py): a mix is refused, naming the facet and the first setting
    that differs. Values a run does not record (runs older than the field) are not compared."""
    mix = first_mix(runs, _facet_values(runs, tokenizer_override))
    if mix is not None:
        sentence = mix.sentence(
            str(study_dir), lambda label, members: f"{label} ({runs_text(len(members))}, e.g. {members[0].run_dir})"
        )
        hint = _first_difference(mix.groups[0][1][0].cfg, mix.groups[1][1][0].cfg)
        raise StudyError(f"{sentence}{hint}: pass a dir that holds one study")


def _facet_values(runs: list[_Run], tokenizer_override: str | None):
    """value_of(run, facet) for the one-study rule, from each run's config, manifest and status.json."""
    from stylometry.data.tokenizer import load_tokenizer, tokenizer_fingerprint

    fingerprints = {}
    for name in sorted({run.cfg.data.tokenizer for run in runs}) if tokenizer_override is None else []:
        try:
            fingerprints[name] = tokenizer_fingerprint(load_tokenizer(name))
        except ConfigError:
            raise StudyError(
                f"cannot load the study's tokenizer {name}: pass --tokenizer /path/to/tokenizer "
                "(a folder with vocab.json and merges.txt)"
            ) from None

    def value_of(run: _Run, key: str):
        if key == "variant":
            settings = asdict(run.cfg.variant)
            settings.pop("nltk_data")
            return run.cfg.variant.name, repr(sorted(settings.items()))
        if key == "tokenizer":
            return _tokenizer_value(run, fingerprints)
        if key == "evaluation":
            data = run.cfg.data
            return (
                f"model {run.cfg.model.n_positions}-token context, data.eval_stride={data.eval_stride}, "
                f"data.eval_max_tokens={data.eval_max_tokens}"
            ), (repr(asdict(run.cfg.model)), data.eval_stride, data.eval_max_tokens)
        recorded = run.status.get(key)  # study, corpus_sha256, experiment, config_sha256
        return (str(recorded)[:12], recorded) if recorded else None

    return value_of


def _tokenizer_value(run: _Run, fingerprints: dict):
    """The tokenizer's files as the run's manifest recorded them, else its vocabulary as loaded here."""
    recorded = run.manifest.get("tokenizer") or {}
    sha = recorded.get("files_sha256") or recorded.get("sha256")
    if sha:
        return f"{recorded.get('path') or recorded.get('name')} (files {sha[:12]})", sha
    if run.cfg.data.tokenizer in fingerprints:
        fingerprint = fingerprints[run.cfg.data.tokenizer]
        return f"{run.cfg.data.tokenizer} (vocabulary {fingerprint[:12]})", fingerprint
    return None


def _first_difference(cfg_a, cfg_b) -> str:
    """`, first difference: model.n_embd=32 vs 64` between two runs' settings (author, seed and paths aside)."""

    def flat(cfg):
        settings = asdict(cfg)
        for key in ("author", "seed", "run_name", "device", "logger", "stop_criteria"):
            settings.pop(key, None)
        for key in ("root", "tokenizer", "cache_dir"):
            settings["data"].pop(key, None)
        return pd.json_normalize(settings, sep=".").iloc[0].to_dict()

    a, b = flat(cfg_a), flat(cfg_b)
    for key in sorted(set(a) | set(b)):
        if repr(a.get(key)) != repr(b.get(key)):
            return f"; first difference: {key}={a.get(key)} vs {b.get(key)}"
    return ""
