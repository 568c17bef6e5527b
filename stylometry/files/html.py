"""The pieces of a report read in a browser (report.html): the page with its CSS, tables, figures as inline PNGs.

    python -m stylometry.attribute <study dir> <texts> --out <dir>    # <dir>/report.html (attribution/html_report.py)

A page is one self-contained file: its CSS is inline and its figures are data URIs, so it shows the same mailed,
archived or opened without network, and fetches nothing. Every string a page shows is escaped here or by the caller
(html.escape): text names, passages and author names come from the user's files.
"""

import base64
import html

import pandas as pd

from stylometry.files.formats import MISSING, missing

# Plain and print-friendly: the system's fonts, tables that scroll sideways rather than widen the page.
CSS = """
body { font-family: system-ui, sans-serif; line-height: 1.45; max-width: 70rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; }
table { border-collapse: collapse; margin: 0.8rem 0; display: block; overflow-x: auto; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
figure { margin: 1rem 0; }
img { max-width: 100%; height: auto; }
figcaption, .note { color: #555; font-size: 0.9rem; }
pre, code { font-family: ui-monospace, monospace; font-size: 0.85rem; }
pre { background: #f6f6f6; padding: 0.5rem; overflow-x: auto; }
.text { white-space: pre-wrap; font-family: Georgia, serif; border: 1px solid #ddd; padding: 0.8rem;
        max-height: 40rem; overflow-y: auto; }
.swatch { display: inline-block; padding: 0 0.4rem; margin-right: 0.5rem; border-radius: 0.2rem; }
"""


def page(title: str, body: str) -> str:
    """A whole HTML document: `title` (escaped here) and `body` (HTML, escaped by its maker)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def cell(value) -> str:
    """A value as the escaped text of a table cell; a missing value (None, NaN, <NA>) as a dash."""
    return MISSING if missing(value) else html.escape(str(value))


def table(frame: pd.DataFrame, table_id: str | None = None, bold: tuple[str, ...] = ()) -> str:
    """A table of the frame's columns and rows as they are (format the numbers first); `bold`: columns in bold."""
    header = "".join(f"<th>{html.escape(str(column))}</th>" for column in frame.columns)
    bold_at = {i for i, column in enumerate(frame.columns) if column in bold}
    rows = []
    for values in frame.itertuples(index=False):
        cells = (f"<strong>{cell(v)}</strong>" if i in bold_at else cell(v) for i, v in enumerate(values))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    opening = f'<table id="{html.escape(table_id)}">' if table_id else "<table>"
    return f"{opening}\n<thead><tr>{header}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def png_data_uri(png: bytes) -> str:
    """A PNG as a URI that holds it (base64): an <img> whose picture is in the page itself."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{png_data_uri(png)}">'


def figure(png: bytes, caption: str, alt: str) -> str:
    """A PNG inline, with its caption (plain text, escaped here) below it."""
    return f"<figure>\n{png_image(png, alt)}\n<figcaption>{html.escape(caption)}</figcaption>\n</figure>"
