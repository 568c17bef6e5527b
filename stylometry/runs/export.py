"""A study exported to share: one folder per complete model that transformers loads alone, each with its model
card, and the study's card beside them.

    python -m stylometry.export multirun/corpus/paper --out exports/paper

    <out>/README.md                   the study's card: its identity, every model, how to load one, how to publish
    <out>/<author>-seed<seed>/        a model: what AutoModelForCausalLM and AutoTokenizer.from_pretrained read
        model.safetensors, config.json, generation_config.json    the run's final checkpoint, byte for byte
        tokenizer.json, tokenizer_config.json, ...                the run's tokenizer (save_pretrained)
        training_config.yaml                                      the run's whole config (its config.yaml)
        README.md                                                 the model's card (the Hub's YAML header)
        stylometry.json                                           the card's facts, read back by read_export

`python -m stylometry.attribute <out> ...` reads an export as the study it came from (read_export: each model's
weights checked against the hash its card states).

An export is written whole into a hidden folder beside --out and renamed to it at the end: an export cut short
leaves no half folder under --out's name, and an --out that exists is refused, never written into.
"""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from stylometry.model.starting_weights import weights_sha256
from stylometry.runs.checkpoint import read_training_state
from stylometry.runs.layout import RUN_CONFIG, WEIGHTS
from stylometry.runs.manifest import read_manifest
from stylometry.runs.status import read_status

CARD = "README.md"
CHECKPOINT_FILES = ("config.json", "generation_config.json", WEIGHTS)  # generation_config.json where the run has one
TRAINING_CONFIG = "training_config.yaml"
FACTS = "stylometry.json"
TAGS = ["stylometry", "authorship-attribution", "gpt2"]


class ExportError(ValueError):
    """An export that cannot be written; the message says what to do."""


@dataclass(frozen=True)
class StudyFacts:
    """What every model's card says of its study (the export command gathers it)."""

    name: str  # the study (the corpus folder's name)
    experiment: str
    variant: str
    source: str  # the study dir it was exported from
    accuracy: dict  # seed (or "all") -> (books named, books): the study's held-out books at each model's final epoch
    command: str  # the export's command line
    license: str


def model_folder(author: str, seed: int) -> str:
    return f"{author}-seed{seed}"


def refuse_existing(out: Path) -> None:
    """ExportError for an --out that exists: an export never writes into a folder."""
    if out.exists():
        raise ExportError(f"--out {out} exists: name a new folder (an export never writes into one)")


def export_study(study, facts: StudyFacts, out: Path) -> list[Path]:
    """Every model of `study` (stylometry.runs.study.Study) as a folder under `out`, with the study's card."""
    from stylometry.data.tokenizer import load_tokenizer

    refuse_existing(out)
    partial = out.parent / f".{out.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    tokenizer = load_tokenizer(study.tokenizer)
    rows = []
    for model in sorted(study.models, key=lambda m: (m.author, m.seed)):
        folder = partial / model_folder(model.author, model.seed)
        folder.mkdir()
        for name in CHECKPOINT_FILES:
            if (model.checkpoint / name).is_file():
                shutil.copy2(model.checkpoint / name, folder / name)
        shutil.copy2(model.run_dir / RUN_CONFIG, folder / TRAINING_CONFIG)
        tokenizer.save_pretrained(folder)
        facts_of_model = _model_facts(model, study, weights_sha256(folder))
        (folder / CARD).write_text(model_card(facts_of_model, facts), encoding="utf-8")
        (folder / FACTS).write_text(json.dumps(facts_of_model, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        rows.append(facts_of_model)
    (partial / CARD).write_text(study_card(rows, facts), encoding="utf-8")
    partial.rename(out)
    return [out / model_folder(row["author"], row["seed"]) for row in rows]


def _model_facts(model, study, weights_hash: str) -> dict:
    """One model's card's facts, from its run dir: its status, manifest and saved training state."""
    status = read_status(model.run_dir) or {}
    manifest = read_manifest(model.run_dir)
    identity = read_training_state(model.checkpoint, mmap=True).identity
    init = identity.get("init", {"name": "scratch", "weights_sha256": None})
    cfg = study.cfg
    return {
        "author": model.author,
        "seed": model.seed,
        "init": init["name"],
        "init_weights_sha256": init.get("weights_sha256"),
        "init_path": cfg.init.path if init["name"] == "pretrained" else None,
        "train_books": manifest["train_books"],
        "n_train_tokens": identity["data"]["n_train_tokens"],
        "held_out_book": manifest["held_out_books"][model.author],
        "held_out_books": manifest["held_out_books"],
        "reason": status.get("reason"),
        "epoch": status.get("epoch"),
        "step": status.get("step"),
        "losses": status.get("losses", {}),
        "corpus_sha256": status.get("corpus_sha256") or manifest.get("corpus_sha256"),
        "corpus_root": manifest.get("corpus_root"),
        "study": status.get("study"),
        "experiment": status.get("experiment"),
        "config_sha256": status.get("config_sha256"),
        "weights_sha256": weights_hash,
        "model": identity["model"],
        "stylometry": manifest.get("stylometry"),
        "git_commit": manifest.get("git_commit"),
    }


def _header(facts: StudyFacts, model: dict | None) -> str:
    """The Hub's YAML header (huggingface_hub's ModelCardData writes it, so the Hub reads it as it wrote it)."""
    from huggingface_hub import ModelCardData

    data = ModelCardData(
        license=facts.license,
        language="en",
        library_name="transformers",
        pipeline_tag="text-generation" if model else None,
        tags=[*TAGS, facts.variant] + ([model["author"]] if model else []),
        base_model=model["init_path"] if model and model["init_path"] else None,
    )
    return f"---\n{data.to_yaml()}\n---\n"


def _accuracy_words(accuracy: dict, seed) -> str:
    named, books = accuracy.get(seed, (None, None))
    return f"{named} of {books}" if books else "not measured"


def model_card(model: dict, facts: StudyFacts) -> str:
    start = model["init_weights_sha256"]
    init = model["init"] + (f" (starting weights sha256 {start})" if start else "")
    if model["init_path"]:
        init += f", from {model['init_path']}"
    shape = model["model"]
    made_by = f"stylometry {model['stylometry']}" + (f", commit {model['git_commit']}" if model["git_commit"] else "")
    seed = model["seed"]
    facts_table = [
        ("author", model["author"]),
        ("seed", f"{seed} (draws the held-out books, the training text and the initial weights)"),
        ("variant", f"{facts.variant} (the text the model saw)"),
        ("init", init),
        ("training books", f"{len(model['train_books'])}: {', '.join(model['train_books'])}"),
        ("training tokens", f"{model['n_train_tokens']:,}"),
        ("held-out book", f"{model['held_out_book']} (never trained on)"),
        (f"seed {seed}'s held-out books", _held_out(model)),
        ("stopped", f"{model['reason']} at epoch {model['epoch']}, step {model['step']}"),
        (
            "the study's held-out accuracy",
            f"{_accuracy_words(facts.accuracy, seed)} books of seed {seed}; "
            f"{_accuracy_words(facts.accuracy, 'all')} of the study",
        ),
        ("weights (model.safetensors) sha256", model["weights_sha256"]),
        ("corpus sha256", model["corpus_sha256"]),
        ("study config sha256", f"{model['config_sha256']} (every model of the study shares it)"),
        (
            "shape",
            f"{shape['n_layer']} layers, width {shape['n_embd']}, {shape['n_head']} heads, "
            f"context {shape['n_positions']}, vocabulary {shape['vocab_size']:,}",
        ),
        ("made by", f"{made_by}; `{facts.command}` from `{facts.source}`"),
    ]
    table = "\n".join(f"| {key} | {value} |" for key, value in facts_table)
    losses = "\n".join(f"| {name} | {loss:.4f} |" for name, loss in sorted(model["losses"].items()))
    return f"""{_header(facts, model)}
# {model["author"]}, seed {seed}: a GPT-2 of one author's books ({facts.name} / {facts.experiment})

A small GPT-2 trained on {model["author"]}'s books alone by stylometry, a rebuild of "A Stylometric Application of
Large Language Models" (arXiv:2510.21958; ContextLab/llm-stylometry): one model per author and seed, and a text goes to
the author whose model finds it least surprising (lowest cross-entropy loss). It loads alone, offline:

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained("<this folder>")
tokenizer = AutoTokenizer.from_pretrained("<this folder>")
```

| | |
| --- | --- |
{table}

**Final losses** (nats per token: the training loss, and the mean loss on each evaluation text's first tokens):

| text | loss |
| --- | --- |
{losses}

The run's whole config is `{TRAINING_CONFIG}` beside this card.
"""


def _held_out(model: dict) -> str:
    return ", ".join(f"{author} {book}" for author, book in sorted(model["held_out_books"].items()))


def study_card(models: list[dict], facts: StudyFacts) -> str:
    rows = "\n".join(
        f"| [{model_folder(m['author'], m['seed'])}]({model_folder(m['author'], m['seed'])}/{CARD}) | {m['author']} | "
        f"{m['seed']} | {m['held_out_book']} | {m['losses'].get('train', float('nan')):.4f} | "
        f"{m['weights_sha256'][:16]} |"
        for m in models
    )
    first = models[0]
    return f"""{_header(facts, None)}
# The study {facts.name} / {facts.experiment} ({facts.variant}): {len(models)} models

Exported by `{facts.command}` from `{facts.source}` (stylometry {first["stylometry"]}). Corpus sha256
{first["corpus_sha256"]}; study config sha256 {first["config_sha256"]}. The study's held-out accuracy (each author's
held-out book of a seed named by the lowest loss among that seed's models, at each model's final epoch):
{_accuracy_words(facts.accuracy, "all")} books.

| model | author | seed | held-out book | final training loss | weights sha256 (first 16) |
| --- | --- | --- | --- | --- | --- |
{rows}

Each folder loads with `AutoModelForCausalLM.from_pretrained(folder)` and `AutoTokenizer.from_pretrained(folder)`,
offline. To publish one on the Hugging Face Hub (optional; needs a token):

```python
from huggingface_hub import upload_folder
upload_folder(repo_id="<you>/<model>", folder_path="<this folder>/<model>")
```
"""


@dataclass(frozen=True)
class ExportedModel:
    folder: Path  # what from_pretrained loads: the weights, config and tokenizer
    facts: dict  # its card's facts (FACTS)
    cfg: object  # the run's TrainConfig, its data.tokenizer the folder


def exported_facts(folder: Path) -> dict:
    """One exported model's facts (its card's, as export_study wrote them); an OSError or ValueError where they do
    not read."""
    return json.loads((folder / FACTS).read_text(encoding="utf-8"))


def is_exported_model(folder: Path) -> bool:
    return (folder / FACTS).is_file()


def is_export(path: Path) -> bool:
    return (path / CARD).is_file() and any((folder / FACTS).is_file() for folder in path.iterdir() if folder.is_dir())


def read_export(path: Path) -> list[ExportedModel]:
    """The models of an export written by export_study; ExportError for one whose weights are not those its card
    states, or whose facts or config do not read."""
    from stylometry.runs.layout import read_run_config

    models = []
    for folder in sorted(folder for folder in path.iterdir() if (folder / FACTS).is_file()):
        try:
            facts = exported_facts(folder)
            cfg = read_run_config(folder, TRAINING_CONFIG)
        except (OSError, ValueError, KeyError) as error:
            raise ExportError(f"{folder} does not read as an export ({error}): export the study again") from None
        if not (folder / WEIGHTS).is_file() or weights_sha256(folder) != facts.get("weights_sha256"):
            raise ExportError(
                f"{folder / WEIGHTS} is not the weights its card states (sha256 {str(facts.get('weights_sha256'))[:12]}"
                "...): export the study again, or restore that file"
            )
        cfg.data.tokenizer = str(folder)  # the run's tokenizer, saved beside its weights
        if facts.get("corpus_root") and Path(facts["corpus_root"]).is_dir():
            cfg.data.root = facts["corpus_root"]  # where the run's manifest found its corpus (else --corpus)
        models.append(ExportedModel(folder, facts, cfg))
    return models
