"""The house in layers (docs/development.md), checked on the source: who may import whom.

Every import of a `stylometry` module, at the top of a file or inside a function, is an arrow; arrows point
down the table of layers below, or stay within one subpackage. No circle of modules, none of subpackages; the top
level holds only the commands a user types; no function is longer than 60 lines.
"""

import ast
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "stylometry"
# Lowest first. A subpackage imports only from the layers below it (and from within itself).
LAYERS = {
    "files": 0,  # write-then-rename, the CSV log
    "config": 1,  # the typed schema, composition, command-line arguments
    "data": 2,  # corpus folders, tokens, windows, variants, excerpts, overlap
    "hardware": 2,  # devices, processes
    "model": 3,  # the GPT, its kernels, its loss on a text
    "runs": 4,  # the run dir on disk: layout, status, identity, checkpoints, studies, loading a trained model
    "training": 5,  # the loop and what it decides after every step
    "analysis": 6,  # the study's tables, statistics and figures from run dirs or published logs
    "benchmark": 6,  # speed and memory of the trainer's own step and evaluation
    "attribution": 7,  # new texts scored by a trained study; its verdicts are the analysis's
}
COMMANDS = {"train", "status", "analyze", "attribute", "generate", "bench", "variants", "corpus", "export"}
TOP = 8
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `name` imports, anywhere in its file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {target for target in found if target in known and target != name and target != "stylometry"}


def room(name: str) -> str:
    """A module's subpackage, or the module itself for the top level ("stylometry.train" -> "train")."""
    return name.split(".")[1]


def rank(name: str) -> int:
    return LAYERS.get(room(name), TOP)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def test_the_top_level_holds_only_the_commands():
    top = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert top <= COMMANDS, f"not a command, so it belongs in a subpackage: {sorted(top - COMMANDS)}"
    rooms = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert rooms == set(LAYERS), "a subpackage without a layer in this table (or a layer without its folder)"


def test_imports_point_down(graph):
    upward = [
        f"{source} -> {target}"
        for source, targets in graph.items()
        for target in targets
        if room(source) != room(target) and rank(target) >= rank(source) and rank(source) != TOP
    ]
    assert not upward, "imports up or sideways across layers:\n" + "\n".join(sorted(upward))


def test_commands_import_no_other_command(graph):
    between = [
        f"{source} -> {target}"
        for source, targets in graph.items()
        for target in targets
        if rank(source) == TOP and rank(target) == TOP
    ]
    assert not between, "\n".join(between)


def test_no_circle_of_modules(graph):
    def visit(name, path):
        if name in path:
            return path[path.index(name) :] + [name]
        for target in sorted(graph[name]):
            circle = visit(target, path + [name])
            if circle:
                return circle
        return None

    for name in sorted(graph):
        circle = visit(name, [])
        assert circle is None, " -> ".join(circle)


def test_no_function_over_60_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "\n".join(long)


# ---- who names which file --------------------------------------------------------------------------------------
# A run dir's files, and how its path ends (conf/train.yaml's template): named in stylometry/runs/ alone, which every
# other layer asks (stylometry/runs/layout.py and the modules beside it).
RUN_DIR_NAMES = (
    "metrics.csv",
    "status.json",
    "manifest.json",
    "config.yaml",
    "hydra.yaml",
    "overrides.yaml",
    "training_state.pt",
    "model.safetensors",
    "best.json",
    "train.log",
    "scalars.csv",
    "checkpoint.prev",
    "checkpoint.tmp",
    "checkpoint.best",
    ".hydra",
    "/seed=",
)
# An attribution's own files (stylometry/attribution/report.py writes and reads them): never named by the analysis.
ATTRIBUTION_NAMES = ("held_out.csv", "scores.csv", "verdicts.csv", "excerpts.csv", "held_out_accuracy.csv")


def strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a file's code (f-strings' text included), not its docstrings, which tell a reader
    where things are."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def named(paths, names) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{line} {name!r} in {text[:60]!r}"
        for path in paths
        for line, text in strings(path)
        for name in names
        if name in text
    ]


def test_only_runs_names_a_run_dirs_files():
    outside = [path for path in sorted(PACKAGE.rglob("*.py")) if path.parent.name != "runs"]
    found = named(outside, RUN_DIR_NAMES)
    assert not found, "a run dir's file named outside stylometry/runs/ (ask runs/ instead):\n" + "\n".join(found)


def test_the_analysis_never_names_an_attributions_files():
    found = named(sorted((PACKAGE / "analysis").rglob("*.py")), ATTRIBUTION_NAMES)
    assert not found, "ask stylometry/attribution/report.py (read_held_out_attribution):\n" + "\n".join(found)


def test_the_check_sees_a_name_in_code_and_not_in_a_docstring(tmp_path):
    source = tmp_path / "module.py"
    source.write_text('"""Reads metrics.csv."""\n\n\ndef f(run_dir):\n    return run_dir / f"{run_dir}/metrics.csv"\n')
    assert [text for _, text in strings(source)] == ["/metrics.csv"]
