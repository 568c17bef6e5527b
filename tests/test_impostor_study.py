"""--impostors (stylometry/runs/impostor_study.py): another study's writers as the likelihood ratio's reference, on
real tiny studies trained by one recipe, and each refusal in one line."""

import shutil

import pandas as pd
import pytest
from conftest import IMPOSTOR_AUTHORS, assert_one_error_line, attribute, copy_study, run_command, run_dirs

from stylometry.attribution.verification import ANYONE
from stylometry.runs.impostor_study import recipe_difference


def test_a_recipe_is_every_setting_but_who_the_model_is_and_where_its_files_are(make_config):
    ours = make_config("experiment=smoke", "author=baum", "seed=0")
    assert recipe_difference(ours, make_config("experiment=smoke", "author=twain", "seed=3")) == ""
    assert recipe_difference(ours, make_config("experiment=smoke", "author=baum", "data.cache_dir=/elsewhere")) == ""
    other = make_config("experiment=smoke", "author=twain", "stop_criteria.max_epochs=7")
    assert recipe_difference(ours, other).startswith("stop_criteria.max_epochs=7 there, ")


def test_impostors_without_the_likelihood_ratio_are_refused(study_dir_stub, tmp_path):
    arguments = [study_dir_stub, "--held-out", "--impostors", study_dir_stub, "--no-lr", "--out", tmp_path]
    result = run_command("stylometry.attribute", *arguments)
    assert_one_error_line(result, "--impostors is the likelihood ratio's reference: drop --no-lr or --impostors")


@pytest.fixture
def study_dir_stub(tmp_path):
    (tmp_path / "study").mkdir()
    return tmp_path / "study"


@pytest.mark.slow
def test_one_authors_study_is_verified_against_another_studys_writers(study, impostor_study, tmp_path, capsys):
    """A study of Baum alone cannot be attributed; with --impostors, the other study's models are every trial's
    reference and its held-out books the different-author trials, and the report says whose they are."""
    alone = copy_study(study, tmp_path / "baum_alone")
    for (author, _), run_dir in run_dirs(alone).items():
        if author != "baum":
            shutil.rmtree(run_dir)
    out = tmp_path / "verified"
    code, _, stderr = attribute(alone, "--held-out", "--excerpt-tokens", "32", "--out", tmp_path / "no", capsys=capsys)
    assert code == 2 and "--impostors" in stderr
    code, _, stderr = attribute(
        alone, "--held-out", "--impostors", impostor_study, "--excerpt-tokens", "32", "--out", out, capsys=capsys
    )
    assert code == 0, stderr
    judged = pd.read_csv(out / "verification_trials.csv")
    assert set(judged["candidate"]) == {"baum"}
    # The impostors' held-out books, and those of the study's other authors its runs recorded (no model now).
    assert set(judged["author"]) == {"austen", "baum", "thompson", *IMPOSTOR_AUTHORS}
    assert judged["relative"].notna().all()  # the impostors are every trial's reference
    measured = pd.read_csv(out / "verification.csv")
    measured = measured[(measured["method"] != "General Impostors") & (measured["against"] == ANYONE)].iloc[0]
    assert (measured["num_same"], measured["num_different"]) == (32, 128)
    calibration = pd.read_csv(out / "verification_calibration.csv").iloc[0]
    assert calibration["slope_relative"] == calibration["slope_relative"]  # fused with the relative score
    assert f"dickens, twain (from {impostor_study}, --impostors)" in (out / "report.md").read_text()


@pytest.mark.slow
def test_impostors_that_cannot_be_the_reference_are_refused_in_one_line(study, impostor_study, tmp_path):
    one_seed = copy_study(impostor_study, tmp_path / "one_seed")
    for (_, seed), run_dir in run_dirs(one_seed).items():
        if seed == 1:
            shutil.rmtree(run_dir)
    otherwise = copy_study(impostor_study, tmp_path / "otherwise")
    for run_dir in run_dirs(otherwise).values():
        config = run_dir / "config.yaml"
        config.write_text(config.read_text().replace("weight_decay: 0.01", "weight_decay: 0.02"))
    expected = {
        study: f"error: --impostors {study} has models of austen, baum, thompson, an author of {study} too",
        one_seed: f"error: --impostors {one_seed} has no models of seed(s) 1: train its authors at every seed",
        otherwise: f"error: --impostors {otherwise} was trained otherwise than the candidates "
        "(optimizer.weight_decay=0.02 there, 0.01 here)",
    }
    for impostors, line in expected.items():
        result = run_command(
            "stylometry.attribute", study, "--held-out", "--impostors", impostors, "--out", tmp_path / "out"
        )
        assert_one_error_line(result, line, exact=False)
        assert not (tmp_path / "out").exists()
