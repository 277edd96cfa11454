"""ganforge in Jupyter: the live picture of a training run, and results that display themselves.

In a Jupyter kernel (``progress.in_notebook``) ``ganforge.train`` shows tqdm's notebook bar (see
:mod:`ganforge.progress`) and, through :class:`LiveTraining` (a logger the run adds), the sample grid and
the loss curves at every ``sample_every`` step, replaced in place through IPython display handles
(:mod:`ganforge.training.loggers.live`).

What the API returns displays itself in a notebook and has ``.show()`` for a script:

- :class:`Picture`, a sample grid or a figure: ``_repr_png_``; ``.show()`` opens it in an image viewer;
- :class:`MetricsTable`, the record ``ganforge.evaluate`` returns (still a dict): ``_repr_html_``, one row
  per value with its protocol; ``.show()`` prints it;
- :class:`Comparison`, ``ganforge.compare(runs)``: the report's table of runs (``ganforge compare``);
- a :class:`~ganforge.training.TrainResult`: its summary, final grid and loss curves (:func:`result_html`).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganforge.metrics.specs import find_value
from ganforge.progress import in_notebook
from ganforge.runfolder import RunFolder
from ganforge.viz import encode_png, save_png

TABLE_STYLE = "border-collapse:collapse;text-align:right"


@dataclass(frozen=True, eq=False)
class Picture:
    """An (H, W, 3) uint8 picture: a sample grid, curves."""

    array: np.ndarray
    title: str = ""

    @classmethod
    def from_png(cls, data: bytes, title: str = "") -> Picture:
        return cls(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), title)

    @classmethod
    def from_file(cls, path: Path, title: str = "") -> Picture:
        return cls.from_png(Path(path).read_bytes(), title)

    def _repr_png_(self) -> bytes:
        return encode_png(self.array)

    def html(self) -> str:
        data = base64.b64encode(self._repr_png_()).decode()
        return f'<img src="data:image/png;base64,{data}" alt="{escape(self.title)}"/>'

    def save(self, path: Path | str) -> Path:
        save_png(self.array, path)
        return Path(path)

    def show(self) -> None:
        """In a notebook: display it; elsewhere: open it in the system's image viewer."""
        if in_notebook():
            from IPython.display import display

            display(self)
        else:
            Image.fromarray(self.array).show(title=self.title or None)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f'<table style="{TABLE_STYLE}">{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, *rows]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def _protocol_text(protocol: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in protocol.items() if key != "seconds")


class MetricsTable(dict[str, Any]):
    """An evaluation record (values, ``protocol``, step...) that shows itself as a table of its values."""

    def rows(self) -> list[list[str]]:
        rows = []
        for key, value in self.items():
            found = find_value(key)
            if found is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            label, spec = found[1].label, found[1].format
            rows.append([label, format(value, spec)])
        return rows

    @property
    def caption(self) -> str:
        protocol = self.get("protocol")
        text = _protocol_text(protocol) if isinstance(protocol, Mapping) else ""
        step = f"step {self['step']}; " if self.get("step") is not None else ""
        return f"{step}{text}"

    def _repr_html_(self) -> str:
        return _html_table(["metric", "value"], self.rows(), self.caption)

    def show(self) -> None:
        print(_text_table(["metric", "value"], self.rows()))
        print(self.caption)


@dataclass(frozen=True)
class Comparison:
    """Runs side by side: the table of ``ganforge compare`` (one row per run, its latest metrics)."""

    header: list[str]
    rows: list[list[str]]
    protocols: list[str]

    @property
    def caption(self) -> str:
        return "; ".join(f"P{i}: {text}" for i, text in enumerate(self.protocols, start=1))

    def _repr_html_(self) -> str:
        return _html_table(self.header, self.rows, self.caption)

    def show(self) -> None:
        print(_text_table(self.header, self.rows))
        if self.protocols:
            print(self.caption)


def run_pictures(run_dir: Path) -> list[Picture]:
    """The final sample grid and the loss curves of a finished run, those it has."""
    folder = RunFolder(Path(run_dir))
    files = ((folder.final_samples, "final samples"), (folder.loss_curves, "loss curves"))
    return [Picture.from_file(path, title) for path, title in files if path.is_file()]


def result_rows(result: Any) -> list[list[str]]:
    rows = [["run folder", str(result.run_dir)], ["steps", str(result.steps)],
            ["seconds", f"{result.seconds:.1f}"], ["images/s", f"{result.images_per_s:.0f}"]]
    return rows + [[key, f"{value:.4g}"] for key, value in result.last.items()]


def result_html(result: Any) -> str:
    """A TrainResult in a notebook: its numbers, then its final grid and curves."""
    pictures = "".join(f"<div>{picture.html()}</div>" for picture in run_pictures(result.run_dir))
    return _html_table(["", ""], result_rows(result)) + pictures


def show_result(result: Any) -> None:
    if in_notebook():
        # HTML from its defining module: IPython 8's IPython.display re-exports it implicitly, which
        # mypy's strict re-export check refuses.
        from IPython.core.display import HTML
        from IPython.display import display

        display(HTML(result_html(result)))
        return
    print(_text_table(["", ""], result_rows(result)))
    for picture in run_pictures(result.run_dir):
        picture.show()
