"""``ganforge fid`` and ``ganforge stats``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ganforge.cli import main
from ganforge.metrics.weights import file_digest


def test_fid_between_two_tiny_folders(trunk_path: Path, tmp_path: Path, write_images: Callable[..., Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    a = write_images(tmp_path / "a", [(16, 16), (24, 24)], seed=1)
    b = write_images(tmp_path / "b", [(16, 16), (16, 16)], ["L", "RGB"], seed=2)
    (b / "corrupt.jpg").write_bytes(b"\xff\xd8 truncated")
    code = main(["fid", str(a), str(b), "--inception-weights", str(trunk_path), "--cache-dir",
                 str(tmp_path / "cache"), "--no-progress", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert np.isfinite(report["fid"]) and report["fid"] > 0
    protocol = report["protocol"]
    assert protocol["num_a"] == 2 and protocol["num_b"] == 2 and protocol["skipped_b"] == 1
    assert protocol["resize"] == "tf1-legacy-bilinear-299" and protocol["weights_file"] == trunk_path.name
    assert any("singular" in w for w in protocol["warnings"])  # N=2: said in the report, not hidden

    # same folders again, text output: A comes from the cache, the value is identical
    assert main(["fid", str(a), str(b), "--inception-weights", str(trunk_path), "--cache-dir",
                 str(tmp_path / "cache"), "--no-progress"]) == 0
    captured = capsys.readouterr()
    text = captured.out
    assert f"FID: {report['fid']:.6g}" in text
    assert "from cache" in text and "weights_sha256" in text and "quantization" in text
    assert "1 unreadable skipped" in text and "warning: fid:" in text
    assert "UserWarning" not in captured.err


def test_stats_writes_npz_and_fid_reads_it(trunk_path: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ref.npz"
    args = ["stats", "digits5k", "--out", str(out), "--num-samples", "2", "--save-features", "--inception-weights", str(trunk_path),
            "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    assert main(args) == 0
    assert "N=2" in capsys.readouterr().out
    with np.load(out) as data:
        assert data["mu"].shape == (2048,) and data["sigma"].shape == (2048, 2048)
        assert int(data["N"]) == 2 and str(data["dataset"]) == "digits5k"
        assert str(data["resize"]) == "tf1-legacy-bilinear-299" and len(str(data["weights_sha256"])) == 64
        assert "N-1" in str(data["covariance"])
    # two statistics files: no network needed, identical sets give 0
    assert main(["fid", str(out), str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fid"] == pytest.approx(0.0, abs=1e-8)
    assert report["protocol"]["num_a"] == 2 and report["protocol"]["weights_sha256"] == file_digest(trunk_path)


def test_stats_refuses_existing_out_and_unknown_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exists.npz"
    out.write_bytes(b"keep me")
    assert main(["stats", "digits5k", "--out", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert main(["stats", "digitz5k", "--out", str(tmp_path / "new.npz")]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'digitz5k'" in err and "digits5k" in err
    assert main(["stats", "digits5k", "--out", str(tmp_path / "stats.txt")]) == 2
    assert ".npz" in capsys.readouterr().err
    assert not (tmp_path / "new.npz").exists()


def test_fid_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fid", str(tmp_path / "missing.npz"), str(tmp_path / "other.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["fid", "a", "b", "--metrics", "fid,xyz"]) == 2
    assert "unknown metric 'xyz'" in capsys.readouterr().err
