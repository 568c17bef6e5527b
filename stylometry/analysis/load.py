"""Reads sweeps from disk into one tidy table of losses, one row per (model, epoch, eval set).

    python -m stylometry.analyze multirun/paper --out analysis/paper    # load_sweeps() is its first step

Each input dir is walked to any depth; two layouts are recognised:

    ours        our run dirs, read through stylometry/runs/: each one's metrics (runs/metrics.py: epoch,
                dataset, loss, tokens, seconds) and status (runs/status.py: identity, state, and the hashes of
                its corpus, corpus_sha256, and of its settings but author and seed, config_sha256); a run with no
                status gives its identity from its saved config (runs/layout.py) and the state "unknown"
    the study   models/<name>/loss_logs.csv  seed,train_author,epochs_completed,loss_dataset,loss_value
                <name> = baum_tokenizer=gpt2_seed=0 | baum_variant=content_tokenizer=gpt2_seed=0
                         (| baum_tokenizer=gpt2_ntokens=10000_seed=0, kept apart as its own variant)

A model is identified by MODEL; every statistic is computed within one GROUP (an input, a study, an
experiment and a variant), so variants, studies and sweeps are never mixed. Runs of one study name
that were trained on different corpora, or runs of one variant with different settings, are never
pooled either: their `study` label gets the hash that tells them apart (`corpus 1a2b3c4d`,
`config 5e6f7a8b`) and load_sweeps() names the difference among its problems, in the words `attribute` refuses
such a mix with (stylometry/runs/compatibility.py: the one rule of what runs make one study). Runs written before
their status held these hashes count as compatible with any.
"""

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from stylometry.config.schema import BACKGROUND_RUN
from stylometry.runs.compatibility import FACET, first_mix, runs_text
from stylometry.runs.layout import METRICS, RUN_CONFIG, STATUS, read_saved_config
from stylometry.runs.metrics import find_metrics, metrics_table
from stylometry.runs.status import read_status

GROUP = ["sweep", "study", "experiment", "variant"]
MODEL = GROUP + ["model_author", "seed"]
LOSS_COLUMNS = MODEL + ["epoch", "eval_set", "loss"]
RUN_COLUMNS = MODEL + ["state", "final_epoch", "corpus_sha256", "config_sha256", "path"]
TRAIN = "train"  # the eval_set of the mean training loss; every other eval set is a held-out text
PUBLISHED = "published"  # the study released only finished models, but wrote no state
STUDY_NAME = "llm-stylometry"  # the study name of the study's published logs
STUDY_EXPERIMENT = "paper"  # and their experiment: the paper's settings, which our experiment=paper reproduces
UNKNOWN_STUDY = "unnamed"  # runs whose status is older than its `study` key, where no other run names it

STUDY_LOGS = "loss_logs.csv"
HASHES = ("corpus_sha256", "config_sha256")  # in a run's status: what it was trained on, and with which settings
_STUDY_NAME = re.compile(
    r"^(?P<author>[^_]+)(?:_variant=(?P<variant>[^_]+))?_tokenizer=[^_]+"
    r"(?:_ntokens=(?P<ntokens>\d+))?_seed=(?P<seed>\d+)$"
)


@dataclass
class Sweeps:
    losses: pd.DataFrame  # LOSS_COLUMNS, `train` rows included
    runs: pd.DataFrame  # RUN_COLUMNS, one row per model
    problems: list[str] = field(default_factory=list)  # what was skipped or looks wrong, in words


def load_sweeps(inputs: Sequence) -> Sweeps:
    """Every model under every input; an input's label (column `sweep`) is the path as given."""
    losses, runs, problems = [], [], []
    for root in inputs:
        label, root = str(root).rstrip("/") or "/", Path(root)
        if not root.is_dir():
            problems.append(f"{label}: not a directory")
            continue
        found = [run_dir / METRICS for run_dir in find_metrics(root)] + sorted(root.rglob(STUDY_LOGS))
        if not found:
            problems.append(f"{label}: no {METRICS} or {STUDY_LOGS} below it")
        for path in found:
            read = read_our_job if path.name == METRICS else read_study_model
            try:
                model_losses, run = read(path.parent, label)
            except (OSError, ValueError, KeyError) as e:
                problems.append(f"{path.parent}: skipped, {e}")
                continue
            if run["model_author"] == BACKGROUND_RUN:  # what its seed's authors started from, not a candidate
                continue
            if model_losses.empty:
                problems.append(f"{path.parent}: skipped, no losses logged yet")
                continue
            losses.append(model_losses)
            runs.append(run)
    runs_df = pd.DataFrame(runs, columns=RUN_COLUMNS)
    losses_df = pd.concat(losses, ignore_index=True) if losses else pd.DataFrame(columns=LOSS_COLUMNS + ["path"])
    runs_df = separate_incompatible(runs_df, problems)
    losses_df["study"] = losses_df["path"].map(dict(zip(runs_df["path"], runs_df["study"])))
    runs_df, losses_df = _drop_duplicate_models(runs_df, losses_df, problems)
    # Inputs keep the order they were given in (a report compares them in that order).
    order = {str(root).rstrip("/") or "/": i for i, root in enumerate(inputs)}
    runs_df = runs_df.sort_values(MODEL, key=lambda c: c.map(order) if c.name == "sweep" else c, kind="stable")
    return Sweeps(losses_df[LOSS_COLUMNS].reset_index(drop=True), runs_df.reset_index(drop=True), problems)


def read_our_job(job_dir: Path, sweep: str) -> tuple[pd.DataFrame, dict]:
    identity, state, hashes = _our_identity(job_dir)
    metrics = metrics_table(job_dir, ["epoch", "dataset", "loss"])
    metrics = metrics.rename(columns={"dataset": "eval_set"})
    return _tidy(metrics, {"sweep": sweep, **identity}, state, job_dir, hashes)


def read_study_model(model_dir: Path, sweep: str) -> tuple[pd.DataFrame, dict]:
    logs = pd.read_csv(model_dir / STUDY_LOGS)
    logs = logs.rename(columns={"epochs_completed": "epoch", "loss_dataset": "eval_set", "loss_value": "loss"})
    identity = parse_study_name(model_dir.name)
    if identity is None:  # a renamed dir: the log's own columns still say whose model it is
        identity = {
            "model_author": str(logs["train_author"].iloc[0]),
            "variant": "baseline",
            "seed": int(logs["seed"].iloc[0]),
        }
    identity = {"sweep": sweep, "study": STUDY_NAME, "experiment": STUDY_EXPERIMENT, **identity}
    return _tidy(logs[["epoch", "eval_set", "loss"]], identity, PUBLISHED, model_dir, {})


def parse_study_name(name: str) -> dict | None:
    """baum_variant=content_tokenizer=gpt2_seed=3 -> author baum, variant content, seed 3."""
    match = _STUDY_NAME.match(name)
    if not match:
        return None
    variant = match["variant"] or "baseline"
    if match["ntokens"]:  # the study's training-size sweep: a condition of its own, never pooled
        variant += f"_ntokens={match['ntokens']}"
    return {"model_author": match["author"], "variant": variant, "seed": int(match["seed"])}


def _our_identity(job_dir: Path) -> tuple[dict, str, dict]:
    """(identity, state, hashes) of one of our jobs; `study` and the hashes are None where not recorded."""
    status = read_status(job_dir)
    if status and all(k in status for k in ("experiment", "variant", "author", "seed")):
        identity = {
            "study": status.get("study"),
            "experiment": status["experiment"],
            "variant": status["variant"],
            "model_author": status["author"],
            "seed": int(status["seed"]),
        }
        hashes = {key: status.get(key) for key in HASHES}
        return identity, str(status.get("state", "unknown")), hashes
    config = read_saved_config(job_dir)
    if config is None:
        raise ValueError(f"neither {STATUS} nor a saved config ({RUN_CONFIG}) says whose model this is")
    study = config.get("study")
    identity = {
        "study": None if study is None or "${" in str(study) else str(study),  # an unresolved interpolation
        "experiment": str(config["experiment_name"]),
        "variant": str(config["variant"]["name"]),
        "model_author": str(config["author"]["name"]),
        "seed": int(config["seed"]),
    }
    return identity, "unknown", {}


def _tidy(rows: pd.DataFrame, identity: dict, state: str, path: Path, hashes: dict) -> tuple[pd.DataFrame, dict]:
    rows = rows.assign(
        epoch=pd.to_numeric(rows["epoch"], errors="coerce"),
        loss=pd.to_numeric(rows["loss"], errors="coerce"),
        eval_set=rows["eval_set"].astype(str),
    )
    rows = rows.dropna(subset=["epoch", "loss"]).astype({"epoch": int})
    rows = _drop_repeated_epochs(rows)
    rows = rows.assign(**identity, path=str(path))[LOSS_COLUMNS + ["path"]]  # path: until duplicates are dropped
    evaluated = rows.loc[rows["eval_set"] != TRAIN, "epoch"]
    final_epoch = int(evaluated.max()) if len(evaluated) else None
    run = {**identity, "state": state, "final_epoch": final_epoch, "path": str(path)}
    return rows, {**run, **{key: hashes.get(key) for key in HASHES}}


def separate_incompatible(runs: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    """Gives every run its final `study` label, so that no group mixes runs that must not be compared.

    A run with no study name (older than the key) takes the one study name of its input and experiment,
    if there is one. The rest is the one-study rule (stylometry/runs/compatibility.py): study, experiment and
    variant are GROUP columns, never pooled; within an input, study and experiment, runs trained on different
    corpora (corpus_sha256) are told apart by `corpus <hash>`; within a variant, runs with different settings
    (config_sha256) by `config <hash>`. A missing hash is compatible with any, unless the known ones already
    differ: then it cannot be placed, and is kept apart as `corpus ?` or `config ?`."""
    if runs.empty:
        return runs
    runs = runs.copy()
    for index in runs.groupby(["sweep", "experiment"], sort=False).groups.values():
        studies = runs.loc[index, "study"]
        names = studies.dropna().unique()
        if len(names) > 1 and studies.isna().any():
            sweep, experiment = runs.loc[index[0], ["sweep", "experiment"]]
            problems.append(
                f"{sweep} · {experiment}: {int(studies.isna().sum())} runs name no study while others name "
                f"{', '.join(sorted(names))}; they are analysed apart as study {UNKNOWN_STUDY!r}"
            )
        runs.loc[index, "study"] = studies.fillna(names[0] if len(names) == 1 else UNKNOWN_STUDY)
    for hash_key, within in (
        ("corpus_sha256", ["sweep", "study", "experiment"]),
        ("config_sha256", ["sweep", "study", "experiment", "variant"]),
    ):
        for key, index in list(runs.groupby(within, sort=False).groups.items()):
            place = " · ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
            _split_mix(runs, list(index), FACET[hash_key], place, problems)
    return runs


def _split_mix(runs: pd.DataFrame, index: list, facet, place: str, problems: list[str]) -> None:
    """Labels the runs at `index` by their value of `facet` (a hash) if they differ in it, and says so."""

    def short(i):
        value = runs.at[i, facet.key]
        return None if pd.isna(value) else (str(value)[:8], value)

    mix = first_mix(index, lambda i, _key: short(i), facets=(facet,))
    if mix is None:
        return
    for i in index:
        runs.at[i, "study"] = f"{runs.at[i, 'study']} ({facet.tag} {(short(i) or ('?',))[0]})"
    groups = [*mix.groups, *([("?", mix.unrecorded)] if mix.unrecorded else [])]
    sentence = dataclasses.replace(mix, groups=groups).sentence(place, lambda label, i: f"{label}: {runs_text(len(i))}")
    problems.append(
        f"{sentence}; analysed as separate groups named by it, never pooled"
        + (' ("?": a run that recorded none)' if mix.unrecorded else "")
    )


def _drop_repeated_epochs(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (epoch, eval set). A resumed run may log an epoch twice: the last one is the run that
    went on. Epoch 0 is the untrained model, logged once at the start; a later epoch-0 row is a resume's
    artefact (the study's consolidate_model_results.py keeps the first epoch-0 rows for this reason)."""
    first = rows[rows["epoch"] == 0].drop_duplicates(["epoch", "eval_set"], keep="first")
    last = rows[rows["epoch"] != 0].drop_duplicates(["epoch", "eval_set"], keep="last")
    return pd.concat([first, last]).sort_values(["epoch", "eval_set"], kind="stable")


def _drop_duplicate_models(runs: pd.DataFrame, losses: pd.DataFrame, problems: list[str]):
    """Two dirs with one identity (e.g. a rerun in another dir) would count a model twice: keep the one
    that trained longest."""
    if runs.empty:
        return runs, losses
    runs = runs.sort_values("final_epoch", ascending=False, na_position="last", kind="stable")
    duplicated = runs.duplicated(MODEL, keep="first")
    for _, run in runs[duplicated].iterrows():
        kept = runs[(runs[MODEL] == run[MODEL]).all(axis=1)].iloc[0]
        problems.append(f"{run['path']}: same model as {kept['path']}, which trained longer and is the one analysed")
    runs = runs[~duplicated]
    losses = losses[losses["path"].isin(set(runs["path"]))]
    return runs, losses
