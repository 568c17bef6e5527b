"""`python -m stylometry.export`: the tests' study as folders transformers loads alone (no project code, offline),
scoring a text as `attribute` scores it from the run dirs, with Hub model cards that state what the run was."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import CORPUS, STUDY, STUDY_AUTHORS, STUDY_SEEDS, assert_one_error_line, run_command, run_dirs

from stylometry import attribute, export

CONTESTED = CORPUS / "contested" / "30537.txt"
STUDY_TRAIN_TOKENS = int(next(o for o in STUDY if o.startswith("data.n_train_tokens=")).split("=")[1])

# Run with transformers alone, offline: each folder's loss on the text's first 512 tokens in consecutive windows of
# the model's context, every token but a window's first predicted (stylometry.data.windows: eval_windows).
LOSS_BY_TRANSFORMERS = """
import json, sys
from pathlib import Path
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
text = Path(sys.argv[1]).read_text(encoding="utf-8")
losses = {}
for folder in sys.argv[2:]:
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = AutoTokenizer.from_pretrained(folder)(text, add_special_tokens=False)["input_ids"][:512]
    n, total, count = model.config.n_positions, 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids), n):
            window = torch.tensor([ids[start : start + n]])
            if window.shape[1] > 1:
                total += model(window, labels=window).loss.item() * (window.shape[1] - 1)
                count += window.shape[1] - 1
    losses[Path(folder).name] = total / count
print(json.dumps(losses))
"""


@pytest.fixture(scope="module")
def exported(study, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "paper"
    assert export.main([str(study), "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_every_model_loads_alone_and_scores_as_attribute_does(exported, study, tmp_path):
    folders = sorted(path for path in exported.iterdir() if path.is_dir())
    assert [f.name for f in folders] == [f"{a}-seed{s}" for a in sorted(STUDY_AUTHORS) for s in STUDY_SEEDS]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", LOSS_BY_TRANSFORMERS, str(CONTESTED), *map(str, folders)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    by_transformers = json.loads(done.stdout)
    out = tmp_path / "attribution"
    flags = ["--no-figures", "--no-trust", "--closed-set", "--no-lr", "--out", str(out)]
    assert attribute.main([str(study), str(CONTESTED), *flags]) == 0
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["tokens"]) == {512 - 512 // 32}  # the tokens predicted: 16 windows of 32, each but its first
    for row in scores.itertuples():
        assert by_transformers[f"{row.model_author}-seed{row.seed}"] == pytest.approx(row.loss, abs=1e-5)


@pytest.mark.slow
def test_the_cards_are_hub_cards_that_state_the_run(exported, study):
    from huggingface_hub import ModelCard

    runs = run_dirs(study)
    for (author, seed), run_dir in runs.items():
        card = ModelCard.load(exported / f"{author}-seed{seed}" / "README.md")
        assert card.data.license == "mit" and card.data.library_name == "transformers" and author in card.data.tags
        manifest = json.loads((run_dir / "manifest.json").read_text())
        status = json.loads((run_dir / "status.json").read_text())
        assert f"| held-out book | {manifest['held_out_books'][author]} (never trained on) |" in card.text
        assert f"| training books | {len(manifest['train_books'])}: {', '.join(manifest['train_books'])} |" in card.text
        assert f"| training tokens | {STUDY_TRAIN_TOKENS:,} |" in card.text
        assert f"| stopped | {status['reason']} at epoch {status['epoch']}, step {status['step']} |" in card.text
        assert f"| train | {status['losses']['train']:.4f} |" in card.text
        assert "| variant | baseline" in card.text and "| init | scratch |" in card.text
        weights = (exported / f"{author}-seed{seed}" / "model.safetensors").read_bytes()
        assert weights == (run_dir / "checkpoint" / "model.safetensors").read_bytes()
        assert f"[{author}-seed{seed}]({author}-seed{seed}/README.md)" in (exported / "README.md").read_text()
    study_card = ModelCard.load(exported / "README.md")
    assert study_card.data.license == "mit" and f": {len(runs)} models" in study_card.text
    assert re.search(rf"held-out book of a seed .*\n\d of {len(runs)} books\.", study_card.text)  # 3 authors x 2 seeds


def test_an_out_that_exists_or_a_missing_study_is_one_line_and_nothing_changes(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("kept")
    result = subprocess_export(tmp_path, str(tmp_path), "--out", str(taken))
    assert_one_error_line(result, f"--out {taken} exists: name a new folder (an export never writes into one)")
    assert [p.name for p in taken.iterdir()] == ["mine.txt"] and (taken / "mine.txt").read_text() == "kept"
    missing = subprocess_export(tmp_path, str(tmp_path / "nowhere"), "--out", str(tmp_path / "new"))
    assert missing.returncode == 2 and not (tmp_path / "new").exists()
    assert missing.stderr.startswith("error: no study dir ") and len(missing.stderr.splitlines()) == 1


def subprocess_export(cwd: Path, *args: str):
    return run_command("stylometry.export", *args, cwd=cwd)


@pytest.mark.slow
def test_attribute_reads_an_export_as_the_study_it_came_from(exported, study, tmp_path):
    """The same verdicts, losses and likelihood ratios from the exported folders as from the run dirs."""
    tables = {}
    for name, source in (("study", study), ("export", exported)):
        out = tmp_path / name
        assert (
            attribute.main(
                [str(source), str(CONTESTED), "--authors", "baum,thompson", "--no-figures", "--out", str(out)]
            )
            == 0
        )
        tables[name] = {table: pd.read_csv(out / f"{table}.csv") for table in ("scores", "verdicts")}
    for table in ("scores", "verdicts"):
        pd.testing.assert_frame_equal(tables["study"][table], tables["export"][table])


@pytest.mark.slow
def test_an_export_whose_weights_or_models_are_not_its_cards_is_refused(exported, tmp_path):
    changed = tmp_path / "changed"
    shutil.copytree(exported, changed)
    weights = changed / "baum-seed0" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    result = run_command(
        "stylometry.attribute", str(changed), str(CONTESTED), "--out", str(tmp_path / "a"), cwd=tmp_path
    )
    assert_one_error_line(result, f"{weights} is not the weights its card states", exact=False)
    twice = tmp_path / "twice"
    shutil.copytree(exported, twice)
    shutil.copytree(twice / "baum-seed0", twice / "baum-seed0-again")
    result = run_command("stylometry.attribute", str(twice), str(CONTESTED), "--out", str(tmp_path / "b"), cwd=tmp_path)
    assert_one_error_line(result, "two runs of baum seed 0: ", exact=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def plain_folders(exported: Path, to: Path, seed: int = 0) -> Path:
    """A folder of plain per-author from_pretrained models, named by author: the export's weights, config and
    tokenizer of one seed, without its cards, facts or training config (as somebody's published models are)."""
    for folder in sorted(exported.glob(f"*-seed{seed}")):
        author = folder.name.removesuffix(f"-seed{seed}")
        (to / author).mkdir(parents=True)
        for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"):
            shutil.copy2(folder / name, to / author / name)
    return to


@pytest.mark.slow
def test_plain_models_attribute_by_raw_loss_and_say_what_they_cannot_answer(exported, study, tmp_path, capsys):
    plain = plain_folders(exported, tmp_path / "plain")
    flags = ["--max-tokens", "512", "--no-figures"]
    assert attribute.main([str(plain), str(CONTESTED), *flags, "--out", str(tmp_path / "plain_out")]) == 0
    printed = capsys.readouterr().out
    assert "no test (too few seeds)" in printed
    assert (
        "not answered: the study's held-out accuracy at each text's length, the likelihood ratio, the open set (\"none"
        in printed
    )
    assert "Not answered: " in (tmp_path / "plain_out" / "report.md").read_text()
    assert (
        attribute.main([str(study), str(CONTESTED), *flags, "--closed-set", "--out", str(tmp_path / "study_out")]) == 0
    )
    by_plain = pd.read_csv(tmp_path / "plain_out" / "scores.csv").set_index("model_author")["loss"]
    study_scores = pd.read_csv(tmp_path / "study_out" / "scores.csv")
    by_study = study_scores[study_scores["seed"] == 0].set_index("model_author")["loss"]
    pd.testing.assert_series_equal(by_plain.sort_index(), by_study.sort_index())


@pytest.mark.slow
def test_plain_models_that_cannot_be_a_study_are_one_line(exported, tmp_path):
    def refused(folder: Path, *args: str) -> subprocess.CompletedProcess:
        return run_command(
            "stylometry.attribute", str(folder), *(args or [str(CONTESTED)]), "--out", str(tmp_path / "o")
        )

    held_out = plain_folders(exported, tmp_path / "a")
    assert_one_error_line(refused(held_out, "--held-out"), "--held-out needs the study's books", exact=False)
    not_gpt2 = plain_folders(exported, tmp_path / "b")
    config = json.loads((not_gpt2 / "baum" / "config.json").read_text()) | {"model_type": "bert"}
    (not_gpt2 / "baum" / "config.json").write_text(json.dumps(config))
    assert_one_error_line(refused(not_gpt2), f"{not_gpt2 / 'baum'} is not a GPT-2 (model_type bert)", exact=False)
    small = plain_folders(exported, tmp_path / "c")
    config = json.loads((small / "baum" / "config.json").read_text()) | {"vocab_size": 100}
    (small / "baum" / "config.json").write_text(json.dumps(config))
    assert_one_error_line(refused(small), "its tokenizer has 50,257 tokens, its weights 100", exact=False)
    assert not (tmp_path / "o").exists()
