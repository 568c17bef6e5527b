"""report.html of an analysis: report.md rendered as a page, every figure it links inline; one self-contained file.

    python -m stylometry.analyze multirun/paper --out analysis/paper    # writes analysis/paper/report.html

report.md stays the one source of the tables, figures and captions; this only renders it (Python-Markdown with its
tables extension) and puts each linked PNG into the page as a data URI (stylometry.files.html). Raw HTML in the
markdown is shown as text, not obeyed: the report quotes author names and paths the user chose.
"""

from pathlib import Path

import markdown
from markdown.treeprocessors import Treeprocessor

from stylometry.files.html import page, png_data_uri


def analysis_html(markdown_text: str, out_dir: Path) -> str:
    """report.md's text as a page; its image links (relative to out_dir, where the figures are written) inline."""
    renderer = markdown.Markdown(extensions=["tables"])
    # Python-Markdown passes raw HTML through; without these two readers `<b>` in a name stays the text `<b>`.
    renderer.preprocessors.deregister("html_block")
    renderer.inlinePatterns.deregister("html")
    renderer.treeprocessors.register(_FigureInliner(renderer, out_dir), "inline_figures", 0)  # 0: after the rest
    body = renderer.convert(markdown_text)
    title = next((line[2:] for line in markdown_text.splitlines() if line.startswith("# ")), "report")
    return page(title, body)


class _FigureInliner(Treeprocessor):
    """Each <img> of a PNG file in out_dir: its src becomes the file's bytes (base64), so the page stands alone."""

    def __init__(self, md, out_dir: Path):
        super().__init__(md)
        self.out_dir = out_dir

    def run(self, root):
        for img in root.iter("img"):
            path = self.out_dir / img.get("src", "")
            if path.suffix == ".png" and path.is_file():
                img.set("src", png_data_uri(path.read_bytes()))
