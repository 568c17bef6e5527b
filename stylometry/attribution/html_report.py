"""report.html of an attribution: the verdicts first, then each text's figures and the text itself, each passage
shaded by the candidate whose models predict it best; one file, its figures inline (stylometry.files.html).

    python -m stylometry.attribute <study dir> <texts> --out <dir>    # report.py's write_outputs writes it

The same result and figures as report.md, read in a browser. A candidate has one colour on the page and in the
figures: matplotlib's tab10 in the order of the sorted author names, as attribution/figures.py draws them.
"""

import html
from pathlib import Path

import pandas as pd

from stylometry.attribution.figures import author_colors
from stylometry.attribution.result import Attribution
from stylometry.attribution.texts import Text
from stylometry.attribution.verdict_table import lr_metric_table, lr_table, verdict_table
from stylometry.files.formats import number, slug
from stylometry.files.html import figure, page, table
from stylometry.runs.impostor_study import impostors_sentence

TEXT_CHARS = 20_000  # a text without passages is shown up to here: a chapter; a whole book would only weigh the page
SHADE_ALPHA = 0.35  # a passage's background: its leader's colour, light enough to read the text through
# A text's figures (write_outputs: figures/<text's slug><suffix>.png), in the order shown, with their captions.
TEXT_FIGURES = {
    "": (
        "Each candidate's models' {score} on the text: a dot per seed, a grey line joining each seed's models, the "
        "mean as a bar."
    ),
    "_excerpts": (
        "The text cut into consecutive excerpts of each length: the share of excerpts attributed to each candidate."
    ),
    "_rolling": (
        "Along the text: each candidate's mean {score} per window with its seeds' band, and the leader's margin over "
        "the runner-up; each window's stretch shaded in its leader's colour, change points dashed."
    ),
}
FIGURE_CAPTIONS = {  # the figures of no one text
    "figures/held_out_accuracy.png": (
        "The study's held-out books: attribution accuracy against excerpt length, over all authors with its 95% "
        "interval and per author; whole books dashed."
    ),
    "figures/tippett.png": (
        "Tippett plot: the share of same-author (solid) and different-author (dashed) trials whose cross-validated "
        "log10 LR is at least x, per excerpt length."
    ),
}


def attribution_html(result: Attribution, command: str, figures: dict[str, bytes]) -> str:
    """The page: the verdicts (or the held-out accuracy), the study, each text with its figures and its passages;
    figures: write_outputs' figure names (figures/<name>.png) -> PNG bytes."""
    body = ["<h1>Attribution</h1>", f"<pre><code>{html.escape(command)}</code></pre>"]
    if result.held_out.empty:
        body += _verdict_section(result) + _lr_section(result) + _study_section(result)
        shown = _text_sections(body, result, figures)
    else:
        body += _held_out_section(result) + _lr_metric_section(result)
        shown = _figures_of(body, figures, FIGURE_CAPTIONS)
        body += _study_section(result)
    rest = {name: name for name in figures if name not in shown}  # a figure this page does not know yet: still shown
    if rest:
        body.append("<h2>Other figures</h2>")
        _figures_of(body, figures, rest)
    return page("Attribution", "\n".join(body))


def _text_sections(body: list[str], result: Attribution, figures: dict[str, bytes]) -> list[str]:
    """Appends each text's section: its note, its figures, the text; returns the figures shown."""
    colors = author_colors(result.study.authors)
    shown = []
    for text in result.texts:
        body.append(f"<h2>{html.escape(text.name)}</h2>")
        if text.note:
            body.append(f'<p class="note">{html.escape(text.note)}</p>')
        captions = {
            f"figures/{slug(text.name)}{suffix}.png": caption.format(score=result.score)
            for suffix, caption in TEXT_FIGURES.items()
        }
        shown += _figures_of(body, figures, captions)
        body += _text_body(text, _passages_of(result, text.name), colors, result.score)
    return shown


def _figures_of(body: list[str], figures: dict[str, bytes], captions: dict[str, str]) -> list[str]:
    """Appends each of `captions`' figures that was drawn, with its caption; returns their names."""
    drawn = [name for name in captions if name in figures]
    body += [figure(figures[name], captions[name], Path(name).stem) for name in drawn]
    return drawn


def _verdict_section(result: Attribution) -> list[str]:
    return [
        "<h2>Verdicts</h2>",
        table(verdict_table(result), table_id="verdicts", bold=("verdict",)),
        (
            f'<p class="note">Each text goes to the candidate whose models have the lowest mean {result.score} over '
            f"seeds; the verdict names that candidate where the test against the runner-up gives p &le; "
            f"{result.alpha:g}. Margin: the runner-up's mean {result.score} minus the lowest (per token).</p>"
        ),
    ]


def _lr_section(result: Attribution) -> list[str]:
    if result.verification.empty:
        return []
    return ["<h2>Likelihood ratios</h2>", table(lr_table(result), table_id="likelihood_ratios")]


def _lr_metric_section(result: Attribution) -> list[str]:
    if result.verification_metrics.empty:
        return []
    return [
        "<h2>Verification: the likelihood ratio measured</h2>",
        table(lr_metric_table(result), table_id="verification"),
    ]


def _held_out_section(result: Attribution) -> list[str]:
    rows = [
        {
            "excerpt tokens": "whole" if pd.isna(row.excerpt_tokens) else f"{row.excerpt_tokens:,}",
            "author": row.author,
            "books": row.num_books,
            "excerpts": row.num_excerpts,
            "accuracy": f"{row.num_correct}/{row.num_excerpts} = {row.accuracy:.2f}",
            "95% interval": f"{row.ci_low:.2f}–{row.ci_high:.2f}",
            "interval": row.ci_method,
        }
        for row in result.held_out_accuracy.itertuples()
    ]
    return [
        "<h2>Held-out books: attribution accuracy against excerpt length</h2>",
        table(pd.DataFrame(rows), table_id="verdicts"),
        (
            "<p class=\"note\">Each seed's held-out book of each author, attributed by that seed's models only: the "
            "whole book, and each consecutive excerpt as a text of its own (report.md says how each interval is "
            "computed).</p>"
        ),
    ]


def _study_section(result: Attribution) -> list[str]:
    study, scored = result.study, result.scored
    cap = f"its first {result.max_tokens:,} tokens" if result.max_tokens else "all of it"
    lines = [
        "<h2>The study</h2>",
        (
            f"<p>Study <code>{html.escape(str(study.study_dir))}</code>: {len(study.models)} complete models, "
            f"authors {html.escape(', '.join(study.authors))}, seeds {', '.join(map(str, study.seeds))} "
            f"(experiment {html.escape(study.cfg.experiment_name)}, variant {html.escape(study.cfg.variant.name)}). "
            f"Each text scored on {cap}: {scored['num_models']} models, {int(result.scores['tokens'].sum()):,} "
            f"tokens in {scored['seconds']:.1f} s on {html.escape(str(scored['placement']))}. "
            f"{html.escape(impostors_sentence(study))}</p>"
        ),
    ]
    if study.left_out:
        lines.append(f"<p>Left out ({len(study.left_out)} runs not complete):</p>")
        lines.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in study.left_out) + "</ul>")
    return lines


def _passages_of(result: Attribution, text: str) -> pd.DataFrame:
    """The text's passages by leader (--rolling), in order; empty without them."""
    if result.passages.empty:
        return result.passages
    return result.passages[result.passages["text"] == text].sort_values("start_token")


def _text_body(text: Text, passages: pd.DataFrame, colors: dict, score: str) -> list[str]:
    """The text: each passage shaded by its leader, with a legend; without passages, the file as it is."""
    if passages.empty:
        content = text.path.read_text(encoding="utf-8", errors="replace")
        cut = f" The first {TEXT_CHARS:,} of its {len(content):,} characters." if len(content) > TEXT_CHARS else ""
        note = (
            f'<p class="note">The text as its file holds it (the models scored {len(text.tokens):,} tokens).{cut}</p>'
        )
        return [note, f'<div class="text">{html.escape(content[:TEXT_CHARS])}</div>']
    led = passages.groupby("leader")["passage"].count()
    legend = " ".join(
        f'<span class="swatch" style="background: {_shade(colors[author])}">{html.escape(author)}: '
        f"{led.get(author, 0)} passage(s)</span>"
        for author in colors
    )
    spans = "".join(
        f'<span style="background: {_shade(colors.get(row.leader))}" title="{html.escape(_passage_title(row, score))}">'
        f"{html.escape(row.passage)}</span>"
        for row in passages.itertuples()
    )
    note = (
        '<p class="note">Each passage shaded by the candidate whose models predict it best (hover a passage for its '
        "margin over the runner-up).</p>"
    )
    return [note, f"<p>{legend}</p>", f'<div class="text">{spans}</div>']


def _passage_title(row, score: str) -> str:
    return (
        f"{row.leader}: tokens {row.start_token:,}–{row.end_token:,}, "
        f"runner-up's mean {score} minus the leader's {number(row.margin, '.3f')} per token"
    )


def _shade(color) -> str:
    """An RGBA colour from matplotlib's (r, g, b, a) in 0-1, lightened to SHADE_ALPHA; none for an unknown leader."""
    if color is None:
        return "transparent"
    r, g, b = (round(255 * c) for c in color[:3])
    return f"rgba({r}, {g}, {b}, {SHADE_ALPHA})"
