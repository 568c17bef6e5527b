"""Rolling attribution (attribute --rolling): every model's loss at each token from one pass, the windows' means and
leaders, the change-point rule on stitched texts, and the tiny study's outputs end to end.

    python -m pytest tests/test_rolling.py -q
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import CORPUS, STUDY_AUTHORS, STUDY_EVAL_TOKENS, STUDY_SEEDS, attribute, run_dirs

from stylometry.attribution.rolling import change_points, rolling_table, window_starts
from stylometry.attribution.texts import Text
from stylometry.config.schema import ModelConfig
from stylometry.data.windows import eval_windows
from stylometry.hardware.device import Placement
from stylometry.model.evaluate import evaluate, token_losses
from stylometry.model.gpt import build_model


def test_the_loss_at_each_token_is_the_terms_of_the_texts_loss():
    """One pass gives every token's loss: each is -log p of the token given the window before it (worked out here
    with the model's own logits), and their mean is evaluate()'s loss on the same windows."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(n_positions=32, n_embd=32, n_layer=2, n_head=2, vocab_size=50257)).eval()
    tokens = np.random.default_rng(0).integers(0, 50257, 100).astype(np.uint16)
    windows = eval_windows([tokens], 32)
    placement = Placement("cpu", "fp32")
    losses = token_losses(model, windows, 3, placement, len(tokens))
    # Windows start at 0, 32, 64, 96: their first tokens have no context and no loss.
    assert np.flatnonzero(np.isnan(losses)).tolist() == [0, 32, 64, 96]
    with torch.no_grad():
        for start in range(0, 100, 32):
            ids = torch.from_numpy(tokens[start : start + 32].astype(np.int64))[None]
            by_hand = F.cross_entropy(model(ids).logits[0, :-1], ids[0, 1:], reduction="none").numpy()
            assert np.allclose(losses[start + 1 : start + ids.shape[1]], by_hand, atol=1e-5)
    whole = evaluate(model, {"text": windows}, 3, placement)[0]
    assert np.nanmean(losses) == pytest.approx(whole.loss, abs=1e-5) and whole.tokens == 96


def stitched_losses(hands: list[tuple[str, int]], seeds=(0, 1, 2), edge=0.3, rng_seed=0) -> tuple[dict, Text]:
    """Each candidate's models' losses at every token of a text written in turns by `hands` ((author, tokens) in
    order): noisy (sd 1 nat a token), and `edge` nats lower where the model's own author wrote."""
    rng = np.random.default_rng(rng_seed)
    writer = np.concatenate([np.full(length, author) for author, length in hands])
    text = Text("stitched.txt", None, np.zeros(len(writer), dtype=np.uint16), len(writer))
    losses = {
        ("stitched.txt", author, seed): (6.0 - edge * (writer == author) + rng.normal(0, 1, len(writer))).astype(
            np.float32
        )
        for author in ("alice", "bob")
        for seed in seeds
    }
    return losses, text


def test_a_change_point_falls_where_the_hand_changes_and_a_short_flicker_is_none():
    """The rule: the leader changes and the new one leads one window's length of windows in a row; placed at the
    centre of the first window it leads."""
    window, stride = 256, 64
    losses, text = stitched_losses([("alice", 1700), ("bob", 2300)])
    table = rolling_table(losses, [text], window, stride)
    assert table["start_token"].tolist() == window_starts(4000, window, stride).tolist()
    assert table["end_token"].iloc[-1] == 4000  # the last window ends at the text's end
    points = change_points(table, window, stride)
    assert points[["from_author", "to_author"]].values.tolist() == [["alice", "bob"]]
    assert abs(points["token"].iloc[0] - 1700) <= stride

    # An A-B-A sandwich: two change points, each near its switch.
    losses, text = stitched_losses([("alice", 1500), ("bob", 1500), ("alice", 1500)], rng_seed=1)
    points = change_points(rolling_table(losses, [text], window, stride), window, stride)
    assert points[["from_author", "to_author"]].values.tolist() == [["alice", "bob"], ["bob", "alice"]]
    assert np.abs(points["token"].to_numpy() - [1500, 3000]).max() <= stride

    # bob writes 150 tokens in the middle: he leads fewer windows in a row than one window's length, no change point.
    losses, text = stitched_losses([("alice", 2000), ("bob", 150), ("alice", 2000)], edge=1.0, rng_seed=2)
    table = rolling_table(losses, [text], window, stride)
    assert (table["leader"] == "bob").any()
    assert change_points(table, window, stride).empty


def test_each_window_holds_every_candidates_seed_band_and_the_margin_over_the_runner_up():
    losses, text = stitched_losses([("alice", 600)], seeds=(0, 1))
    table = rolling_table(losses, [text], 200, 100)
    first = table.iloc[0]
    alice = [losses["stitched.txt", "alice", seed][:200].mean(dtype=np.float64) for seed in (0, 1)]
    bob = [losses["stitched.txt", "bob", seed][:200].mean(dtype=np.float64) for seed in (0, 1)]
    assert first["alice_loss"] == pytest.approx(np.mean(alice)) and first["alice_low"] == pytest.approx(min(alice))
    assert first["bob_high"] == pytest.approx(max(bob)) and first["leader"] == "alice" and first["runner_up"] == "bob"
    assert first["margin"] == pytest.approx(np.mean(bob) - np.mean(alice))
    margins = [b - a for a, b in zip(alice, bob)]
    assert (first["margin_low"], first["margin_high"]) == pytest.approx((min(margins), max(margins)))


@pytest.fixture
def stitched_text(study, tmp_path):
    """3,000 characters of seed 0's held-out Austen book, then of its held-out Baum book: a text that only seed 0's
    models never trained on, longer than the study's 512 tokens."""
    manifest = json.loads((run_dirs(study)["austen", 0] / "manifest.json").read_text())
    books = manifest["held_out_books"]
    path = tmp_path / "stitched.txt"
    path.write_text(
        (CORPUS / "austen" / books["austen"]).read_text()[5000:8000]
        + "\n\n"
        + (CORPUS / "baum" / books["baum"]).read_text()[5000:8000]
    )
    return path


@pytest.mark.slow
def test_rolling_attribution_of_a_stitched_text(study, stitched_text, tmp_path, capsys):
    out = tmp_path / "rolling"
    code, stdout, _ = attribute(
        study, stitched_text, "--rolling", "--window", 64, "--stride", 16, "--no-trust", "--out", out, capsys=capsys
    )
    assert code == 0
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["seed"]) == {0}  # seed 1's models trained on one of the two books
    num_tokens = STUDY_EVAL_TOKENS  # the study scores each text's first 512 tokens
    table = pd.read_csv(out / "rolling.csv")
    columns = [f"{author}_{part}" for author in STUDY_AUTHORS for part in ("loss", "low", "high")]
    assert list(table.columns) == [
        "text",
        "window",
        "start_token",
        "end_token",
        *columns,
        "leader",
        "runner_up",
        "margin",
        "margin_low",
        "margin_high",
    ]
    assert table["start_token"].tolist() == window_starts(num_tokens, 64, 16).tolist()
    # One seed: the band is the seed itself.
    assert (table["austen_low"] == table["austen_high"]).all() and (table["margin"] >= 0).all()
    points = pd.read_csv(out / "change_points.csv")
    assert list(points.columns) == ["text", "token", "window", "start_token", "end_token", "from_author", "to_author"]
    passages = pd.read_csv(out / "passages.csv", keep_default_na=False)
    assert passages["start_token"].iloc[0] == 0 and passages["end_token"].iloc[-1] == num_tokens
    assert (passages["start_token"].iloc[1:].to_numpy() == passages["end_token"].iloc[:-1].to_numpy()).all()
    assert (passages["leader"].iloc[1:].to_numpy() != passages["leader"].iloc[:-1].to_numpy()).all()
    assert (out / "figures" / "stitched.txt_rolling.png").stat().st_size > 0
    assert "## Along each text" in (out / "report.md").read_text()
    assert "stitched.txt, along the text: " in stdout

    # The same scores as without --rolling (one pass gives both), and a window as long as the text is the text.
    plain = tmp_path / "plain"
    assert attribute(study, stitched_text, "--no-trust", "--out", plain, capsys=capsys)[0] == 0
    assert np.allclose(scores["loss"], pd.read_csv(plain / "scores.csv")["loss"], atol=2e-6)
    whole = tmp_path / "whole"
    args = ["--rolling", "--window", num_tokens, "--stride", num_tokens, "--no-trust", "--no-figures"]
    assert attribute(study, stitched_text, *args, "--out", whole, capsys=capsys)[0] == 0
    window = pd.read_csv(whole / "rolling.csv").iloc[0]
    for author in STUDY_AUTHORS:
        assert window[f"{author}_loss"] == pytest.approx(scores.loc[scores["model_author"] == author, "loss"].iloc[0])


@pytest.mark.slow
def test_bad_rolling_input_gets_one_line_exit_2_and_nothing_written(study, stitched_text, tmp_path, capsys):
    cases = [
        (["--stride", 0], "error: --stride 0: choose a stride from 1 to the window (256 tokens), e.g. --stride 64"),
        (
            ["--window", 64, "--stride", 65],
            "error: --stride 65: choose a stride from 1 to the window (64 tokens), e.g. --stride 64",
        ),
        (
            ["--window", 1024],
            f"error: --window 1024 is longer than stitched.txt ({STUDY_EVAL_TOKENS} tokens as scored): choose a "
            "shorter --window, or leave that text out",
        ),
        (
            ["--authors", "baum"],
            "error: --rolling compares the candidates along a text: pass two --authors or more",
        ),
    ]
    for i, (args, line) in enumerate(cases):
        out = tmp_path / f"out{i}"
        code, stdout, stderr = attribute(study, stitched_text, "--rolling", *args, "--out", out, capsys=capsys)
        assert (code, stderr, stdout) == (2, line + "\n", ""), args
        assert not out.exists()


@pytest.mark.slow
def test_the_rule_is_measured_on_texts_stitched_from_the_studys_held_out_books(study, tmp_path, capsys):
    out = tmp_path / "held_out"
    code, stdout, _ = attribute(
        study, "--held-out", "--rolling", "--window", 64, "--stride", 16, "--out", out, capsys=capsys
    )
    assert code == 0
    # Per seed, each pair of the 3 authors: first|second (halves of 512 tokens) and first|second|first (thirds).
    switches = pd.read_csv(out / "switches.csv")
    assert len(switches) == len(STUDY_SEEDS) * 3 * (1 + 2)
    pair = switches[switches["text"] == "stitched: seed=0 austen|baum"]
    assert pair[["token", "from_author", "to_author"]].values.tolist() == [[256, "austen", "baum"]]
    sandwich = switches[switches["text"] == "stitched: seed=1 baum|thompson|baum"]
    assert sandwich[["token", "from_author", "to_author"]].values.tolist() == [
        [170, "baum", "thompson"],
        [340, "thompson", "baum"],
    ]
    found = switches[switches["found"]]
    assert (found["distance"] <= 64).all() and (
        found["distance"] == (found["change_point"] - found["token"]).abs()
    ).all()
    rolling = pd.read_csv(out / "rolling.csv")
    assert rolling["text"].nunique() == len(STUDY_SEEDS) * (3 + 6)  # the books and the stitches
    held_out = pd.read_csv(out / "held_out.csv")
    assert not held_out["text"].str.startswith("stitched: ").any() and len(held_out) == len(STUDY_SEEDS) * 3
    line = next(line for line in stdout.splitlines() if line.startswith("held-out books, along the text: "))
    assert (
        f"{len(STUDY_SEEDS) * 6} stitched texts, {len(switches)} switches, {len(found)} found within a window" in line
    )
    assert "tokens of single-author text" in (out / "report.md").read_text()
