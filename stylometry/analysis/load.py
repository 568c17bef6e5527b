"""Reads sweeps from disk into one tidy table of losses, one row per (model, epoch, eval set).

    python -m stylometry.analyze multirun/paper --out analysis/paper    # load_sweeps() is its first step

Each input dir is walked to any depth; two layouts are recognised by their file names:

    ours        <job dir>/metrics.csv      epoch,dataset,loss,tokens,seconds
                <job dir>/status.json      identity (experiment, variant, author, seed) and state;
                                           when missing, .hydra/config.yaml gives the identity and
                                           the state is "unknown"
    the study   models/<name>/loss_logs.csv  seed,train_author,epochs_completed,loss_dataset,loss_value
                <name> = baum_tokenizer=gpt2_seed=0 | baum_variant=content_tokenizer=gpt2_seed=0
                         (| baum_tokenizer=gpt2_ntokens=10000_seed=0, kept apart as its own variant)

A model is identified by MODEL; every statistic is computed within one GROUP (an input, an
experiment and a variant), so variants and sweeps are never mixed.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd
import yaml

GROUP = ["sweep", "experiment", "variant"]
MODEL = GROUP + ["model_author", "seed"]
LOSS_COLUMNS = MODEL + ["epoch", "eval_set", "loss"]
RUN_COLUMNS = MODEL + ["state", "final_epoch", "path"]
TRAIN = "train"  # the eval_set of the mean training loss; every other eval set is a held-out text
COMPLETE = "complete"
PUBLISHED = "published"  # the study released only finished models, but wrote no state
STUDY_EXPERIMENT = "llm-stylometry"

OUR_METRICS, OUR_STATUS, HYDRA_CONFIG = "metrics.csv", "status.json", Path(".hydra") / "config.yaml"
STUDY_LOGS = "loss_logs.csv"
_STUDY_NAME = re.compile(
    r"^(?P<author>[^_]+)(?:_variant=(?P<variant>[^_]+))?_tokenizer=[^_]+"
    r"(?:_ntokens=(?P<ntokens>\d+))?_seed=(?P<seed>\d+)$"
)


@dataclass
class Sweeps:
    losses: pd.DataFrame  # LOSS_COLUMNS, `train` rows included
    runs: pd.DataFrame  # RUN_COLUMNS, one row per model
    problems: List[str] = field(default_factory=list)  # what was skipped or looks wrong, in words


def load_sweeps(inputs: Sequence) -> Sweeps:
    """Every model under every input; an input's label (column `sweep`) is the path as given."""
    losses, runs, problems = [], [], []
    for root in inputs:
        label, root = str(root).rstrip("/") or "/", Path(root)
        if not root.is_dir():
            problems.append(f"{label}: not a directory")
            continue
        found = sorted(root.rglob(OUR_METRICS)) + sorted(root.rglob(STUDY_LOGS))
        if not found:
            problems.append(f"{label}: no {OUR_METRICS} or {STUDY_LOGS} below it")
        for path in found:
            read = read_our_job if path.name == OUR_METRICS else read_study_model
            try:
                model_losses, run = read(path.parent, label)
            except (OSError, ValueError, KeyError) as e:
                problems.append(f"{path.parent}: skipped, {e}")
                continue
            if model_losses.empty:
                problems.append(f"{path.parent}: skipped, no losses logged yet")
                continue
            losses.append(model_losses)
            runs.append(run)
    runs_df = pd.DataFrame(runs, columns=RUN_COLUMNS)
    losses_df = pd.concat(losses, ignore_index=True) if losses else pd.DataFrame(columns=LOSS_COLUMNS)
    runs_df, losses_df = _drop_duplicate_models(runs_df, losses_df, problems)
    # Inputs keep the order they were given in (a report compares them in that order).
    order = {str(root).rstrip("/") or "/": i for i, root in enumerate(inputs)}
    runs_df = runs_df.sort_values(MODEL, key=lambda c: c.map(order) if c.name == "sweep" else c, kind="stable")
    return Sweeps(losses_df[LOSS_COLUMNS].reset_index(drop=True), runs_df.reset_index(drop=True), problems)


def read_our_job(job_dir: Path, sweep: str) -> Tuple[pd.DataFrame, Dict]:
    identity, state = _our_identity(job_dir)
    metrics = pd.read_csv(job_dir / OUR_METRICS, usecols=["epoch", "dataset", "loss"])
    metrics = metrics.rename(columns={"dataset": "eval_set"})
    return _tidy(metrics, {"sweep": sweep, **identity}, state, job_dir)


def read_study_model(model_dir: Path, sweep: str) -> Tuple[pd.DataFrame, Dict]:
    logs = pd.read_csv(model_dir / STUDY_LOGS)
    logs = logs.rename(columns={"epochs_completed": "epoch", "loss_dataset": "eval_set", "loss_value": "loss"})
    identity = parse_study_name(model_dir.name)
    if identity is None:  # a renamed dir: the log's own columns still say whose model it is
        identity = {"model_author": str(logs["train_author"].iloc[0]), "variant": "baseline",
                    "seed": int(logs["seed"].iloc[0])}
    identity = {"sweep": sweep, "experiment": STUDY_EXPERIMENT, **identity}
    return _tidy(logs[["epoch", "eval_set", "loss"]], identity, PUBLISHED, model_dir)


def parse_study_name(name: str) -> Optional[Dict]:
    """baum_variant=content_tokenizer=gpt2_seed=3 -> author baum, variant content, seed 3."""
    match = _STUDY_NAME.match(name)
    if not match:
        return None
    variant = match["variant"] or "baseline"
    if match["ntokens"]:  # the study's training-size sweep: a condition of its own, never pooled
        variant += f"_ntokens={match['ntokens']}"
    return {"model_author": match["author"], "variant": variant, "seed": int(match["seed"])}


def _our_identity(job_dir: Path) -> Tuple[Dict, str]:
    status = _read_json(job_dir / OUR_STATUS)
    if status and all(k in status for k in ("experiment", "variant", "author", "seed")):
        identity = {"experiment": status["experiment"], "variant": status["variant"], "model_author": status["author"],
                    "seed": int(status["seed"])}
        return identity, str(status.get("state", "unknown"))
    config_path = job_dir / HYDRA_CONFIG
    if not config_path.exists():
        raise ValueError(f"neither {OUR_STATUS} nor {HYDRA_CONFIG} says whose model this is")
    config = yaml.safe_load(config_path.read_text()) or {}
    identity = {"experiment": str(config["experiment_name"]), "variant": str(config["variant"]["name"]),
                "model_author": str(config["author"]["name"]), "seed": int(config["seed"])}
    return identity, "unknown"


def _read_json(path: Path) -> Optional[Dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _tidy(rows: pd.DataFrame, identity: Dict, state: str, path: Path) -> Tuple[pd.DataFrame, Dict]:
    rows = rows.assign(epoch=pd.to_numeric(rows["epoch"], errors="coerce"),
                       loss=pd.to_numeric(rows["loss"], errors="coerce"), eval_set=rows["eval_set"].astype(str))
    rows = rows.dropna(subset=["epoch", "loss"]).astype({"epoch": int})
    rows = _drop_repeated_epochs(rows)
    rows = rows.assign(**identity, path=str(path))[LOSS_COLUMNS + ["path"]]  # path: until duplicates are dropped
    evaluated = rows.loc[rows["eval_set"] != TRAIN, "epoch"]
    final_epoch = int(evaluated.max()) if len(evaluated) else None
    return rows, {**identity, "state": state, "final_epoch": final_epoch, "path": str(path)}


def _drop_repeated_epochs(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (epoch, eval set). A resumed run may log an epoch twice: the last one is the run that
    went on. Epoch 0 is the untrained model, logged once at the start; a later epoch-0 row is a resume's
    artefact (the study's consolidate_model_results.py keeps the first epoch-0 rows for this reason)."""
    first = rows[rows["epoch"] == 0].drop_duplicates(["epoch", "eval_set"], keep="first")
    last = rows[rows["epoch"] != 0].drop_duplicates(["epoch", "eval_set"], keep="last")
    return pd.concat([first, last]).sort_values(["epoch", "eval_set"], kind="stable")


def _drop_duplicate_models(runs: pd.DataFrame, losses: pd.DataFrame, problems: List[str]):
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
