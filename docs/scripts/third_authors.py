"""Excerpts of writers whom neither study holds, as questioned texts: docs/attribution.md's true third authors.

    python docs/scripts/third_authors.py cut CORPUS fitzgerald,melville third --tokens 1100 --per-book 5
    python -m stylometry.attribute small_2x5 third/*.txt --impostors small_imp4x5_bg --max-tokens 1024 --out third_2x5
    python docs/scripts/third_authors.py count third_2x5/verdicts.csv

`cut` writes `per_book` excerpts of `tokens` GPT-2 tokens (decoded back to text), evenly spaced through each book of
each author folder, as <author>_<book>_<n>.txt; `count` says, per author, how many of them the attribution called
none of the candidates (a text's name says whose it is). The tokenizer is the study's (STYLOMETRY_TOKENIZER).
"""

import argparse
import os
from pathlib import Path

import pandas as pd

from stylometry.data.tokenizer import load_tokenizer

NONE = "none of the candidates"


def cut(corpus: Path, authors: list[str], out: Path, tokens: int, per_book: int, tokenizer: str) -> None:
    reader = load_tokenizer(tokenizer)
    out.mkdir(parents=True, exist_ok=False)
    for author in authors:
        for book in sorted((corpus / author).glob("*.txt")):
            ids = reader(book.read_text(encoding="utf-8"))["input_ids"]
            if len(ids) < tokens:
                continue
            step = (len(ids) - tokens) // max(per_book - 1, 1)
            for n in range(per_book):
                excerpt = reader.decode(ids[n * step : n * step + tokens])
                (out / f"{author}_{book.stem}_{n}.txt").write_text(excerpt, encoding="utf-8")


def count(verdicts: Path) -> pd.DataFrame:
    table = pd.read_csv(verdicts)
    table = table.assign(author=table["text"].str.split("_").str[0], none=table["verdict"] == NONE)
    return table.groupby("author")["none"].agg(texts="size", called_none="sum", share="mean").reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cutting = commands.add_parser("cut")
    cutting.add_argument("corpus", type=Path)
    cutting.add_argument("authors")
    cutting.add_argument("out", type=Path)
    cutting.add_argument("--tokens", type=int, default=1100)
    cutting.add_argument("--per-book", type=int, default=5)
    cutting.add_argument("--tokenizer", default=os.environ.get("STYLOMETRY_TOKENIZER", "gpt2"))
    counting = commands.add_parser("count")
    counting.add_argument("verdicts", type=Path)
    args = parser.parse_args()
    if args.command == "cut":
        cut(args.corpus, args.authors.split(","), args.out, args.tokens, args.per_book, args.tokenizer)
    else:
        print(count(args.verdicts).to_string(index=False))


if __name__ == "__main__":
    main()
