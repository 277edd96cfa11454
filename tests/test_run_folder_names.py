"""Every name in a run folder is written in one module, ganforge.runfolder; the others ask it.

The names come from the module's own constants, so a new one is covered the day it is added. A file name
(``history.csv``, ``step_*.pt``) may not appear as a string anywhere else; a folder name that is also a
plain word (``samples``, ``best``, ``wandb``) may not appear where it is used as a path: joined with ``/``,
inside a path string, or as a set of folder names.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ganforge
from ganforge import runfolder

PACKAGE = Path(ganforge.__file__).parent
HOME = Path(runfolder.__file__).resolve()


def docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (prose may name files)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def path_parts(text: str) -> list[str]:
    """The components of a string that reads as a path ("samples/final.png"); none for a sentence."""
    return text.split("/") if text and not any(c.isspace() for c in text) else []


def step_template(node: ast.JoinedStr) -> bool:
    """An f-string spelling a step file: f"step_{step:07d}.pt"."""
    parts = node.values
    return bool(parts) and isinstance(parts[0], ast.Constant) and str(parts[0].value) == runfolder.STEP_PREFIX


def literal_uses(source: str) -> list[tuple[int, str]]:
    """(line, name) of every run-folder name the source spells itself."""
    tree = ast.parse(source)
    skip = docstrings(tree)
    dirs = set(runfolder.DIR_NAMES)
    files = set(runfolder.FILE_NAMES)
    uses: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
            parts = path_parts(text)
            if text in files:
                uses.append((node.lineno, text))
            elif len(parts) > 1:
                uses += [(node.lineno, part) for part in parts if part in files | dirs]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant) \
                and node.right.value in dirs:
            uses.append((node.lineno, str(node.right.value)))
        elif isinstance(node, (ast.Set, ast.Tuple, ast.List)):  # e.g. folders a listing skips
            named = [e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in dirs]
            if len(named) > 1:
                uses += [(node.lineno, str(name)) for name in named]
        elif isinstance(node, ast.JoinedStr) and step_template(node):
            uses.append((node.lineno, runfolder.STEP_PREFIX))
    return uses


def test_the_lists_cover_every_name_constant() -> None:
    """A new *_FILE / *_DIR constant of the module is in FILE_NAMES or DIR_NAMES, so the check sees it."""
    listed = set(runfolder.FILE_NAMES) | set(runfolder.DIR_NAMES)
    constants = {name: value for name, value in vars(runfolder).items()
                 if name.isupper() and isinstance(value, str) and name.endswith(("_FILE", "_DIR", "_GIF", "_GLOB"))}
    assert constants and set(constants.values()) <= listed


def test_run_folder_names_live_in_one_module() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.resolve() == HOME:
            continue
        for line, name in literal_uses(path.read_text()):
            offenders.append(f"{path.relative_to(PACKAGE)}:{line}: {name!r}")
    assert not offenders, "run-folder names spelled outside ganforge/runfolder.py:\n" + "\n".join(offenders)


def test_the_home_module_spells_each_name() -> None:
    assert {name for _, name in literal_uses(HOME.read_text())} >= set(runfolder.FILE_NAMES) - {
        runfolder.STEP_CHECKPOINT_GLOB, runfolder.STEP_GRID_GLOB}  # those two are built from their parts


@pytest.mark.parametrize("line", [
    'HISTORY = "history.csv"',
    'path = run / "samples" / "x.png"',
    'final = Path(run, "samples/final.png")',
    'SKIP = {"checkpoints", "tb"}',
    'name = f"step_{step:07d}.pt"',
    'frames = folder.glob("step_*.png")',
    'lock = root / ".ganforge.lock"',
])
def test_the_check_catches_a_name_written_elsewhere(line: str) -> None:
    assert literal_uses(line)


@pytest.mark.parametrize("line", [
    '"""Reads history.csv and samples/final.png."""',
    'raise ValueError("cannot read history.csv; pass a run folder")',
    'record.get("samples")',
    'LOGGERS.register("wandb", make)',
    'legend(loc="best")',
])
def test_the_check_lets_prose_and_plain_words_pass(line: str) -> None:
    assert not literal_uses(line)


def test_the_layout_and_lock_load_no_other_ganforge_code() -> None:
    """Readers (serve, report, checkpoints) ask for a run's layout and its writer without loading training."""
    code = ("import sys, ganforge.runfolder, ganforge.runlock; "
            "print(sorted(m for m in sys.modules if m.startswith('ganforge')), 'torch' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == ("['ganforge', 'ganforge.errors', 'ganforge.fileio', 'ganforge.runfolder', "
                              "'ganforge.runlock'] False")
