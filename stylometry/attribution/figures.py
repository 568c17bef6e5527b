"""The figures of an attribution (stylometry.attribute), drawn with matplotlib's object API (no pyplot).

python -m stylometry.attribute <study dir> <texts> --out <dir>    # writes <dir>/figures/*.png

text_losses      one text: each author's models' losses, one dot per seed, a line joining each seed's
                 models (the pairs the paired test compares), the mean as a bar
text_excerpts    one text cut into excerpts: the share of excerpts attributed to each author against
                 excerpt length
rolling          one text along its length (--rolling): each candidate's mean loss per window with its seeds' band,
                 and the margin of the leader over the runner-up with its band, the passages each leads shaded
held_out_curve   the study's held-out books: attribution accuracy against excerpt length, overall
                 with its 95% interval, and per author
"""

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from stylometry.attribution.verification import ANYONE


def author_colors(authors) -> dict:
    """Each candidate's colour, the same in every figure and in report.html: tab10 in the order of the sorted names."""
    return {author: colormaps["tab10"](i % 10) for i, author in enumerate(sorted(authors))}


def text_losses(rows: pd.DataFrame, verdict: pd.Series, alpha: float, score: str = "loss") -> Figure:
    """rows: one text's scores (model_author, seed, loss: the score the verdict compares, named by `score`);
    verdict: its row of verdicts.csv."""
    means = rows.groupby("model_author")["loss"].mean().sort_values()
    authors = list(means.index)
    x = {author: i for i, author in enumerate(authors)}
    fig = Figure(figsize=(max(4.5, 0.8 * len(authors) + 1.5), 3.2), layout="constrained")
    ax = fig.add_subplot()
    for _, seed_rows in rows.groupby("seed"):
        seed_rows = seed_rows.sort_values("model_author", key=lambda a: a.map(x))
        ax.plot(seed_rows["model_author"].map(x), seed_rows["loss"], color="0.8", lw=0.7, zorder=1)
    colors = author_colors(authors)
    for author in authors:
        losses = rows.loc[rows["model_author"] == author, "loss"].to_numpy()
        ax.scatter(np.full(len(losses), x[author]), losses, s=14, color=colors[author], zorder=2)
        ax.hlines(means[author], x[author] - 0.3, x[author] + 0.3, color="black", lw=1.2, zorder=3)
    ax.set_xticks(range(len(authors)), authors, rotation=30, fontsize=8)
    ax.set_xlabel(f"model author (lowest mean {score} first)")
    ax.set_ylabel(f"{score} on the text" if score == "loss" else f"{score} score on the text")
    p = "" if pd.isna(verdict["p"]) else f", {verdict['test']} p = {verdict['p']:.2g} (alpha {alpha:g})"
    ax.set_title(f"{verdict['text']}: {verdict['verdict']}{p}", fontsize=7)
    return fig


def text_excerpts(summary: pd.DataFrame, text: str) -> Figure:
    """summary: the text's rows of excerpts.csv (excerpt_tokens, author, share)."""
    fig = Figure(figsize=(4.5, 3.0), layout="constrained")
    ax = fig.add_subplot()
    shares = summary.pivot_table(index="excerpt_tokens", columns="author", values="share", fill_value=0.0)
    for author in shares.columns:
        ax.plot(shares.index.astype(int), shares[author], "o-", ms=3, lw=1, label=author)
    _length_axis(ax, shares.index.astype(int))
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("excerpt length (tokens)")
    ax.set_ylabel("share of excerpts attributed")
    ax.set_title(text, fontsize=8)
    ax.legend(fontsize=7)
    return fig


def rolling(table: pd.DataFrame, points: pd.DataFrame, score: str = "loss") -> Figure:
    """table: one text's rows of rolling.csv; points: its rows of change_points.csv (dashed lines)."""
    authors = sorted(column.removesuffix("_loss") for column in table.columns if column.endswith("_loss"))
    authors = [author for author in authors if table[f"{author}_loss"].notna().any()]
    colors = author_colors(authors)
    centre = (table["start_token"] + table["end_token"]).to_numpy() / 2
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    for author in authors:
        top.fill_between(centre, table[f"{author}_low"], table[f"{author}_high"], color=colors[author], alpha=0.2, lw=0)
        top.plot(centre, table[f"{author}_loss"], color=colors[author], lw=1, label=author)
    bottom.fill_between(centre, table["margin_low"], table["margin_high"], color="0.6", alpha=0.4, lw=0, label="seeds")
    bottom.plot(centre, table["margin"], color="black", lw=1, label="mean")
    leaders = table["leader"].to_numpy()
    edges = np.concatenate([[centre[0]], (centre[1:] + centre[:-1]) / 2, [centre[-1]]])
    for ax in (top, bottom):
        for w, leader in enumerate(leaders):  # each window's stretch in its leader's colour
            ax.axvspan(edges[w], edges[w + 1], color=colors[leader], alpha=0.08, lw=0)
        for token in points["token"]:
            ax.axvline(token, color="black", ls="--", lw=0.8)
    window = int(table["end_token"].iloc[0] - table["start_token"].iloc[0])
    top.set_ylabel(f"mean {score} per window")
    top.set_title(f"{table['text'].iloc[0]}: windows of {window:,} tokens (dashed: change points)", fontsize=8)
    top.legend(fontsize=7, loc="upper right")
    bottom.axhline(0, color="0.5", lw=0.5)
    bottom.set_ylabel("runner-up minus leader", fontsize=8)
    bottom.set_xlabel("token (window centre)")
    return fig


def held_out_curve(accuracy: pd.DataFrame) -> Figure:
    """accuracy: held_out_accuracy.csv; whole books (excerpt_tokens <NA>) are a dashed line."""
    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
    excerpts = accuracy[accuracy["excerpt_tokens"].notna()].sort_values("excerpt_tokens")
    whole = accuracy[accuracy["excerpt_tokens"].isna()]
    overall = excerpts[excerpts["author"] == "all"]
    lengths = overall["excerpt_tokens"].astype(int)
    if len(overall):
        ax.fill_between(
            lengths, overall["ci_low"], overall["ci_high"], color="black", alpha=0.15, lw=0, label="95% interval"
        )
        ax.plot(lengths, overall["accuracy"], "o-", color="black", lw=1.5, ms=4, label="all authors")
    for i, (author, rows) in enumerate(excerpts[excerpts["author"] != "all"].groupby("author")):
        ax.plot(
            rows["excerpt_tokens"].astype(int),
            rows["accuracy"],
            "-",
            lw=0.8,
            color=colormaps["tab10"](i % 10),
            label=author,
        )
    whole_all = whole[whole["author"] == "all"]
    if len(whole_all):
        ax.axhline(whole_all["accuracy"].iloc[0], color="black", ls="--", lw=0.8, label="whole books")
    if len(overall):
        _length_axis(ax, lengths)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("excerpt length (tokens)")
    ax.set_ylabel("attribution accuracy")
    ax.legend(fontsize=6, loc="lower right")
    return fig


def _length_axis(ax, lengths) -> None:
    """A log axis of excerpt lengths, ticked at the lengths themselves, written out (256, not 2^8)."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(lengths), [f"{length:,}" for length in lengths])
    ax.minorticks_off()


def tippett(judged_trials: pd.DataFrame) -> Figure:
    """The Tippett plot of the cross-validated trials (verification_trials.csv): for each length, the share of
    same-author trials (solid) and of different-author trials (dashed) whose log10 LR is at least x."""
    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
    trials = judged_trials[judged_trials["against"] == ANYONE].dropna(subset=["log10_lr"])
    for i, (length, rows) in enumerate(trials.groupby("excerpt_tokens")):
        color = colormaps["tab10"](i % 10)
        for same, style, kind in ((True, "-", "same author"), (False, "--", "different author")):
            values = np.sort(rows.loc[rows["same"] == same, "log10_lr"].to_numpy())
            if len(values):
                shares = 1 - np.arange(len(values)) / len(values)  # the share at least each value
                ax.step(values, shares, style, where="post", color=color, lw=1, label=f"{int(length):,} tokens, {kind}")
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel("log10 LR (the candidate wrote it vs someone else)")
    ax.set_ylabel("share of trials with log10 LR ≥ x")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=6, loc="center left")
    return fig
