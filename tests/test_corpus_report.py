"""`python -m stylometry.corpus <root>`: a corpus's authors, books and tokens, the study's rule, and its flags.

The corpora are slices of the real books of ../shared/corpus under other names, with each fault planted on its own
file or author; tokens go to a token cache of this module's, under pytest's temporary folder.
"""

import re
from pathlib import Path

import pytest
from conftest import CORPUS, REPO, SMALL_CORPUS, TOKENIZER, build_small_corpus, run_command

from stylometry.config.schema import DEMO_CORPUS
from stylometry.corpus import main
from stylometry.data.corpus import demo_corpus_note
from stylometry.data.corpus_report import (
    SHORT_BOOK_TOKENS,
    SMALL_CORPUS_SUGGESTION,
    SMALL_CORPUS_TRAIN_TOKENS,
    AuthorCount,
    CorpusReport,
    report_lines,
)
from stylometry.data.splits import largest_train_tokens
from stylometry.data.tokenizer import load_tokenizer
from stylometry.data.tokens import BookReader
from stylometry.data.variants import IDENTITY_KEY

GUTENBERG_LINE = "*** END OF THE PROJECT GUTENBERG EBOOK PERSUASION ***"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("token_cache")


def text_of(book: str, num_chars: int, start: int = 0) -> str:
    """Characters of a real book (cut on characters, so the slice stays UTF-8)."""
    return (CORPUS / book).read_text(encoding="utf-8")[start : start + num_chars]


@pytest.fixture
def faulty(small_corpus) -> Path:
    """The small corpus (alice, bob, carol) with one fault of each kind planted, and two authors more."""
    root = small_corpus
    book1 = root / "alice" / "book1.txt"
    book1.write_text(book1.read_text() + f"\n\n{GUTENBERG_LINE}\nend of the licence\n")
    (root / "bob" / "empty.txt").write_bytes(b"")
    (root / "bob" / "latin1.txt").write_bytes(
        "café society, ".encode("latin-1") + text_of("twain/74.txt", 2000).encode()
    )
    (root / "carol" / "copied.txt").write_bytes((root / "alice" / "book0.txt").read_bytes())
    (root / "carol" / "note.txt").write_text(text_of("wells/35.txt", 400, start=20_000))
    (root / "dave").mkdir()  # a tiny author: two books of about 700 tokens
    for i, book in enumerate(["dickens/98.txt", "dickens/580.txt"]):
        (root / "dave" / f"book{i}.txt").write_text(text_of(book, 3000))
    (root / "erin").mkdir()  # one book, of an author's size
    (root / "erin" / "book0.txt").write_text(text_of("melville/15.txt", 40_000))
    return root


def corpus(*args, capsys) -> tuple:
    """main([...]) in this process: (exit code, stdout, stderr)."""
    code = main([str(arg) for arg in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def flags_of(stdout: str) -> dict:
    """(kind, subject) -> detail of each flag line (`  <kind>: <subject>: <detail>`, after `flags: <n>`)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("flags: "))
    found = {}
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        kind, subject, detail = line.strip().split(": ", 2)
        found[kind, subject] = detail
    return found


def rule_line(stdout: str) -> tuple:
    """(n_train_tokens, author) of the report's `n_train_tokens: <n>, set by <author>` line."""
    found = re.search(r"^n_train_tokens: ([\d,]+), set by (\S+) ", stdout, re.MULTILINE)
    return int(found[1].replace(",", "")), found[2]


def test_a_clean_corpus_gets_no_flags_and_the_studys_rule(small_corpus, cache, capsys):
    code, out, err = corpus(small_corpus, "--tokenizer", TOKENIZER, "--cache-dir", cache, capsys=capsys)
    assert code == 0, err
    assert "flags: none" in out
    assert f"corpus {small_corpus}: 3 authors, 9 books, " in out
    reader = BookReader(cache, load_tokenizer(str(TOKENIZER)), lambda text: text, IDENTITY_KEY)
    authors = sorted(SMALL_CORPUS)
    by_author = {name: largest_train_tokens(small_corpus, [name], reader) for name in authors}
    assert rule_line(out) == (largest_train_tokens(small_corpus, authors, reader), min(by_author, key=by_author.get))
    for name in authors:
        assert re.search(rf"^{name}\s+3\s+[\d,]+\s+{by_author[name]:,}$", out, re.MULTILINE), out
    assert SMALL_CORPUS_SUGGESTION in out  # a few thousand tokens per author


def test_each_fault_is_flagged_on_its_file_or_author(faulty, cache, capsys):
    code, out, err = corpus(faulty, "--tokenizer", TOKENIZER, "--cache-dir", cache, capsys=capsys)
    assert code == 0, err  # a report, flags and all
    flags = flags_of(out)
    assert set(flags) == {
        ("small author", "dave"),
        ("too few books", "erin"),
        ("unusable book", "bob/empty.txt"),
        ("unusable book", "bob/latin1.txt"),
        ("short book", "carol/note.txt"),
        ("gutenberg text", "alice/book1.txt"),
        ("shared text", "alice/book0.txt"),
    }, out
    assert flags["unusable book", "bob/empty.txt"].startswith("is empty")
    assert flags["unusable book", "bob/latin1.txt"].startswith("is not UTF-8 text")
    assert int(flags["short book", "carol/note.txt"].split()[0]) < SHORT_BOOK_TOKENS
    line_number = (faulty / "alice" / "book1.txt").read_text().splitlines().index(GUTENBERG_LINE) + 1
    assert flags["gutenberg text", "alice/book1.txt"].startswith(f"line {line_number}: '{GUTENBERG_LINE}'")
    assert flags["shared text", "alice/book0.txt"].startswith("100% of its 32-token runs are in carol/copied.txt")
    assert "1 book(s)" in flags["too few books", "erin"]
    assert rule_line(out) == (0, "erin")  # one book, all of it held out: nothing left to train on
    assert re.search(r"^bob\s+5\s", out, re.MULTILINE)  # the unusable books are counted as books, with no tokens
    assert f"flags: {len(flags)}" in out


def test_the_command_as_a_user_runs_it(faulty, cache, capsys):
    """A process of its own, the tokenizer from STYLOMETRY_TOKENIZER (run_command's environment): the same report."""
    result = run_command("stylometry.corpus", faulty, "--cache-dir", cache, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.rstrip("\n") == corpus(faulty, "--tokenizer", TOKENIZER, "--cache-dir", cache, capsys=capsys)[
        1
    ].rstrip("\n")


def test_with_no_corpus_named_the_demo_corpus_is_reported_and_named(cache):
    """No folder and no STYLOMETRY_DATA: training's default data.root, the demo corpus bundled with the package, and
    one line on stderr saying so; its report as its folder's."""
    result = run_command("stylometry.corpus", "--cache-dir", cache, env={"STYLOMETRY_DATA": None}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [demo_corpus_note(DEMO_CORPUS)]
    assert result.stdout.startswith(f"corpus {DEMO_CORPUS}: 8 authors, 82 books, ")
    assert "n_train_tokens: 35,152, set by fitzgerald" in result.stdout


def test_not_authors_default_to_the_schemas(small_corpus, cache, capsys):
    (small_corpus / "contested").mkdir()  # one of data.not_authors' defaults
    (small_corpus / "contested" / "30537.txt").write_text(text_of("contested/30537.txt", 4000))
    code, out, _ = corpus(small_corpus, "--tokenizer", TOKENIZER, "--cache-dir", cache, capsys=capsys)
    assert code == 0
    assert "3 authors" in out and "not authors (--not-authors): contested" in out
    code, out, _ = corpus(
        small_corpus, "--not-authors", "carol", "--tokenizer", TOKENIZER, "--cache-dir", cache, capsys=capsys
    )
    assert code == 0
    assert re.search(r"^contested\s+1\s", out, re.MULTILINE) and not re.search(r"^carol\s", out, re.MULTILINE)
    assert ("too few books", "contested") in flags_of(out)


@pytest.mark.parametrize(
    "args, message",
    [
        (["{missing}"], "no such folder"),
        (["{root}", "--not-authors", "bob,carol"], "holds 1 author folder(s) (alice): attribution needs at least two"),
        (["{root}", "--authors", "alice"], "unrecognized arguments: --authors alice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(small_corpus, tmp_path, cache, capsys, args, message):
    names = {"missing": tmp_path / "no_such_corpus", "root": small_corpus}
    code, out, err = corpus(*(arg.format(**names) for arg in args), "--cache-dir", cache, capsys=capsys)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err


def test_the_suggestion_follows_the_rule():
    """A corpus whose rule gives SMALL_CORPUS_TRAIN_TOKENS or more training tokens per author gets no suggestion."""

    def report(train_tokens):
        authors = [AuthorCount(name, 2, [train_tokens, train_tokens]) for name in ("alice", "bob")]
        return "\n".join(report_lines(CorpusReport(Path("mycorpus"), "gpt2", authors, [])))

    assert SMALL_CORPUS_SUGGESTION not in report(SMALL_CORPUS_TRAIN_TOKENS)
    assert SMALL_CORPUS_SUGGESTION in report(SMALL_CORPUS_TRAIN_TOKENS - 1)
    assert "flags: none" in report(SMALL_CORPUS_TRAIN_TOKENS)


def test_the_docs_sample_is_what_the_command_prints(tmp_path, cache, capsys, monkeypatch):
    """docs/your-corpus.md's console block, run on the tests' small corpus (its /path/to/mycorpus), prints as shown.
    (tests/test_docs.py runs the ```bash blocks only.)"""
    page = (REPO / "docs" / "your-corpus.md").read_text()
    block = re.search(r"^## Know your corpus first\n.*?^```console\n(.*?)^```", page, re.MULTILINE | re.DOTALL)[1]
    command, *shown = block.splitlines()
    assert command == "$ python -m stylometry.corpus /path/to/mycorpus"
    root = build_small_corpus(tmp_path / "mycorpus")
    monkeypatch.setenv("STYLOMETRY_TOKENIZER", str(TOKENIZER))
    code, out, err = corpus(root, "--cache-dir", cache, capsys=capsys)
    assert code == 0, err
    # The page's paths: a corpus of yours, and the tokenizer bundled in a clone at /path/to/stylometry.
    page_tokenizer = "/path/to/stylometry/stylometry/data/bundled/gpt2"
    expected = "\n".join(shown).replace("/path/to/mycorpus", str(root)).replace(page_tokenizer, str(TOKENIZER))
    assert out.rstrip("\n") == expected
