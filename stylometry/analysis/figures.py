"""The study's figures for one group (input, experiment, variant), each as PNG and PDF.

    python -m stylometry.analyze multirun/paper --out analysis/paper    # writes figures/<group>/*

Drawn with matplotlib's object API (Figure + savefig, the Agg canvas): no pyplot, so nothing global
is switched on import or left open after a call.

    training_curves   mean loss over epochs, one panel per eval set (train + each author's book),
                      one line per model author; band = min..max over seeds
    final_losses      every model's final loss on its own author's book (black) and others' (gray)
    confusion         mean final loss of each model author (row) on each author's book (column)
    t_over_epochs     Welch t (other books vs own book) per model author; dashed: the t of p = alpha
    extra_sets        the contested and non-Oz books: loss over epochs, and the final losses
    cost_curve        attribution accuracy and the extra sets' margins against epochs trained: what
                      a smaller training budget would have concluded
"""

from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from scipy import stats as scipy_stats

from stylometry.analysis.load import GROUP, TRAIN
from stylometry.analysis.stats import where_all_models

FORMATS = ("png", "pdf")
PANEL = 2.6  # inches per small panel


def draw_all(group_losses: pd.DataFrame, final_rows: pd.DataFrame, confusion_table: pd.DataFrame,
             by_epoch: pd.DataFrame, accuracy_by_epoch: pd.DataFrame, extra_by_epoch: pd.DataFrame,
             alpha: float, out_dir: Path) -> List[Path]:
    """Every figure of one group into out_dir; returns the files written. Inputs hold one group only."""
    out_dir.mkdir(parents=True, exist_ok=True)
    authors = sorted(group_losses["model_author"].unique())
    colors = {author: colormaps["tab10"](i % 10) for i, author in enumerate(authors)}
    books = [b for b in sorted(group_losses["eval_set"].unique()) if b in colors]
    extras = sorted(set(group_losses["eval_set"]) - set(books) - {TRAIN})
    figures = {
        "training_curves": training_curves(group_losses, [TRAIN] + books, colors),
        "final_losses": final_losses(final_rows[final_rows["eval_set"].isin(books)], authors),
        "confusion": confusion(confusion_table),
        "t_over_epochs": t_over_epochs(by_epoch, alpha, colors),
        "cost_curve": cost_curve(accuracy_by_epoch, extra_by_epoch),
    }
    if extras:
        figures["extra_sets"] = extra_sets(group_losses, final_rows, extras, colors)
    written = []
    for name, figure in figures.items():
        for fmt in FORMATS:
            path = out_dir / f"{name}.{fmt}"
            figure.savefig(path, dpi=150)  # constrained layout already fits the labels
            written.append(path)
    return written


def training_curves(losses: pd.DataFrame, panels: Sequence[str], colors: Dict) -> Figure:
    # Only epochs all of an author's seeds reached: a mean over fewer seeds would jump.
    rows = where_all_models(losses[losses["eval_set"].isin(panels)], GROUP + ["model_author"])
    fig, axes = _grid(len(panels))
    for ax, panel in zip(axes, panels):
        for author, sub in rows[rows["eval_set"] == panel].groupby("model_author"):
            curve = sub.groupby("epoch")["loss"].agg(["mean", "min", "max"])
            ax.plot(curve.index, curve["mean"], color=colors[author], lw=1, label=author)
            ax.fill_between(curve.index, curve["min"], curve["max"], color=colors[author], alpha=0.2, lw=0)
        ax.set_title(panel if panel == TRAIN else f"{panel}'s book", fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("loss", fontsize=8)
        ax.tick_params(labelsize=7)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(title="model author", fontsize=6, title_fontsize=7)
    return fig


def final_losses(final_books: pd.DataFrame, authors: Sequence[str]) -> Figure:
    fig = Figure(figsize=(max(4.0, 0.7 * len(authors) + 1), 3.2), layout="constrained")
    ax = fig.add_subplot()
    jitter = np.random.default_rng(0)  # fixed: the same data draws the same picture
    for x, author in enumerate(authors):
        sub = final_books[final_books["model_author"] == author]
        is_own = (sub["eval_set"] == author).to_numpy()
        for mask, color, label in ((~is_own, "0.6", "other authors' books"), (is_own, "black", "own author's book")):
            ax.scatter(x + jitter.uniform(-0.2, 0.2, mask.sum()), sub["loss"].to_numpy()[mask], s=8, color=color,
                       label=label if x == 0 else None)
    ax.set_xticks(range(len(authors)), authors, rotation=30, fontsize=8)
    ax.set_xlabel("model author")
    ax.set_ylabel("final loss")
    fig.legend(loc="outside upper center", ncol=2, fontsize=7)
    return fig


def confusion(confusion_table: pd.DataFrame) -> Figure:
    matrix = confusion_table.pivot_table(index="model_author", columns="book", values="mean_loss")
    fig = Figure(figsize=(1.5 + 0.7 * matrix.shape[1], 1.0 + 0.6 * matrix.shape[0]), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(matrix.to_numpy(), cmap="viridis_r")  # reversed: lower loss is lighter, as in the study
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(matrix.shape[0]), matrix.index, fontsize=8)
    ax.set_xlabel("held-out book of")
    ax.set_ylabel("model author")
    for (i, j), value in np.ndenumerate(matrix.to_numpy()):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value > np.nanmean(matrix) else "black")
    fig.colorbar(image, ax=ax, label="mean final loss")
    return fig


def t_over_epochs(by_epoch: pd.DataFrame, alpha: float, colors: Dict) -> Figure:
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    for author, sub in by_epoch.sort_values("epoch").groupby("model_author"):
        ax.plot(sub["epoch"], sub["t"], color=colors.get(author, "gray"), lw=1, label=author)
    # The t of p = alpha depends on each test's df: draw its mean over authors, epoch by epoch.
    critical = by_epoch.dropna(subset=["df"]).assign(t_crit=lambda d: scipy_stats.t.isf(alpha / 2, d["df"]))
    critical = critical.groupby("epoch")["t_crit"].mean()
    if len(critical):
        ax.plot(critical.index, critical.to_numpy(), "k--", lw=1, label=f"p = {alpha:g}")
        ax.legend(fontsize=6, ncol=2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("t (other books vs own book)")
    return fig


def extra_sets(losses: pd.DataFrame, final_rows: pd.DataFrame, extras: Sequence[str], colors: Dict) -> Figure:
    fig = Figure(figsize=(PANEL * len(extras), 2 * PANEL), layout="constrained")
    axes = fig.subplots(2, len(extras), squeeze=False)
    rows = where_all_models(losses[losses["eval_set"].isin(extras)], GROUP + ["model_author"])
    for column, extra in enumerate(extras):
        top, bottom = axes[0, column], axes[1, column]
        for author, sub in rows[rows["eval_set"] == extra].groupby("model_author"):
            curve = sub.groupby("epoch")["loss"].agg(["mean", "min", "max"])
            top.plot(curve.index, curve["mean"], color=colors[author], lw=1, label=author)
            top.fill_between(curve.index, curve["min"], curve["max"], color=colors[author], alpha=0.2, lw=0)
        top.set_title(extra, fontsize=9)
        top.set_xlabel("epoch", fontsize=8)
        top.set_ylabel("loss", fontsize=8)
        if top.get_legend_handles_labels()[0]:
            top.legend(fontsize=6)
        final = final_rows[final_rows["eval_set"] == extra]
        authors = sorted(final["model_author"].unique())
        for x, author in enumerate(authors):
            values = final.loc[final["model_author"] == author, "loss"].to_numpy()
            bottom.scatter(np.full(len(values), x), values, s=10, color=colors[author])
            bottom.hlines(values.mean(), x - 0.3, x + 0.3, color="black", lw=1)
        bottom.set_xticks(range(len(authors)), authors, fontsize=8)
        bottom.set_xlim(-0.6, len(authors) - 0.4)
        bottom.set_ylabel("final loss", fontsize=8)
    return fig


def cost_curve(accuracy_by_epoch: pd.DataFrame, extra_by_epoch: pd.DataFrame) -> Figure:
    """Left: books attributed correctly (all seeds pooled) per epoch. Right: per extra set, the mean loss
    of the runner-up's models minus the attributed author's, signed for the author attributed last."""
    fig = Figure(figsize=(2 * PANEL + 1, PANEL), layout="constrained")
    left, right = fig.subplots(1, 2)
    overall = accuracy_by_epoch[accuracy_by_epoch["seed"].isna()].sort_values("epoch")
    left.plot(overall["epoch"], overall["accuracy"], "o-", color="black", lw=1, ms=3)
    left.set_ylim(-0.05, 1.05)
    left.set_xlabel("epoch")
    left.xaxis.get_major_locator().set_params(integer=True)
    left.set_ylabel("attribution accuracy")
    for eval_set, sub in extra_by_epoch.sort_values("epoch").groupby("eval_set"):
        final = sub.iloc[-1]
        if pd.isna(final["runner_up"]):
            continue  # one model author only: no margin
        sign = np.where(sub["attributed_to"] == final["attributed_to"], 1.0, -1.0)
        right.plot(sub["epoch"], sign * sub["margin"], "o-", lw=1, ms=3,
                   label=f"{eval_set}: {final['runner_up']} - {final['attributed_to']}")
    right.axhline(0, color="gray", lw=0.8)
    right.set_xlabel("epoch")
    right.xaxis.get_major_locator().set_params(integer=True)
    right.set_ylabel("loss margin (> 0: final verdict)")
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=6)
    return fig


def _grid(num_panels: int):
    columns = min(3, num_panels)
    rows = -(-num_panels // columns)
    fig = Figure(figsize=(PANEL * columns, PANEL * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[num_panels:]:
        ax.set_visible(False)
    return fig, axes

