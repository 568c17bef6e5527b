"""`python -m stylometry.status` as a user runs it: every run here with no argument, one line and exit code 2 for
a bad command, and `--plan` answering a config error before anything heavy is imported."""

from conftest import assert_one_error_line, fake_run, run_command


def status(cwd, *args):
    """`python -m stylometry.status <args>` run in cwd (this checkout's package, from any folder)."""
    return run_command("stylometry.status", *args, cwd=cwd, timeout=300)


def test_status_without_arguments_shows_multirun_and_outputs(tmp_path):
    fake_run(tmp_path / "multirun/corpus/paper/baseline/baum/seed=0", state="complete")
    fake_run(tmp_path / "multirun/corpus/paper/baseline/wells/seed=0", state="failed", reason="ConfigError: bad book")
    fake_run(tmp_path / "outputs/corpus/smoke/baseline/twain/seed=0", state="complete")
    result = status(tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "multirun: 2 jobs: 1 complete, 1 failed"
    assert lines[1].split()[:4] == ["complete", "multirun/corpus/paper/baseline/baum/seed=0", "epoch", "3"]
    assert "bad book" in lines[2] and "multirun/corpus/paper/baseline/wells/seed=0/train.log" in lines[2]
    assert lines[3] == "outputs: 1 jobs: 1 complete"
    assert lines[4].split()[:2] == ["complete", "outputs/corpus/smoke/baseline/twain/seed=0"]


def test_status_with_no_runs_says_where_they_would_be(tmp_path):
    result = status(tmp_path)
    assert result.returncode == 0
    assert result.stdout == (
        f"no runs here: {tmp_path} has no multirun/ or outputs/ (python -m stylometry.train makes "
        "them); or name a sweep dir\n"
    )


def test_a_bad_command_is_one_line_on_stderr_and_exit_2(tmp_path):
    missing = status(tmp_path, "multirun/nope")
    assert_one_error_line(
        missing, "no such dir multirun/nope: name a sweep dir (multirun/<study>/<experiment>) or run dir"
    )
    misspelt = status(tmp_path, "--plan", "-m", "author=glob(*)", "stop_criteria.max_epoch=3")
    assert_one_error_line(misspelt, "stop_criteria.max_epoch is not a setting; did you mean stop_criteria.max_epochs?")
    corpus = status(tmp_path, "--plan", "-m", "author=baum", "data.root=/no/such/dir")
    assert_one_error_line(corpus, "error: data.root=/no/such/dir: no such folder", exact=False)
    assert list(tmp_path.iterdir()) == []  # planning writes nothing
