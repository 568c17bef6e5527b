"""The report of an attribution (stylometry.attribute): its tables as CSVs, report.md, the figures, and what
the command prints.

    python -m stylometry.attribute <study dir> <texts> --out <dir>    # write_outputs() is its last step

Nothing is written until every model has scored every text; then each file is written whole
(stylometry.files.atomic), so a failed or interrupted command leaves no half-written file.
"""

import io
from pathlib import Path

import pandas as pd

from stylometry.analysis.baselines import BaselineError, HeldOutAttribution
from stylometry.analysis.normalized import LOSS, judged
from stylometry.attribution.held_out import MIN_BOOKS_TO_RESAMPLE
from stylometry.attribution.open_set import CLOSED, MIN_EXCERPTS, NONE_OF_THEM, open_set_words
from stylometry.attribution.result import Attribution
from stylometry.attribution.trust import trust_words
from stylometry.attribution.verdict_table import lr_calibration_table, lr_metric_table, lr_table, verdict_table
from stylometry.attribution.verdicts import NO_VERDICT
from stylometry.attribution.verification import verification_words
from stylometry.files.atomic import atomic_file
from stylometry.files.formats import markdown_table, number, slug
from stylometry.runs.impostor_study import impostors_sentence

WHOLE = "whole"  # how a whole text (excerpt_tokens <NA> in the CSVs) is named in the report


def write_outputs(result: Attribution, out_dir: Path, command: str, draw_figures: bool) -> list[Path]:
    """Every table, figure and the report, each file written whole; returns the files written."""
    from stylometry.attribution.figures import held_out_curve, rolling, text_excerpts, text_losses, tippett
    from stylometry.attribution.html_report import attribution_html

    outputs: dict[str, object] = {table_file(name): table for name, table in result.tables().items()}
    figures: dict[str, object] = {}
    if draw_figures and result.held_out.empty:
        scores = judged(result.scores, result.score)
        for text in result.texts:
            rows = scores[(scores["text"] == text.name) & scores["excerpt_tokens"].isna()]
            if rows.empty:
                continue
            verdict = result.verdicts[(result.verdicts["text"] == text.name) & result.verdicts["excerpt_tokens"].isna()]
            figures[f"figures/{slug(text.name)}.png"] = text_losses(rows, verdict.iloc[0], result.alpha, result.score)
            if result.excerpt_lengths and (result.excerpts["text"] == text.name).any():
                figures[f"figures/{slug(text.name)}_excerpts.png"] = text_excerpts(
                    result.excerpts[result.excerpts["text"] == text.name], text.name
                )
            if not result.rolling.empty and (result.rolling["text"] == text.name).any():
                figures[f"figures/{slug(text.name)}_rolling.png"] = rolling(
                    result.rolling[result.rolling["text"] == text.name],
                    result.change_points[result.change_points["text"] == text.name],
                    result.score,
                )
    elif draw_figures:
        figures["figures/held_out_accuracy.png"] = held_out_curve(result.held_out_accuracy)
        if not result.verification_metrics.empty:
            figures["figures/tippett.png"] = tippett(result.verification_trials)
    pngs = {}  # each figure drawn once, for its file and for report.html
    for name, figure in figures.items():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=150)
        pngs[name] = buffer.getvalue()
    report = report_markdown(result, command, list(figures))
    page = attribution_html(result, command, pngs)
    written = []
    for name, table in outputs.items():
        with atomic_file(out_dir / name) as f:
            table.to_csv(f, index=False)
        written.append(out_dir / name)
    for name, png in pngs.items():
        with atomic_file(out_dir / name, "wb") as f:
            f.write(png)
        written.append(out_dir / name)
    with atomic_file(out_dir / "report.md") as f:
        f.write(report)
    with atomic_file(out_dir / "report.html") as f:
        f.write(page)
    return written + [out_dir / "report.md", out_dir / "report.html"]


def table_file(name: str) -> str:
    """The file of one of an attribution's tables (Attribution.tables: scores, verdicts, held_out, ...)."""
    return f"{name}.csv"


def read_held_out_attribution(out_dir: Path) -> HeldOutAttribution:
    """An output dir of `stylometry.attribute --held-out` read back (analyze --attribution); a BaselineError that
    says how to make one where it is not one."""
    held_out, scores = out_dir / table_file("held_out"), out_dir / table_file("scores")
    if not held_out.is_file() or not scores.is_file():
        raise BaselineError(
            f"--attribution {out_dir}: no {held_out.name} and {scores.name} there; make it with python -m "
            f"stylometry.attribute <study dir> --held-out --excerpt-tokens 256,1024,4096 --out {out_dir}"
        )
    return HeldOutAttribution(out_dir, pd.read_csv(held_out), pd.read_csv(scores))


def report_markdown(result: Attribution, command: str, figures: list[str]) -> str:
    """report.md's text: the study, how the texts were scored, the verdicts (or the held-out accuracy), the figures."""
    study, scored = result.study, result.scored
    cfg = study.cfg
    lines = [
        "# Attribution",
        "",
        f"    {command}",
        "",
        (
            f"Study `{study.study_dir}`: {len(study.models)} complete models, authors {', '.join(study.authors)}, "
            f"seeds {', '.join(map(str, study.seeds))} (experiment {cfg.experiment_name}, "
            f"variant {cfg.variant.name})." + (f" {impostors_sentence(study)}" if study.impostors else "")
        ),
        "",
    ]
    if result.unavailable:
        lines += [
            f"Not answered: {', '.join(result.unavailable)}. Each is measured on the study's held-out books, and "
            f"this study holds {study.no_held_out_books}.",
            "",
        ]
    if study.left_out:
        lines += [f"Left out ({len(study.left_out)} runs not complete):", ""]
        lines += [f"- {line}" for line in study.left_out] + [""]
    cap = f"its first {result.max_tokens:,} tokens" if result.max_tokens else "all of it"
    lines += [
        (
            f"Each text is read as the study's models read their books ({cfg.variant.name} variant, "
            f"tokenizer {cfg.data.tokenizer}) and scored on {cap}, in consecutive windows of "
            f"{cfg.model.n_positions} tokens, with each model's final checkpoint. "
            f"{scored['num_models']} models scored {int(result.scores['tokens'].sum()):,} tokens in "
            f"{scored['seconds']:.1f} s ({scored['tokens_per_s']:,.0f} tokens/s) on {scored['placement']}."
        ),
        "",
    ]
    noted = [text for text in result.texts if text.note]
    if noted:
        lines += ["Texts taken from the study's training books (a model never scores a text it trained on):", ""]
        lines += [f"- {text.name}: {text.note}" for text in noted] + [""]
    if result.held_out.empty:
        lines += _verdict_lines(result) + _verification_lines(result)
    else:
        lines += _held_out_lines(result) + _verification_metric_lines(result)
    if figures:
        lines += ["## Figures", ""] + [f"![{Path(name).stem}]({name})" for name in figures] + [""]
    return "\n".join(lines)


def _verdict_lines(result: Attribution) -> list[str]:
    whole = result.verdicts[result.verdicts["excerpt_tokens"].isna()]
    lines = [
        "## Verdicts",
        "",
        (
            f"Attributed to the author whose models have the lowest mean {_score_words(result)} over seeds; the "
            f"verdict names that author where the test against the runner-up gives p <= {result.alpha:g} (paired t "
            f'over shared seeds, else Welch\'s t), and is "{NO_VERDICT}" otherwise.'
        ),
        "",
        markdown_table(verdict_table(result), bold=("verdict",)),
    ]
    lines.append("")
    lines += _trust_lines(whole)
    lines += _open_set_lines(whole, result)
    lines += _baseline_lines(whole)
    if result.excerpt_lengths:
        lines += [
            "## Excerpts",
            "",
            (
                "Each text cut into consecutive excerpts of each length, each attributed as a "
                "text of its own: how many excerpts went to each author, and how many with a verdict."
            ),
            "",
            "| text | excerpt tokens | excerpts | attributed (with a verdict) |",
            "| --- | --- | --- | --- |",
        ]
        for (text, length), rows in result.excerpts.groupby(["text", "excerpt_tokens"], sort=True):
            shares = ", ".join(
                f"{r.author} {r.num_attributed} ({r.num_verdicts})"
                for r in rows.sort_values("num_attributed", ascending=False).itertuples()
            )
            lines.append(f"| {text} | {length:,} | {rows['num_excerpts'].iloc[0]} | {shares} |")
        lines += _baseline_excerpt_lines(result.verdicts)
        too_short = [
            f"{t.name} ({len(t.tokens):,} tokens)"
            for t in result.texts
            if any(len(t.tokens) < length for length in result.excerpt_lengths)
        ]
        if too_short:
            lines += ["", f"Shorter than some excerpt length (no excerpt of that length): {', '.join(too_short)}."]
        lines.append("")
    if not result.rolling.empty:
        lines += _rolling_lines(result)
    return lines


def _open_set_lines(whole: pd.DataFrame, result: Attribution) -> list[str]:
    """How each whole text fared against its best candidate's bound (attribution/open_set.py)."""
    if (whole["open_set"] == CLOSED).all():
        return ["Closed set (--closed-set): every verdict names one of the candidates.", ""]
    lines = [
        "## None of the candidates?",
        "",
        (
            "A text whose best candidate's mean score over seeds is above that candidate's bound (the score its "
            f"models give {1 - result.false_rejection:.0%} of its own held-out excerpts of the text's length stay "
            f'below) is "{NONE_OF_THEM}", with the candidate it would otherwise go to.'
        ),
        "",
    ]
    lines += [f"- {row.text}: {open_set_words(row).removeprefix('; ')}" for row in whole.itertuples()]
    return lines + [""]


def _rolling_lines(result: Attribution) -> list[str]:
    """Per text: who leads which passages, and the change points (rolling.csv, change_points.csv)."""
    lines = [
        "## Along each text",
        "",
        (
            f"Windows of {result.window:,} tokens every {result.stride:,} tokens, each scored from every model's "
            f"loss at each token of the whole text: the leader of a window is the candidate with the lowest mean "
            f"{_score_words(result)} over seeds. A change point is where the leader changes and the new leader "
            f"leads at least one window's length of windows in a row; it is placed at the centre of the first "
            "window it leads."
        ),
        "",
    ]
    for text in result.texts:
        lines.append(f"- {text.name}: " + rolling_words(result, text.name))
    return lines + [""]


def rolling_words(result: Attribution, text: str) -> str:
    """`alice leads tokens 0-1,504; bob from token 1,504 (change point in window 1,376-1,632)`."""
    points = result.change_points[result.change_points["text"] == text]
    windows = result.rolling[result.rolling["text"] == text]
    if windows.empty:
        return "not scored"
    first = points["from_author"].iloc[0] if len(points) else windows["leader"].mode().iloc[0]
    share = (windows["leader"] == first).mean()
    if points.empty:
        return f"{first} leads throughout ({share:.0%} of {len(windows)} windows); no change point"
    parts = [f"{first} leads from token 0"]
    parts += [
        f"{p.to_author} from token {p.token:,} (window {p.start_token:,}-{p.end_token:,})" for p in points.itertuples()
    ]
    return "; ".join(parts)


def _trust_lines(whole: pd.DataFrame) -> list[str]:
    """How far to trust each verdict: the study's held-out accuracy at the text's length."""
    if "held_out_accuracy" not in whole.columns:
        return []
    lines = [
        "How far to trust each verdict: the study's own held-out books cut to about the text's length, attributed "
        "on the same score (a verdict whose accuracy's 95% interval reaches chance names no author):",
        "",
    ]
    return lines + [f"- {row.text}{trust_words(row)}" for row in whole.itertuples()] + [""]


def _baseline_lines(whole: pd.DataFrame) -> list[str]:
    """With --baselines: each text's naive Bayes and Burrows' Delta verdicts beside the language models'."""
    if "naive_bayes" not in whole.columns:
        return []
    lines = [
        "## The classical methods",
        "",
        (
            "Naive Bayes and Burrows' Delta (the analysis's, `--baselines`), fitted for each seed on exactly the "
            "training text of each candidate's model of that seed: the author most seeds name, and each "
            "author's seeds (`baselines.csv` has every seed's)."
        ),
        "",
        "| text | language models | naive Bayes | Burrows' Delta | all agree |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {row.text} | {row.attributed_to} | {row.naive_bayes_seeds} | {row.burrows_delta_seeds} | "
        f"{'yes' if row.methods_agree else 'no'} |"
        for row in whole.itertuples()
    ]
    return lines + [""]


def _held_out_lines(result: Attribution) -> list[str]:
    lines = [
        "## Held-out books: attribution accuracy against excerpt length",
        "",
        (
            "Each seed's held-out book of each author, attributed by that seed's models only (none of them trained "
            "on it): the whole book, and each consecutive excerpt as a text of its own. The 95% interval is "
            f"Wilson's for whole books; for excerpts, a bootstrap over books from {MIN_BOOKS_TO_RESAMPLE} books on "
            "(excerpts of one book are not independent), and below that Wilson's over excerpts, which is too "
            "narrow where books differ."
        ),
        "",
        "| excerpt tokens | author | books | excerpts | accuracy | 95% interval | interval |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in result.held_out_accuracy.itertuples():
        length = WHOLE if pd.isna(row.excerpt_tokens) else f"{row.excerpt_tokens:,}"
        lines.append(
            f"| {length} | {row.author} | {row.num_books} | {row.num_excerpts} | "
            f"{row.num_correct}/{row.num_excerpts} = {row.accuracy:.2f} | "
            f"{row.ci_low:.2f}–{row.ci_high:.2f} | {row.ci_method} |"
        )
    lines.append("")
    if not result.open_set_rates.empty:
        lines += _open_set_rate_lines(result)
    if result.rolling_summary:
        lines += [
            "## Along a text: the rule measured",
            "",
            (
                "Each seed's held-out books stitched in pairs of authors (the first half of one and the second half "
                "of the other; and a sandwich of thirds, first-second-first), scored by that seed's models; the "
                "books whole are single-author text. A switch is found where a change point to its new hand falls "
                "within one window of it (switches.csv)."
            ),
            "",
            _sentence(rolling_accuracy_words(result)),
            "",
        ]
    return lines


def _sentence(words: str) -> str:
    return words[0].upper() + words[1:] + "."


def rolling_accuracy_words(result: Attribution) -> str:
    """`windows of 256 tokens every 64: 36 stitched texts, 54 switches, 45 found (83%): ...`."""
    summary = result.rolling_summary
    found = summary["num_found"]
    distance = (
        f", {summary['distance_median']:,.0f} tokens off at the median and {summary['distance_p90']:,.0f} at the "
        "90th percentile"
        if found
        else ""
    )
    return (
        f"windows of {result.window:,} tokens every {result.stride:,}: {summary['num_stitches']} stitched texts, "
        f"{summary['num_switches']} switches, {found} found within a window "
        f"({found / max(summary['num_switches'], 1):.0%}){distance}; {summary['extra_change_points']} change "
        f"point(s) in the stitches more than a window from every switch; {summary['book_change_points']} in "
        f"{summary['book_tokens']:,} tokens of single-author text ({summary['false_per_10k']:.1f} per 10,000 tokens)"
    )


def _open_set_rate_lines(result: Attribution) -> list[str]:
    lines = [
        "## None of the candidates: the rule measured",
        "",
        (
            "Each author left out of the candidates in turn: the share of its excerpts called none of the "
            "candidates (want high), and of the other authors' excerpts the share attributed to their author with "
            f"the closed set and with the open set (a bound at {result.false_rejection:.0%} false rejection; each "
            f"seed's bounds from the other seeds' books; a candidate with fewer than {MIN_EXCERPTS} excerpts at a "
            "length keeps its closed-set verdict)."
        ),
        "",
        "| excerpt tokens | left out | its excerpts called none | others: closed set | others: open set | others "
        "called none |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in result.open_set_rates.itertuples():
        lines.append(
            f"| {row.excerpt_tokens:,} | {row.left_out} | {row.left_out_rejected:.0%} of {row.num_left_out_excerpts} "
            f"| {row.closed_set_accuracy:.0%} | {row.open_set_accuracy:.0%} of {row.num_other_excerpts} | "
            f"{row.others_rejected:.0%} |"
        )
    return lines + [""]


def _baseline_excerpt_lines(verdicts: pd.DataFrame) -> list[str]:
    """With --baselines: per text and excerpt length, how many excerpts each classical method gave each author."""
    if "naive_bayes" not in verdicts:
        return []
    lines = ["", "The classical methods on the same excerpts (each excerpt: the author most seeds name):", ""]
    excerpt_rows = verdicts[verdicts["excerpt_tokens"].notna()]
    for (text, length), rows in excerpt_rows.groupby(["text", "excerpt_tokens"], sort=True):
        counts = [
            f"{name} " + ", ".join(f"{author} {n}" for author, n in rows[column].value_counts().items())
            for column, name in (("naive_bayes", "naive Bayes"), ("burrows_delta", "Burrows' Delta"))
        ]
        lines.append(f"- {text}, {int(length):,} tokens: " + "; ".join(counts))
    return lines


def _baseline_words(row) -> str:
    """With --baselines: what naive Bayes and Burrows' Delta say, and whether all three agree."""
    if not isinstance(getattr(row, "naive_bayes", None), str):
        return ""
    agree = "all three agree" if row.methods_agree else "they do not all agree"
    return f"; naive Bayes: {row.naive_bayes_seeds}; Burrows' Delta: {row.burrows_delta_seeds}; {agree}"


def _score_words(result: Attribution) -> str:
    if result.score == LOSS:
        return "loss"
    return (
        "normalized score (each model's loss minus its own mean loss on its seed's held-out books of every "
        "candidate, reference.csv: a model better at English in general gains nothing)"
    )


def _text_verification(result: Attribution, text: str) -> str:
    if result.verification.empty:
        return ""
    return verification_words(result.verification[result.verification["text"] == text])


def _verification_lines(result: Attribution) -> list[str]:
    """Each text's likelihood ratio for each candidate, and the calibration it was read through."""
    lines = ["## Likelihood ratios", ""]
    if result.verification.empty:
        return lines + [f"No likelihood ratio: {result.verification_note}", ""]
    return lines + [
        (
            "How much more probable each text is if the candidate wrote it than if someone else did, as log10 LR: "
            "each model's score (its loss on the text minus its own mean loss on its seed's held-out books of every "
            "author) and its relative score (that minus the other authors' models' of the seed, impostors included), "
            "through a logistic-regression calibration fitted on the study's held-out books (same-author and "
            "different-author excerpts at each length; attribution/verification.py). The mean over seeds, the "
            "seeds' range beside it, in ENFSI's words. Where every candidate's log10 LR is below its length's "
            "threshold (none_below in the calibration: 0, or lower as the open set's false rejection needs) the "
            "verdict is none of the candidates; otherwise the study's rule decides it. With two candidates, LR(A vs "
            "B) too (against the other: A's score minus B's, each model's level its mean on the two candidates' "
            "held-out books alone, calibrated on those books)."
        ),
        "",
        markdown_table(lr_table(result)),
        "",
        "Calibration (log10 LR = slope × score + slope_relative × relative + intercept; no slope_relative: the score "
        "alone, as a study of two authors has no other model for a different-author trial; none_below: a text whose "
        "every candidate's log10 LR is below it is none of the candidates, 0 or lower where the candidates' own "
        f"excerpts fall below 0 more often than {result.false_rejection:.0%}):",
        "",
        markdown_table(lr_calibration_table(result)),
        "",
    ]


def _verification_metric_lines(result: Attribution) -> list[str]:
    """--held-out: the likelihood ratio's metrics on the study's own trials, each seed judged by the others."""
    lines = ["## Verification: the likelihood ratio measured", ""]
    if result.verification_metrics.empty:
        return lines + [f"Not measured: {result.verification_note or 'too few trials per seed'}", ""]
    return lines + [
        (
            "Every excerpt of every seed's held-out books, scored by each candidate's model of its seed: same-author "
            "trials where the book is the candidate's, different-author ones otherwise; each seed's trials judged by "
            "a calibration fitted on the other seeds' only. C_llr in bits (0 perfect, 1 uninformative), C_llr^min "
            "after the best monotone recalibration; c@1 and F0.5u leave |log10 LR| < 1 unanswered; own rejected: "
            "own-author trials with LR < 1; others accepted: different-author trials with LR > 1; own called none: "
            f"own-author excerpts where every candidate's log10 LR is below the open set's threshold (none_below: 0, "
            f"or lower where more than {result.false_rejection:.0%} of the candidates' own excerpts fall below 0; "
            "each seed's from the other seeds' trials); outsiders called none: excerpts whose author is left out (no "
            "candidate, no reference) where every other candidate's is. The rows of General "
            "Impostors are the classical verification method on the same trials (attribution/impostors.py), the "
            "baseline to beat. The Tippett plot is figures/tippett.png."
        ),
        "",
        markdown_table(lr_metric_table(result)),
        "",
    ]


def summary_lines(result: Attribution) -> list[str]:
    """What the command prints: one line per text (or per excerpt length and author with --held-out)."""
    if not result.held_out.empty:
        overall = result.held_out_accuracy[result.held_out_accuracy["author"] == "all"]
        lines = [
            f"held-out books, {WHOLE if pd.isna(r.excerpt_tokens) else f'{r.excerpt_tokens:,}-token excerpts'}: "
            f"{r.num_correct}/{r.num_excerpts} attributed correctly ({r.accuracy:.0%}, 95% interval "
            f"{r.ci_low:.0%}–{r.ci_high:.0%}, {r.num_books} books)"
            for r in overall.itertuples()
        ]
        if result.rolling_summary:
            lines.append(f"held-out books, along the text: {rolling_accuracy_words(result)}")
        return lines
    lines = []
    for row in result.verdicts[result.verdicts["excerpt_tokens"].isna()].itertuples():
        if not isinstance(row.runner_up, str):
            lines.append(
                f"{row.text}: {row.attributed_to} (mean {result.score} {row.mean_loss:.4f}); no other candidate to "
                f"compare{_text_verification(result, row.text)}"
            )
            continue
        test = row.test if pd.isna(row.p) else f"{row.test} p = {number(row.p, '.2e')}"
        lines.append(
            f"{row.text}: {row.verdict} (lowest mean {result.score}: {row.attributed_to} {row.mean_loss:.4f} vs "
            f"{row.runner_up} {row.runner_up_mean_loss:.4f}; {test}; lowest: {row.lowest_in_seeds}"
            + trust_words(row)
            + open_set_words(row)
            + _baseline_words(row)
            + _text_verification(result, row.text)
            + ")"
        )
    if not result.rolling.empty:
        lines += [f"{text.name}, along the text: {rolling_words(result, text.name)}" for text in result.texts]
    for text in result.unscored:
        lines.append(f"{text.name}: not scored ({text.note})")
    if result.unavailable:
        lines.append(f"not answered: {', '.join(result.unavailable)} (the study's held-out books are not known)")
    return lines
