"""report.html of attribute and of analyze, opened in a real headless browser (Debian's Chromium, which .ci/run
installs): the verdict table (analyze: the first table) and the figures rendered, every passage shaded in its
leader's colour, every name escaped, nothing fetched, and a screenshot that is not a blank page.

    python -m pytest tests/test_html_report.py -q
"""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import CORPUS, hand_sweep
from matplotlib import colormaps
from matplotlib import image as matplotlib_image

from stylometry.analysis.html_report import analysis_html
from stylometry.analysis.outputs import analyze
from stylometry.attribution.html_report import SHADE_ALPHA, attribution_html
from stylometry.attribution.pipeline import Request, attribute
from stylometry.attribution.report import write_outputs

CONTESTED = CORPUS / "contested" / "30537.txt"
CHROMIUM = shutil.which("chromium")
BROWSER_SECONDS = 120  # a page loads in about a second; a hung browser fails the test instead of the suite
# No sandbox (CI runs as root), no GPU, and none of the browser's own traffic (updates, sync, field trials).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
# Appended to a copy of the page: once it has loaded, what the browser drew, written into the DOM for --dump-dom.
MEASURE = """
<script>
window.addEventListener("load", () => {
  const table = document.querySelector(TABLE), images = [...document.images];
  const outside = [...document.querySelectorAll("img, script[src], link, iframe, object, embed, source")]
    .map((element) => element.getAttribute("src") || element.getAttribute("href") || element.tagName)
    .filter((address) => !address.startsWith("data:"));
  const measured = {
    table_height: table ? table.getBoundingClientRect().height : 0,
    table_text: table ? table.innerText : "",
    first_image_width: images.length && images[0].complete ? images[0].naturalWidth : 0,
    first_caption: images.length ? (images[0].parentElement.nextElementSibling || {}).textContent : "",
    images_drawn: images.filter((image) => image.complete && image.naturalWidth > 0).length,
    images: images.length,
    outside: outside,
    fetched: performance.getEntriesByType("resource").map((entry) => entry.name),
    headings: [...document.querySelectorAll("h2")].map((heading) => heading.textContent),
    markup_from_text: document.querySelectorAll("b, i, em").length,
    texts: [...document.querySelectorAll(".text")].map((text) => text.textContent),
    passages: [...document.querySelectorAll(".text span")].map(
      (span) => [span.textContent, getComputedStyle(span).backgroundColor, span.title]),
  };
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify(measured);
  document.body.appendChild(out);
});
</script>
"""


def chromium(*args: str, profile: Path) -> str:
    assert CHROMIUM, "no chromium on the PATH: apt-get install -y --no-install-recommends chromium (as .ci/run does)"
    result = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=BROWSER_SECONDS,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def measure(page: Path, table: str, tmp_path: Path) -> dict:
    """What the browser drew of the page: the `table` selector's first table, the images, the text's passages."""
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text() + MEASURE.replace("TABLE", json.dumps(table)))
    # The virtual time budget lets the load event and the script run before the DOM is printed.
    dom = chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri(), profile=tmp_path / "profile")
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, flags=re.DOTALL)
    assert found, dom[-3000:]
    return json.loads(html.unescape(found.group(1)))


def screenshot_ink(page: Path, tmp_path: Path) -> float:
    """The share of a 1200 x 2000 screenshot of the page that is not white (a blank page: 0)."""
    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri(), profile=tmp_path / "profile")
    pixels = matplotlib_image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1200)
    return float((pixels < 0.9).any(axis=-1).mean())


def rgba(color, alpha: float) -> str:
    """A matplotlib colour as the browser computes a CSS rgba() background."""
    r, g, b = (round(255 * c) for c in color[:3])
    return f"rgba({r}, {g}, {b}, {alpha})"


# ---- attribute ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_attribution_report_shows_verdicts_figures_and_shaded_passages_in_a_browser(study, tmp_path):

    letter = tmp_path / "a<b>&c.txt"  # a name and a text that would be markup if they were not escaped
    letter.write_text("<em>not markup</em> & more\n" + (CORPUS / "non_oz_baum" / "48778.txt").read_text()[:3000])
    request = Request(
        study_dir=study, alpha=0.001, texts=[str(CONTESTED), str(letter)], rolling=True, window=64, stride=16
    )
    result = attribute(request)
    out, command = tmp_path / "out", f"python -m stylometry.attribute {study} 30537.txt --rolling"
    write_outputs(result, out, command, draw_figures=True)
    figures = {path.relative_to(out).as_posix(): path.read_bytes() for path in sorted(out.glob("figures/*.png"))}
    assert list(figures) == [
        "figures/30537.txt.png",
        "figures/30537.txt_rolling.png",
        "figures/a_b_c.txt.png",
        "figures/a_b_c.txt_rolling.png",
    ]
    page = out / "report.html"
    assert page.read_text() == attribution_html(result, command, figures)

    measured = measure(page, "#verdicts", tmp_path)
    assert measured["table_height"] > 0
    lines = measured["table_text"].splitlines()
    assert lines[0].startswith("text\ttokens scored\tverdict\tlowest mean loss\trunner-up")
    assert "held-out accuracy at its length" in lines[0]  # the trust column, present in this result
    assert [line.split("\t")[0] for line in lines[1:]] == ["30537.txt", "a<b>&c.txt"]
    assert measured["first_image_width"] > 0
    assert measured["images_drawn"] == measured["images"] == len(figures)
    assert measured["outside"] == [] and measured["fetched"] == []
    assert measured["headings"] == ["Verdicts", "Likelihood ratios", "The study", "30537.txt", "a<b>&c.txt"]
    assert measured["markup_from_text"] == 0
    # Each passage in its leader's colour, the colours of attribution/figures.py (tab10 over the sorted names).
    colors = {author: colormaps["tab10"](i) for i, author in enumerate(["austen", "baum", "thompson"])}
    assert [[text, background] for text, background, _ in measured["passages"]] == [
        [row.passage, rgba(colors[row.leader], SHADE_ALPHA)] for row in result.passages.itertuples()
    ]
    second = result.passages.iloc[1]
    assert measured["passages"][1][2] == (
        f"{second.leader}: tokens {second.start_token}–{second.end_token}, runner-up's mean loss minus the leader's "
        f"{second.margin:.3f} per token"
    )
    assert measured["texts"] == [
        "".join(result.passages.loc[result.passages["text"] == name, "passage"]) for name in ("30537.txt", "a<b>&c.txt")
    ]
    assert screenshot_ink(page, tmp_path) > 0.02
    # Without --rolling a text is shown as its file holds it, its markup as text.
    result.passages = result.passages.iloc[0:0]
    assert html.escape(letter.read_text()) in attribution_html(result, command, figures)


# ---- analyze ------------------------------------------------------------------------------------------


def test_the_analysis_report_shows_report_md_with_its_figures_inline_in_a_browser(tmp_path):
    out = tmp_path / "analysis"
    analyze([hand_sweep(tmp_path / "multirun")], out)
    report = (out / "report.md").read_text()
    page = out / "report.html"
    assert page.read_text() == analysis_html(report, out)  # written beside report.md, from report.md

    measured = measure(page, "table", tmp_path)
    assert measured["table_height"] > 0 and measured["table_text"].startswith("variant\tat\t")
    assert measured["first_image_width"] > 0
    assert measured["images_drawn"] == measured["images"] == report.count("![")
    assert measured["outside"] == [] and measured["fetched"] == []
    first_caption = re.search(r"!\[.*?\]\(.*?\)\n\n\*(.+?)\*", report).group(1)
    assert measured["first_caption"] == f"{first_caption} PDF"  # the caption under its figure, with its PDF's link
    assert screenshot_ink(page, tmp_path) > 0.02


def test_markup_in_the_analysis_report_is_shown_as_text(tmp_path):
    page = analysis_html("# Names\n\nauthor <b>x</b> & y\n\n<script>alert(1)</script>\n", tmp_path)
    assert "author &lt;b&gt;x&lt;/b&gt; &amp; y" in page and "&lt;script&gt;" in page
    assert "<b>" not in page and "<script>" not in page
