"""Imports sit at the top of ganforge's modules: an import inside a function is allowed only for an optional
extra (ganforge runs without it), torch.compile's machinery (slow to import, used by --compile only), or
inside a ``try`` that handles its absence. The import-graph contract
itself (no cycle between sibling modules or packages) is import-linter's, run by ``make lint``."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ganforge"
# pyproject.toml's optional extras (and what they bring), imported where used
OPTIONAL_EXTRAS = {"onnx", "onnxscript", "onnxruntime", "mlflow", "wandb", "IPython", "ipywidgets",
                   "huggingface_hub", "psycopg2", "datasets"}
# torch.compile's machinery (about 2 s to import, needed only under --compile) and tqdm's notebook bar (it
# imports IPython and ipywidgets, the notebook extra)
DEFERRED = ("torch._dynamo", "torch._inductor", "torch.utils._triton", "tqdm.notebook")


def nested_imports(tree: ast.Module) -> list[tuple[int, str, bool]]:
    """(line, module, guarded by a try) of every import inside a function, TYPE_CHECKING blocks left out."""
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, in_function: bool, guarded: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)) and in_function:
                name = child.module if isinstance(child, ast.ImportFrom) else child.names[0].name
                found.append((child.lineno, name or "", guarded))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)),
                  guarded or isinstance(child, ast.Try))

    visit(tree, False, False)
    return found


def misplaced(source: str) -> list[str]:
    return [f"line {line}: {module}" for line, module, guarded in nested_imports(ast.parse(source))
            if not guarded and module.split(".")[0] not in OPTIONAL_EXTRAS and not module.startswith(DEFERRED)]


def test_the_check_finds_an_import_inside_a_function() -> None:
    source = "import os\n\ndef f():\n    from ganforge.config import TrainConfig\n    import wandb\n    return os\n"
    assert misplaced(source) == ["line 4: ganforge.config"]
    guarded = "def f():\n    try:\n        import torch._dynamo\n    except ImportError:\n        return None\n"
    assert misplaced(guarded) == []


def test_imports_are_at_module_top() -> None:
    paths = sorted(SRC.rglob("*.py"))
    assert len(paths) > 100
    found = {str(p.relative_to(SRC)): misplaced(p.read_text(encoding="utf-8")) for p in paths}
    assert {name: lines for name, lines in found.items() if lines} == {}
