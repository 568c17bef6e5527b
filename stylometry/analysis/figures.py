"""The study's figures for one group (input, study, experiment, variant), and the same figures for every
variant of a study in one, each as PNG and PDF with a title and a caption for report.md.

    python -m stylometry.analyze multirun/paper --out analysis/paper    # writes figures/<group>/*

Drawn with matplotlib's object API (Figure + savefig, the Agg canvas): no pyplot, so nothing global
is switched on import or left open after a call. Every figure type is one function drawing into a
container (a Figure, or one SubFigure per variant of the combined figure), so both show the same thing.

    training_curves   mean loss over epochs, one panel per eval set (train + each author's book),
                      one line per model author; band over seeds (min..max, or a bootstrap 95% CI)
    final_losses      every model's final loss on its own author's book (black) and others' (gray)
    confusion         mean final loss of each model author (row) on each author's book (column)
    mds               the authors placed by the study's stylometric distance (multidimensional scaling)
    t_over_epochs     A: Welch t (other books vs own book) per model author; B: their mean with its
                      bootstrap 95% band over authors; dashed: the t of p = alpha
    extra_sets        the contested and non-Oz books: loss over epochs, and the final losses
    cost_curve        attribution accuracy and the extra sets' margins against epochs trained: what
                      a smaller training budget would have concluded
    accuracy_by_length  (with baselines) accuracy on excerpts against their length, per method
"""

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from stylometry.analysis.ablation import bootstrap_band
from stylometry.analysis.load import GROUP, TRAIN
from stylometry.analysis.stats import where_all_models
from stylometry.files.atomic import atomic_file

FORMATS = ("png", "pdf")
DPI = 150  # of the PNGs
SAVE_PAD = 0.08  # inches of margin around what is drawn
PANEL = 2.4  # inches per small panel
MIN_MAX, CI95 = "minmax", "ci95"  # the band drawn around a mean over seeds
BANDS = (MIN_MAX, CI95)
TITLE_CHARS_PER_INCH = 10  # 11-point characters average about 0.09 inch: a little room to spare
MAX_COLUMNS = 3  # panels per row in a group's own figure; a combined figure puts each variant in one row


@dataclass
class GroupData:
    """One group's tables, as the figures read them (every table holds this group only)."""

    label: str  # the group's name in titles: its variant, or more where groups differ in more
    losses: pd.DataFrame  # the tidy loss table
    final_rows: pd.DataFrame  # each model's evaluation rows at the epoch it is judged at
    confusion: pd.DataFrame  # mean loss per model author and book at that epoch
    by_epoch: pd.DataFrame  # per-author Welch t at every epoch
    mean_t: pd.DataFrame  # the mean-t curve and its band
    accuracy_by_epoch: pd.DataFrame
    extra_by_epoch: pd.DataFrame
    accuracy_by_length: pd.DataFrame = field(default_factory=pd.DataFrame)  # from the baselines, if run
    authors: list[str] = field(init=False)
    colors: dict = field(init=False)
    books: list[str] = field(init=False)
    extras: list[str] = field(init=False)

    def __post_init__(self):
        self.authors = sorted(self.losses["model_author"].unique())
        self.colors = {author: colormaps["tab10"](i % 10) for i, author in enumerate(self.authors)}
        self.books = [b for b in sorted(self.losses["eval_set"].unique()) if b in self.colors]
        self.extras = sorted(set(self.losses["eval_set"]) - set(self.books) - {TRAIN})


@dataclass
class Settings:
    alpha: float
    bands: str = MIN_MAX
    judged_at: str = "each model's own final epoch"  # words for the epoch final losses come from


@dataclass
class FigureType:
    title: str
    draw: Callable  # (container, GroupData, Settings, one_row: bool) -> None
    size: Callable  # (GroupData, one_row: bool) -> (width, height) in inches
    caption: str  # formatted with band, alpha, judged_at
    applies: Callable = lambda data: True  # whether the group has what the figure shows


BAND_WORDS = {MIN_MAX: "min-max over seeds", CI95: "bootstrap 95% confidence interval of the mean over seeds"}


def draw_all(data: GroupData, settings: Settings, out_dir: Path) -> dict[str, list[Path]]:
    """Every figure of one group into out_dir; returns {figure name: files written}."""
    return {
        name: save(render(name, data, settings), out_dir / name)
        for name, kind in FIGURE_TYPES.items()
        if kind.applies(data)
    }


def draw_combined(
    variants: Sequence[GroupData], settings: Settings, study_label: str, out_dir: Path
) -> dict[str, list[Path]]:
    """Each figure type once for all the variants of a study: one row (a subfigure) per variant."""
    written = {}
    for name, kind in FIGURE_TYPES.items():
        shown = [data for data in variants if kind.applies(data)]
        if len(shown) >= 2:
            written[name] = save(render_combined(name, shown, settings, study_label), out_dir / name)
    return written


def render(name: str, data: GroupData, settings: Settings) -> Figure:
    """One group's figure of this type, titled."""
    kind = FIGURE_TYPES[name]
    width, height = kind.size(data, False)
    figure = Figure(figsize=(width, height + 0.4), layout="constrained")
    kind.draw(figure, data, settings, False)
    _title(figure, f"{kind.title}: {data.label}")
    return figure


def render_combined(name: str, variants: Sequence[GroupData], settings: Settings, study_label: str) -> Figure:
    """The figure of this type for several variants, one row each, titled by the study and each row by its variant."""
    kind = FIGURE_TYPES[name]
    heights = [kind.size(data, True)[1] + 0.35 for data in variants]
    width = max(kind.size(data, True)[0] for data in variants)
    figure = Figure(figsize=(width, sum(heights) + 0.4), layout="constrained")
    rows = figure.subfigures(len(variants), 1, height_ratios=heights, squeeze=False)[:, 0]
    for row, data in zip(rows, variants):
        kind.draw(row, data, settings, True)
        row.suptitle(data.label, fontsize=10, fontweight="bold")
    _title(figure, f"{kind.title}: every variant of {study_label}")
    return figure


def caption(name: str, settings: Settings) -> str:
    return FIGURE_TYPES[name].caption.format(
        band=BAND_WORDS[settings.bands], alpha=f"{settings.alpha:g}", judged_at=settings.judged_at
    )


def save(figure: Figure, stem: Path) -> list[Path]:
    """The figure in each of FORMATS, laid out once for all of them.

    Constrained layout fits the labels into the figure, and the box around everything drawn (matplotlib's
    "tight") keeps a label that still reaches past the edge (a long author name) instead of clipping it. savefig
    would lay out and measure the figure again for each format; laid out once, analyze on the tests' 6-model
    study took 6.43 s instead of 6.91 (median of 5, 2 cores).
    """
    figure.set_dpi(DPI)  # laid out at the resolution it is saved at, as savefig lays out
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw_without_rendering()
    drawn = figure.get_tightbbox(renderer).padded(SAVE_PAD)
    figure.set_layout_engine("none")  # from here on, every format draws the axes where the layout put them
    paths = []
    for fmt in FORMATS:
        path = stem.with_suffix(f".{fmt}")
        with atomic_file(path, "wb") as f:
            figure.savefig(f, format=fmt, dpi=DPI, bbox_inches=drawn)
        paths.append(path)
    return paths


# ---- the figure types ---------------------------------------------------------------------------


def training_curves(container, data: GroupData, settings: Settings, one_row: bool) -> None:
    panels = [TRAIN] + data.books
    # Only epochs all of an author's seeds reached: a mean over fewer seeds would jump.
    rows = where_all_models(data.losses[data.losses["eval_set"].isin(panels)], GROUP + ["model_author"])
    axes = _grid(container, len(panels), len(panels) if one_row else MAX_COLUMNS)
    for ax, panel in zip(axes, panels):
        for author, sub in rows[rows["eval_set"] == panel].groupby("model_author"):
            _mean_with_band(ax, sub, data.colors[author], author, settings.bands)
        ax.set_title(panel if panel == TRAIN else f"{panel}'s book", fontsize=9)
        _epoch_axis(ax)
        ax.set_ylabel("loss", fontsize=8)
        ax.tick_params(labelsize=7)
    _legend(container, axes, title="model author")


def final_losses(container, data: GroupData, settings: Settings, one_row: bool) -> None:
    final_books = data.final_rows[data.final_rows["eval_set"].isin(data.books)]
    ax = container.add_subplot()
    jitter = np.random.default_rng(0)  # fixed: the same data draws the same picture
    for x, author in enumerate(data.authors):
        sub = final_books[final_books["model_author"] == author]
        is_own = (sub["eval_set"] == author).to_numpy()
        for mask, color, label in ((~is_own, "0.6", "other authors' books"), (is_own, "black", "own author's book")):
            ax.scatter(
                x + jitter.uniform(-0.2, 0.2, mask.sum()), sub["loss"].to_numpy()[mask], s=8, color=color, label=label
            )
    ax.set_xticks(range(len(data.authors)), data.authors, rotation=30, ha="right", fontsize=8)
    ax.set_xlabel("model author")
    ax.set_ylabel("final loss")
    _legend(container, [ax])


def confusion(container, data: GroupData, settings: Settings, one_row: bool) -> None:
    matrix = data.confusion.pivot_table(index="model_author", columns="book", values="mean_loss")
    ax = container.add_subplot()
    image = ax.imshow(matrix.to_numpy(), cmap="viridis_r")  # reversed: lower loss is lighter, as in the study
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(matrix.shape[0]), matrix.index, fontsize=8)
    ax.set_xlabel("held-out book of")
    ax.set_ylabel("model author")
    middle = np.nanmean(matrix.to_numpy())
    for (i, j), value in np.ndenumerate(matrix.to_numpy()):
        if np.isfinite(value):
            color = "white" if value > middle else "black"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=color)
    container.colorbar(image, ax=ax, label="mean final loss", shrink=0.9)


def stylometric_distances(confusion_table: pd.DataFrame) -> pd.DataFrame:
    """The paper's stylometric distance (its section "Stylometric distance"): with L_j(i) the mean loss of
    author i's book under author j's models, d(i, j) = ((L_j(i) - L_j(j)) + (L_i(j) - L_i(i))) / 2.
    Square over the authors that have both models and books; a negative distance (two authors each
    predicting the other's book better than their own) is set to 0, as MDS needs."""
    matrix = confusion_table.pivot_table(index="model_author", columns="book", values="mean_loss")
    authors = sorted(set(matrix.index) & set(matrix.columns))
    loss = matrix.loc[authors, authors].to_numpy()  # loss[j, i] = L_j(i)
    normalized = loss - np.diag(loss)[:, None]
    distance = np.clip((normalized + normalized.T) / 2, 0, None)
    np.fill_diagonal(distance, 0.0)
    return pd.DataFrame(distance, index=authors, columns=authors)


def mds(container, data: GroupData, settings: Settings, one_row: bool) -> None:
    from sklearn.manifold import MDS

    distance = stylometric_distances(data.confusion)
    ax = container.add_subplot()
    if distance.isna().any().any() or len(distance) < 3:
        ax.text(
            0.5,
            0.5,
            "needs 3 or more authors with a mean loss on every book",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=8,
        )
        ax.set_axis_off()
        return
    # Metric MDS (SMACOF), best of 4 seeded starts: the same data draws the same map. Classical scaling
    # is no start here: these distances are not Euclidean, so it takes square roots of negative eigenvalues.
    # The study drew a 3-D map; 2-D reads on paper.
    points = MDS(n_components=2, metric="precomputed", init="random", n_init=4, random_state=0).fit_transform(
        distance.to_numpy()
    )
    for (x, y), author in zip(points, distance.index):
        ax.scatter(x, y, s=60, color=data.colors.get(author, "gray"), edgecolors="black", linewidths=0.6, zorder=2)
        ax.annotate(author, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.2)
    ax.set_xlabel("MDS dimension 1 (loss units)")
    ax.set_ylabel("MDS dimension 2")


def t_over_epochs(container, data: GroupData, settings: Settings, one_row: bool) -> None:
    from scipy import stats as scipy_stats

    left, right = container.subplots(1, 2)
    by_epoch = data.by_epoch.dropna(subset=["t"])
    for author, sub in by_epoch.sort_values("epoch").groupby("model_author"):
        left.plot(sub["epoch"], sub["t"], color=data.colors.get(author, "gray"), lw=1, label=author)
    # The t of p = alpha depends on each test's df: draw its mean over authors, epoch by epoch.
    critical = by_epoch.dropna(subset=["df"]).assign(t_crit=lambda d: scipy_stats.t.isf(settings.alpha / 2, d["df"]))
    critical = critical.groupby("epoch")["t_crit"].mean()
    threshold_label = f"t of p = {settings.alpha:g} (two-sided)"
    if len(critical):
        left.plot(critical.index, critical.to_numpy(), "k--", lw=1, label=threshold_label)
    left.set_title("A. per model author", fontsize=9)
    left.set_ylabel("t (other books vs own book)")
    curve = data.mean_t.sort_values("epoch")
    if len(curve):
        right.plot(curve["epoch"], curve["mean_t"], color="0.3", lw=1.2, label="mean over authors")
        right.fill_between(
            curve["epoch"], curve["ci_low"], curve["ci_high"], color="0.3", alpha=0.25, lw=0, label="bootstrap 95% CI"
        )
        right.plot(curve["epoch"], curve["critical_t"], "k--", lw=1, label=threshold_label)
    right.set_title("B. mean over model authors", fontsize=9)
    right.set_ylabel("mean t")
    for ax in (left, right):
        _epoch_axis(ax)
    _legend(container, [left, right])


def extra_sets(container, data: GroupData, settings: Settings, one_row: bool) -> None:
    columns = len(data.extras) if one_row else min(MAX_COLUMNS, len(data.extras))
    rows = -(-len(data.extras) // columns)
    cells = container.subfigures(rows, columns, squeeze=False).ravel()
    curves = where_all_models(data.losses[data.losses["eval_set"].isin(data.extras)], GROUP + ["model_author"])
    axes = []
    for cell, extra in zip(cells, data.extras):
        top, bottom = cell.subplots(2, 1, height_ratios=[3, 2])
        for author, sub in curves[curves["eval_set"] == extra].groupby("model_author"):
            _mean_with_band(top, sub, data.colors[author], author, settings.bands)
        top.set_title(extra, fontsize=9)
        _epoch_axis(top)
        top.set_ylabel("loss", fontsize=8)
        final = data.final_rows[data.final_rows["eval_set"] == extra]
        authors = sorted(final["model_author"].unique())
        for x, author in enumerate(authors):
            values = final.loc[final["model_author"] == author, "loss"].to_numpy()
            bottom.scatter(np.full(len(values), x), values, s=10, color=data.colors[author])
            bottom.hlines(values.mean(), x - 0.3, x + 0.3, color="black", lw=1)
        bottom.set_xticks(range(len(authors)), authors, fontsize=8)
        bottom.set_xlim(-0.6, len(authors) - 0.4)
        bottom.set_ylabel("final loss", fontsize=8)
        axes.append(top)
    for cell in cells[len(data.extras) :]:
        cell.set_visible(False)
    _legend(container, axes, title="model author")


def cost_curve(container, data: GroupData, settings: Settings, one_row: bool) -> None:
    """Left: books attributed correctly (all seeds pooled) per epoch. Right: per extra set, the mean loss
    of the runner-up's models minus the attributed author's, signed for the author attributed last."""
    left, right = container.subplots(1, 2)
    overall = data.accuracy_by_epoch[data.accuracy_by_epoch["seed"].isna()].sort_values("epoch")
    left.plot(overall["epoch"], overall["accuracy"], "o-", color="black", lw=1, ms=3)
    left.set_ylim(-0.05, 1.05)
    left.set_ylabel("attribution accuracy")
    left.set_title("held-out books", fontsize=9)
    for eval_set, sub in data.extra_by_epoch.sort_values("epoch").groupby("eval_set"):
        final = sub.iloc[-1]
        if pd.isna(final["runner_up"]):
            continue  # one model author only: no margin
        sign = np.where(sub["attributed_to"] == final["attributed_to"], 1.0, -1.0)
        right.plot(
            sub["epoch"],
            sign * sub["margin"],
            "o-",
            lw=1,
            ms=3,
            label=f"{eval_set}: {final['runner_up']} - {final['attributed_to']}",
        )
    right.axhline(0, color="gray", lw=0.8)
    right.set_ylabel("loss margin (> 0: final verdict)")
    right.set_title("extra books", fontsize=9)
    for ax in (left, right):
        _epoch_axis(ax)
    _legend(container, [right])


def accuracy_by_length(container, data: GroupData, settings: Settings, one_row: bool) -> None:
    ax = container.add_subplot()
    table = data.accuracy_by_length
    for (method, sub), marker in zip(table.groupby("method", sort=False), "osd^v"):
        sub = sub.sort_values("excerpt_tokens")
        ax.plot(sub["excerpt_tokens"], sub["accuracy"], marker=marker, lw=1.2, ms=4, label=method)
    ax.set_xscale("log", base=2)
    lengths = sorted(table["excerpt_tokens"].unique())
    ax.set_xticks(lengths, [f"{n:,}" for n in lengths])
    ax.minorticks_off()
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("excerpt length (tokens)")
    ax.set_ylabel("excerpts attributed to their author")
    _legend(container, [ax])


FIGURE_TYPES: dict[str, FigureType] = {
    "training_curves": FigureType(
        "Loss over training",
        training_curves,
        lambda d, one_row: _grid_size(1 + len(d.books), one_row),
        "Mean loss of each model author's models (colour) on its training text and on each author's held-out book, "
        "over epochs; band: {band}. Only epochs that all of an author's seeds reached are drawn.",
    ),
    "final_losses": FigureType(
        "Final losses, own book vs others",
        final_losses,
        lambda d, one_row: (max(4.0, 0.7 * len(d.authors) + 1.5), 3.2),
        "Each model's loss at {judged_at} on its own author's held-out book (black) and on the other authors' "
        "books (gray), one dot per seed and book (the paper's Fig. 1B).",
    ),
    "confusion": FigureType(
        "Mean loss, model author x book",
        confusion,
        lambda d, one_row: (max(4.5, 2.5 + 0.7 * len(d.books)), max(3.2, 1.8 + 0.5 * len(d.authors))),
        "Mean loss over seeds at {judged_at} of each model author's models (row) on each author's held-out book "
        "(column): the lowest in a column is the author the book goes to on average (the paper's Fig. 3).",
    ),
    "mds": FigureType(
        "Stylometric distance map (MDS)",
        mds,
        lambda d, one_row: (4.6, 4.2),
        "The authors placed in two dimensions by metric multidimensional scaling of the paper's stylometric "
        "distance, d(i, j) = ((L_j(i) - L_j(j)) + (L_i(j) - L_i(i))) / 2, where L_j(i) is the mean loss at "
        "{judged_at} of author i's book under author j's models (the paper's Fig. 4, drawn in 2-D).",
    ),
    "t_over_epochs": FigureType(
        "Own book vs other books: t over training",
        t_over_epochs,
        lambda d, one_row: (2 * PANEL + 2.6, PANEL + 0.4),
        "A: per model author, Welch's t of its models' losses on the other authors' books against its own "
        "author's book (pooled over seeds), at every epoch all its models reached. B: the mean of these t over "
        "authors, with a bootstrap 95% confidence band over authors (the paper's Fig. 2B). Dashed: the mean "
        "over authors of the t at which the two-sided p equals {alpha}.",
    ),
    "extra_sets": FigureType(
        "The contested and other extra books",
        extra_sets,
        lambda d, one_row: _extra_size(len(d.extras), one_row),
        "Top: mean loss over epochs of the models that evaluated each extra book (band: {band}). Bottom: each "
        "model's loss at {judged_at} (dots, one per seed) and their mean (bar).",
        applies=lambda d: bool(d.extras),
    ),
    "cost_curve": FigureType(
        "What a smaller training budget would conclude",
        cost_curve,
        lambda d, one_row: (2 * PANEL + 1.6, PANEL + 0.3),
        "Left: held-out books attributed to their author (all seeds pooled) at each epoch. Right: per extra book, "
        "the runner-up's mean loss minus the attributed author's, signed so that > 0 is the final verdict.",
    ),
    "accuracy_by_length": FigureType(
        "Accuracy against excerpt length",
        accuracy_by_length,
        lambda d, one_row: (4.8, 3.4),
        "Excerpts of each held-out book (consecutive, from stylometry.data.excerpts) attributed to their author, "
        "against the excerpt's length in tokens, by the language models (lowest loss) and by the classical "
        "baselines trained on the same training text.",
        applies=lambda d: len(d.accuracy_by_length) > 0,
    ),
}


# ---- helpers ------------------------------------------------------------------------------------


def _title(figure: Figure, text: str) -> None:
    """The figure's title, wrapped to its width: a title wider than a narrow figure would be clipped."""
    width = figure.get_size_inches()[0]
    figure.suptitle(textwrap.fill(text, width=max(20, int(width * TITLE_CHARS_PER_INCH))), fontsize=11)


def _mean_with_band(ax, rows: pd.DataFrame, color, label: str, bands: str) -> None:
    """The mean over seeds per epoch, and its band: min..max, or the bootstrap 95% CI of the mean."""
    by_seed = rows.pivot_table(index="seed", columns="epoch", values="loss").sort_index(axis=1)
    epochs, mean = by_seed.columns.to_numpy(), by_seed.mean().to_numpy()
    if bands == CI95:
        low, high = bootstrap_band(by_seed.to_numpy())
    else:
        low, high = by_seed.min().to_numpy(), by_seed.max().to_numpy()
    ax.plot(epochs, mean, color=color, lw=1, label=label)
    if np.isfinite(low).any():
        ax.fill_between(epochs, low, high, color=color, alpha=0.2, lw=0)


def _epoch_axis(ax) -> None:
    ax.set_xlabel("epoch", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))  # epochs are whole: no 0.5 ticks


def _legend(container, axes, title: str | None = None) -> None:
    """One legend for the container, under its panels, from the entries of `axes` that are drawn: a line
    with no finite point, or an entry repeated in another panel, is left out."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label.startswith("_") or label in entries or not _is_drawn(handle):
                continue
            entries[label] = handle
    if entries:
        container.legend(
            list(entries.values()),
            list(entries),
            loc="outside lower center",
            ncol=min(len(entries), 5),
            fontsize=7,
            title=title,
            title_fontsize=7,
            frameon=False,
        )


def _is_drawn(handle) -> bool:
    if isinstance(handle, Line2D):
        y = np.asarray(handle.get_ydata(), dtype=float)
        return bool(np.isfinite(y).any())
    offsets = getattr(handle, "get_offsets", None)  # a scatter: drawn if it has a point
    return offsets is None or len(offsets()) > 0


def _grid(container, num_panels: int, columns: int):
    columns = max(1, min(columns, num_panels))
    rows = -(-num_panels // columns)
    axes = container.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[num_panels:]:
        ax.set_visible(False)
    return axes


def _grid_size(num_panels: int, one_row: bool) -> tuple[float, float]:
    columns = num_panels if one_row else min(MAX_COLUMNS, num_panels)
    rows = -(-num_panels // columns)
    return PANEL * columns, PANEL * rows + 0.5  # + the legend's row


def _extra_size(num_extras: int, one_row: bool) -> tuple[float, float]:
    columns = num_extras if one_row else min(MAX_COLUMNS, num_extras)
    rows = -(-num_extras // columns)
    return PANEL * columns, 1.6 * PANEL * rows + 0.5
