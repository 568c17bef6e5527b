"""Rolling attribution: along a text, which candidate's models predict each stretch of it best, and where the hand
changes.

    python -m stylometry.attribute multirun/corpus/paper chapter.txt --rolling --window 256 --stride 64 --out a/r

The classical anchor is rolling stylometry (stylo's rolling.delta and rolling.classify, after van Dalen-Oskam and
van Zundert 2007): a window slides through the text and each window is classified. Here every model scores the
whole text once, keeping its loss at every token (stylometry.model.evaluate.token_losses); a window's loss for a
model is the mean of its tokens' losses, so no window is scored again. Each token's loss keeps the context the
whole text gave it (up to the models' n_positions), as the whole text's score does.

Per window: each candidate's mean loss over its seeds and the band of its seeds (lowest and highest), the leader
(lowest mean), the runner-up, and the margin between them with its band over the seeds both share.

A change point is where the leader changes and the new leader then leads every window for at least one window's
length (ceil(window / stride) windows in a row): a single window's lead is noise. It is placed at the centre of
the first window the new leader leads: a window's mean tips to the second hand once about half of it is the
second hand's, so that centre estimates where the switch is.
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stylometry.attribution.texts import AttributionError, Text

# Tokens. On the small-corpus study's stitched held-out books (docs/attribution.md): 85% of switches found, 44 tokens
# off at the median, 2.0 change points per 10,000 tokens of single-author text; 128/32 gave 4.9, 512/128 0.8 (and
# 98% found) but 86 tokens off, and a hand that writes less than 512 tokens unseen.
WINDOW, STRIDE = 256, 64
ROLLING_KEYS = ["text", "window", "start_token", "end_token"]
CHANGE_POINT_COLUMNS = ["text", "token", "window", "start_token", "end_token", "from_author", "to_author"]
PASSAGE_COLUMNS = ["text", "start_token", "end_token", "leader", "margin", "passage"]
STITCH_PREFIX = "stitched: "  # a stitched text's name, apart from any book's
SWITCH_COLUMNS = ["text", "seed", "switch", "token", "from_author", "to_author", "change_point", "distance", "found"]


def check_window(window: int, stride: int) -> None:
    """The window and stride themselves (before any model loads)."""
    if window < 2:
        raise AttributionError(f"--window {window}: a window needs at least 2 tokens, e.g. --window {WINDOW}")
    if not 1 <= stride <= window:
        raise AttributionError(
            f"--stride {stride}: choose a stride from 1 to the window ({window} tokens), e.g. --stride {STRIDE}"
        )


def check_texts(window: int, texts: list[Text]) -> None:
    """The window against the texts (before any model scores). One candidate is refused already: a study needs
    two authors (stylometry.runs.study)."""
    for text in texts:
        if len(text.tokens) < window:
            raise AttributionError(
                f"--window {window} is longer than {text.name} ({len(text.tokens):,} tokens as scored): "
                "choose a shorter --window, or leave that text out"
            )


def window_starts(num_tokens: int, window: int, stride: int) -> np.ndarray:
    """Every stride-th start of a full window, and a last one that ends at the text's end."""
    starts = np.arange(0, num_tokens - window + 1, stride)
    return starts if starts[-1] + window == num_tokens else np.append(starts, num_tokens - window)


def window_means(losses: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """The mean loss over each window's predicted tokens (tokens without a loss, NaN, are not counted)."""
    known = ~np.isnan(losses)
    total = np.concatenate([[0.0], np.cumsum(np.where(known, losses, 0.0), dtype=np.float64)])
    count = np.concatenate([[0], np.cumsum(known)])
    ends = starts + window
    return (total[ends] - total[starts]) / np.maximum(count[ends] - count[starts], 1)


def rolling_table(
    token_losses: dict, texts: list[Text], window: int, stride: int, references: pd.DataFrame | None = None
) -> pd.DataFrame:
    """A row per text and window. token_losses: (text, model_author, seed) -> loss at each token; references: each
    model's reference loss (the normalized score: stylometry.analysis.normalized), subtracted from its every token."""
    offsets = {} if references is None else references.set_index(["model_author", "seed"])["reference_loss"].to_dict()
    tables = []
    for text in texts:
        models = sorted(key[1:] for key in token_losses if key[0] == text.name)
        if not models:
            continue
        starts = window_starts(len(text.tokens), window, stride)
        means = {
            model: window_means(token_losses[(text.name, *model)], starts, window) - offsets.get(model, 0.0)
            for model in models
        }
        table = pd.DataFrame({"text": text.name, "window": np.arange(len(starts)), "start_token": starts})
        table["end_token"] = starts + window
        authors = sorted({author for author, _ in models})
        by_author = {author: np.array([means[m] for m in models if m[0] == author]) for author in authors}
        for author, seeds in by_author.items():
            table[f"{author}_loss"] = seeds.mean(axis=0)
            table[f"{author}_low"] = seeds.min(axis=0)
            table[f"{author}_high"] = seeds.max(axis=0)
        tables.append(_with_leaders(table, authors, means))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=ROLLING_KEYS)


def _with_leaders(table: pd.DataFrame, authors: list[str], means: dict) -> pd.DataFrame:
    """The leader and runner-up of each window, and the margin between them: the mean over seeds, and its band
    over the seeds in which both have a model."""
    mean_losses = table[[f"{author}_loss" for author in authors]].to_numpy()
    order = np.argsort(mean_losses, axis=1, kind="stable")  # ties: the first by name
    leader, runner_up = np.array(authors)[order[:, 0]], np.array(authors)[order[:, 1]]
    rows = np.arange(len(table))
    table["leader"], table["runner_up"] = leader, runner_up
    table["margin"] = mean_losses[rows, order[:, 1]] - mean_losses[rows, order[:, 0]]
    seeds = sorted({seed for _, seed in means})
    per_seed = np.full((len(seeds), len(table)), np.nan)
    for i, seed in enumerate(seeds):
        for w in rows:
            first, second = means.get((leader[w], seed)), means.get((runner_up[w], seed))
            if first is not None and second is not None:
                per_seed[i, w] = second[w] - first[w]
    shared = ~np.isnan(per_seed).all(axis=0)
    table["margin_low"] = np.where(shared, np.where(np.isnan(per_seed), np.inf, per_seed).min(axis=0), np.nan)
    table["margin_high"] = np.where(shared, np.where(np.isnan(per_seed), -np.inf, per_seed).max(axis=0), np.nan)
    return table


def change_points(rolling: pd.DataFrame, window: int, stride: int) -> pd.DataFrame:
    """Where each text's leader changes and then leads at least one window's length of windows in a row."""
    persist = math.ceil(window / stride)
    rows = []
    for text, table in rolling.groupby("text", sort=False):
        leaders = table["leader"].to_list()
        lasting = [w for w in range(len(leaders)) if _lasts(leaders, w, persist)]
        current = leaders[lasting[0]] if lasting else leaders[0]  # the first leader that lasts
        for w in lasting:
            if leaders[w] != current:
                start = int(table["start_token"].iloc[w])
                rows.append([text, start + window // 2, w, start, start + window, current, leaders[w]])
                current = leaders[w]
    return pd.DataFrame(rows, columns=CHANGE_POINT_COLUMNS)


def _lasts(leaders: list[str], w: int, persist: int) -> bool:
    """Whether window w's leader leads it and the persist - 1 windows after it."""
    return len(leaders) - w >= persist and all(x == leaders[w] for x in leaders[w : w + persist])


def passages(rolling: pd.DataFrame, texts: list[Text], decode) -> pd.DataFrame:
    """Each text cut where the leader changes: every token goes to the window whose centre is nearest, and a run of
    tokens whose windows share a leader is one passage, with its windows' mean margin and its text (decode: token ids
    -> str)."""
    rows = []
    for text in texts:
        table = rolling[rolling["text"] == text.name]
        if table.empty:
            continue
        centres = ((table["start_token"] + table["end_token"]) / 2).to_numpy()
        nearest = np.searchsorted((centres[1:] + centres[:-1]) / 2, np.arange(len(text.tokens)) + 0.5)
        leaders, margins = table["leader"].to_numpy()[nearest], table["margin"].to_numpy()[nearest]
        cuts = [0, *(np.flatnonzero(leaders[1:] != leaders[:-1]) + 1), len(text.tokens)]
        for start, end in zip(cuts[:-1], cuts[1:]):
            piece = text.tokens[start:end]
            rows.append([text.name, start, end, leaders[start], float(margins[start:end].mean()), decode(piece)])
    return pd.DataFrame(rows, columns=PASSAGE_COLUMNS)


# ---- the rule measured on the study's own held-out books (attribute --held-out --rolling) --------------------


@dataclass
class Stitch:
    """A text stitched from two held-out books of one seed, and where its hand changes (token, from, to)."""

    text: Text
    switches: list[tuple[int, str, str]]


def stitched_books(books: list[Text]) -> list[Stitch]:
    """Per seed and pair of authors (first and second by name), from their held-out books as scored, n tokens the
    shorter's length: the first half of the first's and the second half of the second's, and a sandwich of thirds
    (first, second, first). Only that seed's models held both books out, so only they score the stitch."""
    stitches = []
    by_seed: dict[int, list[Text]] = {}
    for book in books:
        by_seed.setdefault(min(book.seeds), []).append(book)
    for seed, seed_books in sorted(by_seed.items()):
        seed_books = sorted(seed_books, key=lambda book: book.author)
        for i, first in enumerate(seed_books):
            for second in seed_books[i + 1 :]:
                n = min(len(first.tokens), len(second.tokens))
                a, b = first.author, second.author
                half, third = n // 2, n // 3
                pieces = {
                    f"{a}|{b}": ([first.tokens[:half], second.tokens[half:n]], [(half, a, b)]),
                    f"{a}|{b}|{a}": (
                        [first.tokens[:third], second.tokens[third : 2 * third], first.tokens[2 * third : n]],
                        [(third, a, b), (2 * third, b, a)],
                    ),
                }
                for name, (parts, switches) in pieces.items():
                    tokens = np.concatenate(parts)
                    text = Text(
                        f"{STITCH_PREFIX}seed={seed} {name}", None, tokens, len(tokens), seeds=frozenset([seed])
                    )
                    stitches.append(Stitch(text, switches))
    return stitches


def rolling_accuracy(points: pd.DataFrame, stitches: list[Stitch], books: list[Text], window: int) -> tuple:
    """(each true switch of each stitch with the change point to its new hand nearest it, and how far off: found
    within one window; the rule's figures: switches found, the distance of those found (median, 90th percentile),
    the stitches' change points more than a window from every switch, and change points per 10,000 tokens of
    single-author text: the held-out books whole, as scored)."""
    rows, extra = [], 0
    for stitch in stitches:
        name, seed = stitch.text.name, min(stitch.text.seeds)
        found = points[points["text"] == name]
        true = np.array([token for token, _, _ in stitch.switches])
        extra += int(sum(np.abs(true - token).min() > window for token in found["token"]))
        for i, (token, before, after) in enumerate(stitch.switches):
            to_hand = found[found["to_author"] == after]
            if to_hand.empty:
                rows.append([name, seed, i, token, before, after, None, None, False])
                continue
            nearest = int(to_hand["token"].iloc[int((to_hand["token"] - token).abs().argmin())])
            rows.append(
                [name, seed, i, token, before, after, nearest, abs(nearest - token), abs(nearest - token) <= window]
            )
    switches = pd.DataFrame(rows, columns=SWITCH_COLUMNS)
    switches[["change_point", "distance"]] = switches[["change_point", "distance"]].astype("Int64")
    distances = switches.loc[switches["found"], "distance"].astype(float)
    book_tokens = sum(len(book.tokens) for book in books)
    book_points = int(points["text"].isin({book.name for book in books}).sum())
    summary = {
        "num_stitches": len(stitches),
        "num_switches": len(switches),
        "num_found": len(distances),
        "distance_median": float(distances.median()) if len(distances) else float("nan"),
        "distance_p90": float(distances.quantile(0.9)) if len(distances) else float("nan"),
        "extra_change_points": extra,
        "num_books": len(books),
        "book_tokens": book_tokens,
        "book_change_points": book_points,
        "false_per_10k": 10_000 * book_points / max(book_tokens, 1),
    }
    return switches, summary
