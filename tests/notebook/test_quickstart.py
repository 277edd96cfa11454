"""examples/quickstart.ipynb runs top to bottom on a fresh Jupyter kernel (nbclient), with its parameter cell
set small, and shows what it promises: the live grid and curves, samples, a metrics table, a comparison."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"
KERNEL = "ganforge-quickstart-test"


def small_parameters(work: Path, weights: Path, runtime: Path) -> str:
    return "\n".join([
        "STEPS = 40", "SAMPLE_EVERY = 20", "FID_SAMPLES = 32", f"INCEPTION_WEIGHTS = {str(weights)!r}",
        "EXPORT_WEB = True", f"WEB_RUNTIME = {str(runtime)!r}", f"WORK = {str(work)!r}"])


def this_interpreters_kernel(folder: Path) -> Path:
    """A kernelspec running ipykernel on this test's own interpreter (the venv `make dev-install` filled),
    whatever kernels the machine has installed; JUPYTER_PATH puts it first."""
    spec = folder / "kernels" / KERNEL / "kernel.json"
    spec.parent.mkdir(parents=True)
    spec.write_text(json.dumps({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                "display_name": "ganforge test", "language": "python"}))
    return folder


def cell(notebook: Any, tag: str) -> Any:
    (found,) = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    return found


def images(code_cell: Any) -> list[str]:
    return [o["data"]["image/png"] for o in code_cell.outputs if "image/png" in o.get("data", {})]


def html(code_cell: Any) -> str:
    return "".join(o["data"]["text/html"] for o in code_cell.outputs if "text/html" in o.get("data", {}))


def errors(notebook: Any) -> list[str]:
    return [f"{o['ename']}: {o['evalue']}" for c in notebook.cells if c.cell_type == "code"
            for o in c.outputs if o.get("output_type") == "error"]


def test_the_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata["tags"]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory, trunk_path: Path, web_runtime: Path) -> tuple[Any, Path]:
    """The notebook run once on a fresh kernel of this interpreter, with small parameters: (notebook, work)."""
    from jupyter_client.kernelspec import KernelSpecManager

    tmp = tmp_path_factory.mktemp("quickstart")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(this_interpreters_kernel(tmp / "jupyter")))
        assert KernelSpecManager().get_kernel_spec(KERNEL).argv[0] == sys.executable
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        cell(notebook, "parameters").source = small_parameters(tmp / "work", trunk_path, web_runtime)
        NotebookClient(notebook, kernel_name=KERNEL, timeout=600, allow_errors=True,
                       resources={"metadata": {"path": str(tmp)}}).execute()
    return notebook, tmp / "work"


@pytest.mark.slow
def test_every_cell_runs(executed: tuple[Any, Path]) -> None:
    notebook, _ = executed
    assert not errors(notebook), errors(notebook)
    assert all(c.execution_count for c in notebook.cells if c.cell_type == "code")


@pytest.mark.slow
def test_training_shows_the_live_grid_and_curves_then_the_result(executed: tuple[Any, Path]) -> None:
    train = cell(executed[0], "train")
    # the live display: the grid and the curves, each one output updated in place (not one per refresh)
    assert len(images(train)) == 2
    assert html(train).count("<img") == 2 and "run folder" in html(train)  # the result: final grid, curves


@pytest.mark.slow
def test_samples_metrics_table_and_comparison(executed: tuple[Any, Path]) -> None:
    notebook, _ = executed
    assert len(images(cell(notebook, "samples"))) == 1
    fid_table = html(cell(notebook, "fid"))
    assert "<table" in fid_table and "<td>FID</td>" in fid_table and "num_fake=32" in fid_table
    comparison = html(cell(notebook, "compare"))
    assert "dcgan-bce" in comparison and "dcgan-hinge" in comparison and "FID" in comparison
    assert comparison.count("<tr>") == 3  # the header and both runs


@pytest.mark.slow
def test_sharing_writes_the_web_page_and_the_hub_folder(executed: tuple[Any, Path]) -> None:
    notebook, work = executed
    share = "".join(o.get("text", "") for o in cell(notebook, "share").outputs)
    assert "library_name: ganforge" in share
    assert (work / "site" / "index.html").is_file() and (work / "hub" / "model.safetensors").is_file()
    assert len(images(cell(notebook, "hub-samples"))) == 1
