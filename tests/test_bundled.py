"""What ships inside the package: GPT-2's tokenizer and the demo corpus, in the wheel and loaded from an installed copy
(not from this checkout), and what they are (stylometry/data/bundled/README.md): the study's books' openings, GPT-2's
own tokenizer."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO, shared_data

from stylometry.config.schema import BUNDLED_DIR, DEMO_CORPUS, STUDY_NOT_AUTHORS
from stylometry.data.corpus import author_folders, books

DEMO_BOOK_CHARACTERS = 30_000  # stylometry/data/bundled/README.md: each book's first 30,000 characters, whole lines


def bundled_files() -> list[str]:
    return sorted(str(path.relative_to(REPO)) for path in BUNDLED_DIR.rglob("*") if path.is_file())


def test_the_wheel_carries_them_and_an_installed_copy_loads_them(tmp_path):
    """The wheel pip builds from this checkout holds every bundled file; installed from it into a folder of its own,
    the package's defaults point into that folder, the tokenizer loads and the demo corpus has its 8 authors."""
    build = [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-w", tmp_path]
    subprocess.run(build, check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("stylometry-*.whl")
    assert set(bundled_files()) <= set(zipfile.ZipFile(wheel).namelist())
    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", site, wheel]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    code = (
        "from transformers import AutoTokenizer; "
        "from stylometry.config.schema import BUNDLED_TOKENIZER, DEMO_CORPUS, STUDY_NOT_AUTHORS; "
        "from stylometry.data.corpus import author_folders; "
        "print(BUNDLED_TOKENIZER); print(DEMO_CORPUS); "
        "print(len(AutoTokenizer.from_pretrained(BUNDLED_TOKENIZER))); "
        "print(','.join(author_folders(DEMO_CORPUS, STUDY_NOT_AUTHORS)))"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    tokenizer, corpus, vocabulary, authors = done.stdout.split()
    assert Path(tokenizer).is_relative_to(site) and Path(corpus).is_relative_to(site)
    assert vocabulary == "50257"
    assert authors == "austen,baum,dickens,fitzgerald,melville,thompson,twain,wells"


def test_the_demo_books_are_the_study_books_openings():
    """Every demo book is its study book's first 30,000 characters cut back to a whole line; every study book is
    there but the two that are not public domain in the United States (Project Gutenberg Australia's)."""
    study = shared_data("corpus")
    folders = [*author_folders(DEMO_CORPUS, STUDY_NOT_AUTHORS), "contested", "non_oz_baum", "non_oz_thompson"]
    expected = {
        (folder, path.name)
        for folder in folders
        for path in books(study / folder)
        if not path.name.startswith("gutenberg_net_au")
    }
    assert {(folder, path.name) for folder in folders for path in books(DEMO_CORPUS / folder)} == expected
    for folder, name in expected:
        text, whole = ((root / folder / name).read_text(encoding="utf-8") for root in (DEMO_CORPUS, study))
        if len(whole) <= DEMO_BOOK_CHARACTERS:
            assert text == whole  # a book that short is there whole
        else:
            assert whole.startswith(text) and text.endswith("\n")
            assert "\n" not in whole[len(text) : DEMO_BOOK_CHARACTERS]  # the last whole line within the limit


def test_the_bundled_tokenizer_is_gpt2s():
    """The same vocabulary and rules as a GPT-2 tokenizer saved by transformers (its fingerprint), the same ids."""
    from stylometry.config.schema import BUNDLED_TOKENIZER
    from stylometry.data.tokenizer import encode, load_tokenizer, tokenizer_fingerprint

    bundled, saved = load_tokenizer(BUNDLED_TOKENIZER), load_tokenizer(str(shared_data("tokenizers/gpt2")))
    assert tokenizer_fingerprint(bundled) == tokenizer_fingerprint(saved)
    text = (DEMO_CORPUS / "contested" / "30537.txt").read_text(encoding="utf-8")
    assert encode(bundled, text) == encode(saved, text)
