"""`python -m stylometry.generate` as a user runs it, on a run dir made by the real trainer (a copy of one of the
tests' study, conftest's `study`).

The processes start at once and the tests read their results: a sampling process spends most of
its few seconds importing torch, and two cores run them side by side. Input errors are found
before torch is imported, in well under a second each.
"""

import json
import shutil
import subprocess

import pytest
from conftest import TOKENIZER, assert_one_error_line, copy_study, run_dirs, start_command

from stylometry.generate import compose_config

# Longer than the study's tiny model's context leaves room for (32 - MAX_NEW_TOKENS tokens), and full of what
# Hydra's override grammar would otherwise parse: commas, quotes, `=`, `${...}`, parentheses.
PROMPT = (
    "Dorothy said, 'Hello=${x}' (to Toto), and the Scarecrow, who had been listening, "
    "nodded his painted head and walked on along the road of yellow brick"
)
MAX_NEW_TOKENS = 12


def start(*args, tokenizer_env=True, hf_home=None):
    env = {"HF_HUB_OFFLINE": None}
    # As in training: the run's data.tokenizer is ${oc.env:STYLOMETRY_TOKENIZER,gpt2}.
    env["STYLOMETRY_TOKENIZER"] = TOKENIZER if tokenizer_env else None
    if hf_home:  # an empty hub cache: `gpt2` is not there, even on a machine that has it
        env["HF_HOME"] = hf_home
    return start_command("stylometry.generate", *args, env=env)


def finish(process):
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def input_errors(tmp_path_factory):
    """Commands whose input is wrong, answered before any model is read: no trained run needed."""
    root = tmp_path_factory.mktemp("generate_input")
    untrained = root / "untrained"
    untrained.mkdir()
    sample = ["prompt=Once upon a time"]
    processes = {
        "no run dir": start(root / "nope", *sample),
        "no checkpoint": start(untrained, *sample),
        "no prompt": start(untrained),
        "misspelt key": start(untrained, *sample, "temprature=0.5"),
        "wrong type": start(untrained, *sample, "top_k=many"),
        "bad value": start(untrained, *sample, "top_p=0"),
        "prompt first": start(*sample, untrained),
    }
    return {name: finish(process) for name, process in processes.items()}


@pytest.fixture(scope="module")
def results(tmp_path_factory, study):
    """Sampling from copies of a trained run: as it is, with a best checkpoint, and with its weights cut short."""
    root = tmp_path_factory.mktemp("generate")
    run_dir, with_best = root / "run", root / "with_best"
    # A run of the study, trained with the corpus and tokenizer from the environment (its data.tokenizer is the
    # environment's): checkpoint/ (2 steps) and checkpoint.prev/ (the initial weights).
    copy_study(run_dirs(study)["baum", 0], run_dir)
    shutil.rmtree(run_dir / "checkpoint.best", ignore_errors=True)  # should the trainer keep one: this run has none
    shutil.copytree(run_dir, with_best)
    shutil.copytree(run_dir / "checkpoint.prev", with_best / "checkpoint.best")  # the best: an earlier model
    unreadable = root / "unreadable"
    shutil.copytree(run_dir, unreadable)
    weights = unreadable / "checkpoint" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a write cut short
    # The tokenizer it trained with has moved since: its config and manifest name a folder that is not there.
    moved = root / "moved"
    shutil.copytree(run_dir, moved)
    for name in ("config.yaml", "manifest.json"):
        (moved / name).write_text((moved / name).read_text().replace(str(TOKENIZER), str(root / "gone")))

    knobs = [f"prompt={PROMPT}", f"max_new_tokens={MAX_NEW_TOKENS}", "seed=1", "device.num_threads=1"]
    processes = {
        # tokenizer= names the folder (without STYLOMETRY_TOKENIZER, as on a machine that never set it).
        "latest": start(run_dir, *knobs, f"tokenizer={TOKENIZER}", tokenizer_env=False),
        "latest, 2 samples": start(with_best, *knobs, "checkpoint=latest", "num_samples=2", "format=jsonl"),
        "best": start(with_best, *knobs),
        "no tokenizer": start(moved, *knobs, tokenizer_env=False, hf_home=root / "hf_home"),
        "unreadable checkpoint": start(unreadable, *knobs),
    }
    results = {name: finish(process) for name, process in processes.items()}
    results["dirs"] = {"run": run_dir, "with_best": with_best}
    return results


@pytest.mark.slow
def test_prints_the_prompt_and_its_continuation(results):
    result = results["latest"]
    assert result.returncode == 0, result.stderr
    text = result.stdout.removesuffix("\n")
    assert text.startswith(PROMPT) and len(text) > len(PROMPT)  # verbatim, ${x} and quotes included
    # The prompt is longer than the context leaves room for: the model sees its last tokens, and says so.
    assert f"(+ {MAX_NEW_TOKENS} new)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_same_seed_same_text_other_seed_other_text(results):
    result = results["latest, 2 samples"]
    assert result.returncode == 0, result.stderr
    samples = [json.loads(line) for line in result.stdout.splitlines()]
    assert [sample["seed"] for sample in samples] == [1, 2]
    assert samples[0]["text"] == results["latest"].stdout.removesuffix("\n")  # another process, the same seed
    assert samples[1]["text"] != samples[0]["text"]
    assert all(sample["text"].startswith(PROMPT) for sample in samples)


@pytest.mark.slow
def test_best_when_the_run_has_one_else_latest(results):
    run_dir, with_best = results["dirs"]["run"], results["dirs"]["with_best"]
    latest, explicit_latest, best = results["latest"], results["latest, 2 samples"], results["best"]
    assert best.returncode == 0, best.stderr
    assert "no checkpoint.best/" in latest.stderr and f"sampling from {run_dir / 'checkpoint'} " in latest.stderr
    assert f"sampling from {with_best / 'checkpoint'} " in explicit_latest.stderr
    assert f"sampling from {with_best / 'checkpoint.best'} " in best.stderr
    assert best.stdout != latest.stdout  # another model, the same seed


@pytest.mark.parametrize(
    "name,expected",
    [
        ("no run dir", "no run dir "),
        ("no checkpoint", "holds no checkpoint (checkpoint/ or checkpoint.prev/): train it first"),
        ("no prompt", 'no prompt: add prompt="..."'),
        ("misspelt key", "temprature is not a setting; did you mean temperature?"),
        ("wrong type", "top_k=many: Value 'many' of type 'str' could not be converted to Integer"),
        ("bad value", "top_p=0.0 must be in (0, 1]"),
        ("prompt first", "the first argument is the run dir"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(input_errors, name, expected):
    assert_one_error_line(input_errors[name], expected, exact=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,expected",
    [
        ("no tokenizer", "/gone' (the run's data.tokenizer"),
        ("unreadable checkpoint", "checkpoint is unreadable ("),
    ],
)
def test_a_run_that_cannot_be_read_is_one_line_and_exit_2(results, name, expected):
    assert_one_error_line(results[name], expected, exact=False)


@pytest.mark.parametrize(
    "prompt", ["", "null", "42", "it's", 'say "hi"', "a, b=c (d) [e]", "${x} \\${x}", "back\\", "a\\'b"]
)
def test_the_prompt_arrives_verbatim(prompt):
    assert compose_config([f"prompt={prompt}"]).prompt == prompt
