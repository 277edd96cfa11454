"""Notebook displays without a kernel: the live training display (display handles updated in place), the
progress bar a kernel gets, and the rich reprs / ``.show()`` of results, samples, evaluations, comparisons."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge import progress
from ganforge.cli import main
from ganforge.notebook import MetricsTable, Picture
from ganforge.training.loggers import FINAL_SAMPLES, SAMPLES
from ganforge.training.loggers import live as live_module
from ganforge.training.loggers.live import LiveTraining

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Handle:
    def __init__(self, shown: Any) -> None:
        self.shown = [shown]

    def update(self, picture: Any) -> None:
        self.shown.append(picture)


class FakeDisplay:
    """IPython.display.display(obj, display_id=True) -> a handle whose update() replaces that output."""

    def __init__(self) -> None:
        self.handles: list[Handle] = []

    def __call__(self, obj: Any, display_id: bool = False) -> Handle:
        assert display_id is True
        self.handles.append(Handle(obj))
        return self.handles[-1]


def png_array(data: bytes) -> np.ndarray:
    assert data.startswith(PNG_MAGIC)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def grid(value: int) -> np.ndarray:
    return np.full((10, 12, 3), value, np.uint8)


def test_live_training_replaces_its_two_outputs_in_place() -> None:
    display = FakeDisplay()
    live = LiveTraining("dcgan / bce on digits5k", display=display)
    live.log_image(0, SAMPLES, grid(0))  # before any logged row: the grid alone
    assert len(display.handles) == 1
    for step in (1, 2):
        live.log_scalars(step, {"loss_d": 1.0 / step, "loss_g": 0.5, "d_real": 0.6, "d_fake": 0.4})
    live.log_scalars(2, {"fid": 30.0})  # a callback-only row draws nothing new
    live.log_image(2, SAMPLES, grid(100))
    live.log_image(2, FINAL_SAMPLES, grid(200))
    grids, curves = display.handles  # two outputs in all, however many refreshes
    assert [int(png_array(p._repr_png_())[0, 0, 0]) for p in grids.shown] == [0, 100, 200]
    assert len(curves.shown) == 2 and live.history["step"] == [1.0, 2.0]
    first, last = (png_array(p._repr_png_()) for p in curves.shown)
    assert first.shape[0] > 300 and first.std() > 0  # a drawn figure, 8x6 in at 100 dpi


def test_live_curves_of_a_training_step_of_ones_own_draw_its_scalars() -> None:
    """A user's step returns other names than ganforge's update: the live curves draw those, in one panel,
    and a name first returned later starts with gaps."""
    display = FakeDisplay()
    returned: list[str] = ["critic"]
    live = LiveTraining("mine", display=display, scalars=lambda: returned)
    live.log_scalars(1, {"critic": 2.0})
    returned.append("gen")
    live.log_scalars(2, {"critic": 1.0, "gen": 0.5})
    live.log_scalars(2, {"fid": 30.0})  # a callback-only row
    live.log_image(2, SAMPLES, grid(50))
    assert live.history["step"] == [1.0, 2.0] and live.history["critic"] == [2.0, 1.0]
    assert np.isnan(live.history["gen"][0]) and live.history["gen"][1] == 0.5
    _, curves = display.handles
    drawn = png_array(curves.shown[-1]._repr_png_())
    assert drawn.shape[0] == 400 and drawn.std() > 0  # the one-panel figure (8x4 in at 100 dpi)


def test_live_display_only_in_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not progress.in_notebook()  # pytest is no Jupyter kernel
    assert live_module.live_displays("t", enabled=True) == []
    monkeypatch.setattr(live_module, "in_notebook", lambda: True)
    assert live_module.live_displays("t", enabled=False) == []  # progress=False / --no-progress
    (display,) = live_module.live_displays("t", enabled=True)
    assert isinstance(display, LiveTraining)


def test_train_in_a_kernel_shows_the_grid_and_curves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     one_thread: None) -> None:
    import IPython.display

    display = FakeDisplay()
    monkeypatch.setattr(live_module, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", display)
    result = ganforge.train(steps=4, batch_size=16, width=8, z_dim=16, sample_every=2, log_every=1,
                            run_dir=str(tmp_path / "run"), progress=True)
    grids, curves = display.handles
    assert len(grids.shown) == 3  # steps 2 and 4, then the final grid
    final = np.asarray(Image.open(result.run_dir / "samples" / "final.png").convert("RGB"))
    assert np.array_equal(png_array(grids.shown[-1]._repr_png_()), final)
    assert len(curves.shown) == 3


def test_progress_bar_in_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    from tqdm.notebook import tqdm as notebook_tqdm

    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    stream = io.StringIO()
    bar = progress.progress_bar(total=3, desc="train", stream=stream)
    assert isinstance(bar, notebook_tqdm)  # the widget bar: ipywidgets is installed
    bar.close()
    monkeypatch.setattr(progress.importlib.util, "find_spec", lambda name: None)  # a kernel without ipywidgets
    bar = progress.progress_bar(total=3, desc="train", stream=stream)
    assert isinstance(bar, progress.PlainProgress)
    bar.update(3)
    bar.close()
    assert stream.getvalue().startswith("train: 3/3 it (100%)")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    runs = []
    for loss in ("bce", "hinge"):
        run = root / f"dcgan-{loss}"
        assert main(["train", "--no-progress", "--steps", "4", "--batch-size", "16", "--width", "8", "--z-dim", "16",
                     "--sample-every", "2", "--log-every", "1", "--threads", "1", "--loss", loss,
                     "--run-dir", str(run)]) == 0
        runs.append(run)
    return runs[0], runs[1]


def test_train_result_displays_numbers_grid_and_curves(two_runs: tuple[Path, Path]) -> None:
    from ganforge.training import TrainResult

    result = TrainResult(two_runs[0], steps=4, seconds=1.5, images_per_s=40.0, last={"loss_d": 0.7})
    page = result._repr_html_()
    assert "<table" in page and "loss_d" in page and str(two_runs[0]) in page
    assert page.count("<img src=\"data:image/png;base64,") == 2  # final grid and loss curves


def test_sample_matches_generate(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    picture = ganforge.sample(two_runs[0], num=16, seed=3)
    assert main(["generate", str(two_runs[0]), "--num", "16", "--seed", "3", "--out", str(tmp_path / "g.png"),
                 "--no-progress"]) == 0
    expected = np.asarray(Image.open(tmp_path / "g.png"))
    assert np.array_equal(png_array(picture._repr_png_()), expected)
    assert not np.array_equal(png_array(ganforge.sample(two_runs[0], num=16, seed=4)._repr_png_()), expected)


def test_sample_of_a_module(two_runs: tuple[Path, Path]) -> None:
    generator, _ = ganforge.load_generator(two_runs[0])
    from_module = ganforge.sample(generator, num=16, seed=3, nrow=4)
    assert np.array_equal(from_module.array, ganforge.sample(two_runs[0], num=16, seed=3, nrow=4).array)


def test_sample_rejects_bad_numbers(two_runs: tuple[Path, Path]) -> None:
    with pytest.raises(ganforge.GanforgeError, match="num must be"):
        ganforge.sample(two_runs[0], num=0)
    with pytest.raises(ganforge.GanforgeError, match="unconditional"):
        ganforge.sample(two_runs[0], classes=[1])


def test_metrics_table_html_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    record = MetricsTable({"step": 40, "fid": 123.456, "kid": 0.01, "kid_std": 0.002, "source": "evaluate",
                           "protocol": {"num_fake": 32, "seconds": 3.2}})
    page = record._repr_html_()
    assert "<td>FID</td><td>123.46</td>" in page and "num_fake=32" in page and "seconds" not in page
    assert record["fid"] == 123.456  # still the record
    record.show()
    text = capsys.readouterr().out
    assert "FID" in text and "123.46" in text and "step 40; num_fake=32" in text


def test_compare_tabulates_runs_with_their_metrics(two_runs: tuple[Path, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from ganforge.fileio import append_jsonl

    for run, fid in zip(two_runs, (50.0, 70.0), strict=True):
        append_jsonl(run / "metrics.jsonl", {"step": 4, "kind": "image", "fid": fid, "protocol": {"num_fake": 32}})
    table = ganforge.compare(*two_runs)
    page = table._repr_html_()
    assert page.count("<tr>") == 3 and "dcgan-bce" in page and "dcgan-hinge" in page
    assert "50" in page and "70" in page and "FID" in page
    table.show()
    assert "dcgan-hinge" in capsys.readouterr().out
    with pytest.raises(ganforge.GanforgeError):
        ganforge.compare()


def test_show_outside_a_notebook_opens_the_viewer(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[tuple[int, int]] = []
    monkeypatch.setattr(Image.Image, "show", lambda self, title=None: opened.append(self.size))
    Picture(np.zeros((5, 7, 3), np.uint8)).show()
    assert opened == [(7, 5)]


@pytest.fixture
def one_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
