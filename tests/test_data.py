"""The study's data semantics on the real corpus: held-out draws, training text, evaluation windows."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import AUTHORS, CORPUS, TOKENIZER

from stylometry.config.schema import ConfigError
from stylometry.data.corpus import check_book, corpus_sha256
from stylometry.data.splits import held_out_book, list_books, load_study_data, split_train_tokens
from stylometry.data.tokenizer import load_tokenizer
from stylometry.data.tokens import Book, BookReader
from stylometry.data.variants import build_transform, transform_key
from stylometry.data.windows import eval_windows, sample_windows


@pytest.fixture
def reader(make_config):
    cfg = make_config("author=baum", "experiment=smoke")
    return BookReader(
        cfg.data, load_tokenizer(cfg.data.tokenizer), build_transform(cfg.variant), transform_key(cfg.variant)
    )


def study(make_config, reader, author, seed, *overrides):
    cfg = make_config(f"author={author}", "experiment=smoke", f"seed={seed}", *overrides)
    return load_study_data(cfg.data, author, cfg.author.extra_eval_sets, seed, reader)


def test_held_out_books_are_one_draw_per_seed_shared_by_every_model(make_config, reader):
    baum, wells = study(make_config, reader, "baum", 3), study(make_config, reader, "wells", 3)
    assert baum.held_out_books == wells.held_out_books
    assert set(baum.held_out_books) == set(AUTHORS)
    draws = {tuple(sorted(study(make_config, reader, "twain", seed).held_out_books.items())) for seed in range(4)}
    assert len(draws) > 1  # the seed changes the draw


def test_training_text_excludes_the_held_out_book_and_has_exactly_n_tokens(make_config, reader):
    data = study(make_config, reader, "baum", 0, "data.n_train_tokens=5000")
    assert data.held_out_books["baum"] not in data.train_books
    assert len(data.train_books) == len(list_books(CORPUS / "baum")) - 1
    assert len(data.train_tokens) == 5000
    assert set(data.eval_texts) == set(data.held_out_books) | {"contested", "non_oz_baum", "non_oz_thompson"}
    assert all(sum(len(t) for t in texts) <= 256 for texts in data.eval_texts.values()) is False  # smoke caps at 1,024
    assert all(sum(len(t) for t in texts) == 1024 for texts in data.eval_texts.values())


def test_segments_are_contiguous_and_proportional_to_book_length():
    rng = np.random.default_rng(0)
    books = [Book(Path(f"{i}.txt"), "", np.arange(n) + 10_000 * i) for i, n in enumerate([100, 300, 600])]
    tokens = split_train_tokens(books, 101, rng)
    assert len(tokens) == 101
    pieces = [tokens[(tokens >= 10_000 * i) & (tokens < 10_000 * (i + 1))] for i in range(3)]
    assert [len(p) for p in pieces] == [
        10,
        30,
        61,
    ]  # 10.1, 30.3, 60.6: the rounding token goes to the largest remainder
    assert all(np.all(np.diff(p) == 1) for p in pieces)  # one contiguous segment per book


def test_too_many_training_tokens_is_an_error_naming_the_key(make_config, reader):
    with pytest.raises(ConfigError, match="data.n_train_tokens=100000000 exceeds"):
        study(make_config, reader, "baum", 0, "data.n_train_tokens=100000000")


def test_missing_corpus_and_tokenizer_name_the_path(make_config, reader, tmp_path):
    with pytest.raises(ConfigError, match="data.root=/no/such/dir"):
        study(make_config, reader, "baum", 0, "data.root=/no/such/dir")
    with pytest.raises(ConfigError, match="data.tokenizer=/no/such/tokenizer"):
        load_tokenizer("/no/such/tokenizer")
    (tmp_path / "baum").mkdir()
    with pytest.raises(ConfigError, match="holds no .txt books"):
        list_books(tmp_path / "baum")


def test_non_utf8_book_is_named(reader, tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait")
    with pytest.raises(ConfigError, match="bad.txt is not UTF-8"):
        reader.read(tmp_path / "bad.txt")


def test_token_cache_is_reused(reader, tmp_path):
    book = tmp_path / "b.txt"
    book.write_text("the quick brown fox")
    first = reader.read(book)
    cached = list(reader.cache.glob(f"{first.sha256[:32]}.npy"))
    assert len(cached) == 1
    np.save(cached[0], np.array([1, 2, 3], dtype=reader.dtype))  # the cache, not the text, is read now
    assert reader.read(book).tokens.tolist() == [1, 2, 3]


def test_windows_of_an_epoch():
    tokens = torch.arange(1000)
    windows = sample_windows(tokens, 64, np.random.default_rng(0))
    assert windows.shape == (1000 // 64, 64)
    assert torch.all(windows[:, 1:] - windows[:, :-1] == 1) and windows.max() < 1000
    with pytest.raises(ConfigError, match="shorter than one window"):
        sample_windows(torch.arange(10), 64, np.random.default_rng(0))


def test_eval_windows_count_every_predicted_token_and_no_padding():
    texts = [np.arange(10), np.arange(5)]
    batches = eval_windows(texts, 4)
    # book 1: windows of 4, 4, 2 tokens -> 3 + 3 + 1 predicted; book 2: 4, 1 (predicts nothing, dropped) -> 3
    assert batches.n_predicted == 10
    assert batches.input_ids.shape == (4, 4)
    assert (batches.labels != -100).sum() - len(batches.labels) == batches.n_predicted


def test_held_out_draw_is_stable():
    books = [Path(f"{i}.txt") for i in range(10)]
    assert held_out_book(books, "baum", 0) == held_out_book(list(books), "baum", 0)


def test_a_book_checked_once_is_checked_again_when_it_changes(tmp_path):
    # A book that passed is not read again in the same process while its inode, size and modification time stay
    # the same: emptied (a new size), or rewritten as Latin-1 at the same size, it is refused.
    book = tmp_path / "one.txt"
    book.write_text("caf\u00e9 au lait", encoding="utf-8")
    check_book(book)
    check_book(book)
    checked = book.stat().st_mtime_ns
    book.write_bytes("caf\u00e9 au laitx".encode("latin-1"))  # as many bytes, not UTF-8
    # Written a millisecond later: the file system's clock may tick coarser than two writes in a row.
    os.utime(book, ns=(checked + 10**6, checked + 10**6))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        check_book(book)
    book.write_text("   \n")
    with pytest.raises(ConfigError, match="is empty"):
        check_book(book)


def test_the_corpus_hash_follows_every_change_to_a_book_within_one_process(tmp_path):
    # Each file's hash is kept while its inode, size and modification time stay the same: a rewrite of the same
    # length, a new book, a renamed book and a book replaced by another file each change the corpus's hash.
    book = tmp_path / "alice" / "one.txt"
    book.parent.mkdir()
    book.write_text("The first words.")
    seen = [corpus_sha256(tmp_path, ["alice"])]
    book.write_text("The other words.")  # the same size
    seen.append(corpus_sha256(tmp_path, ["alice"]))
    (tmp_path / "alice" / "two.txt").write_text("A second book.")
    seen.append(corpus_sha256(tmp_path, ["alice"]))
    (tmp_path / "alice" / "two.txt").rename(tmp_path / "alice" / "three.txt")
    seen.append(corpus_sha256(tmp_path, ["alice"]))
    replacement = tmp_path / "new.txt"
    replacement.write_text("The first words.")
    replacement.replace(book)
    seen.append(corpus_sha256(tmp_path, ["alice"]))
    assert len(set(seen)) == len(seen)
    assert corpus_sha256(tmp_path, ["alice"]) == seen[-1]


def test_a_tokenizer_folder_is_loaded_once_per_process_until_its_files_change(tmp_path):
    folder = tmp_path / "gpt2"
    shutil.copytree(TOKENIZER, folder)
    first = load_tokenizer(str(folder))
    assert load_tokenizer(str(folder)) is first  # a sweep's next job in this process, or attribute's second reader
    config = folder / "tokenizer_config.json"
    config.write_text(config.read_text().replace('"model_max_length": 1024', '"model_max_length": 512'))
    changed = load_tokenizer(str(folder))
    assert changed is not first and changed.model_max_length == 512
    shutil.rmtree(folder)
    with pytest.raises(ConfigError, match="no such folder"):
        load_tokenizer(str(folder))
