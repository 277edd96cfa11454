"""``ganforge export --format web`` without a browser: the folder, its manifest, and getting ONNX Runtime Web
(npm's own client, the integrity check, the cache, ``--runtime``) with its one-line errors."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge import __version__
from ganforge.cli import main
from ganforge.loader import load_generator
from ganforge.sampling import SAMPLER, latents
from ganforge.web.runtime import FILES, VERSION

PAGE_FILES = ["static/favicon.svg", "static/grid.js", "static/sampler.js", "static/site.js", "static/state.js",
              "static/style.css", "static/viewer.js"]


def export(run: Path, out: Path, *extra: object) -> int:
    return main(["export", str(run), "--format", "web", "--out", str(out), *map(str, extra)])


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ganforge: error: "), err
    return err


def test_site_holds_page_model_runtime_and_manifest(trained_run: Path, web_runtime: Path, tmp_path: Path) -> None:
    run = tmp_path / "digits"
    shutil.copytree(trained_run, run)
    record = {"kind": "images", "step": 4, "fid": 180.5, "protocol": {"num_real": 1000, "num_fake": 1000}}
    (run / "metrics.jsonl").write_text(json.dumps(record) + "\nnot json\n")
    site = tmp_path / "site"
    assert export(run, site, "--runtime", web_runtime) == 0

    files = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert files == sorted(["index.html", "manifest.json", "generator.onnx", *PAGE_FILES,
                            *(f"ort/{name}" for name in FILES),
                            "artifacts/loss_curves.png", "artifacts/progress.gif", "artifacts/final.png"])
    manifest = json.loads((site / "manifest.json").read_text())
    spec = load_generator(run).spec
    assert manifest["format"] == "ganforge-web-export" and manifest["ganforge_version"] == __version__
    assert {k: manifest["model"][k] for k in ("family", "z_dim", "resolution", "channels", "num_classes")} == \
        {"family": "dcgan", "z_dim": spec.z_dim, "resolution": 32, "channels": 1, "num_classes": 0}
    assert manifest["model"]["steps"] == 4 and manifest["dataset"] == "digits5k" and manifest["classes"] == []
    assert manifest["metrics"] == [record]  # values with their protocol; the damaged line is skipped
    assert manifest["onnx"]["inputs"] == [{"name": "z", "dtype": "float32", "shape": ["N", spec.z_dim],
                                           "meaning": "latents from ganforge.sampling (one row per sample)"}]
    assert manifest["onnx"]["output"]["shape"] == ["N", 1, 32, 32] and manifest["onnx"]["output"]["range"] == [-1, 1]
    assert {k: manifest["sampler"][k] for k in SAMPLER} == SAMPLER
    assert manifest["runtime"]["version"] == VERSION and manifest["runtime"]["threads"] == 1
    assert manifest["artifacts"]["progress.gif"] == "artifacts/progress.gif"
    assert "run_dir" not in manifest["run"]["config"] and str(tmp_path) not in (site / "manifest.json").read_text()

    # The page: a strict CSP, the exported entry script, no inline script or handler, nothing from elsewhere.
    html = (site / "index.html").read_text()
    assert "script-src 'self' 'wasm-unsafe-eval'" in html and 'src="static/site.js"' in html
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == [] and re.search(r"\son[a-z]+=", html) is None
    for name in ["index.html", *PAGE_FILES]:
        text = (site / name).read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a load
        assert "http://" not in text and "https://" not in text, name

    # generator.onnx takes the latent alone and draws what PyTorch draws for ganforge's latents.
    import onnxruntime

    session = onnxruntime.InferenceSession(str(site / "generator.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z"]
    z = latents(7, spec.z_dim, 5)
    with torch.inference_mode():
        expected = load_generator(run).module(z, None).numpy()
    np.testing.assert_allclose(session.run(None, {"z": z.numpy()})[0], expected, atol=1e-4)


def test_conditional_manifest_names_the_classes_and_the_labels_input(make_run, web_runtime: Path,
                                                                     tmp_path: Path) -> None:
    run = make_run(tmp_path / "cgan", channels=3, num_classes=3, class_names=["cat", "dog", "fox"],
                   dataset="folder:/home/someone/pets")
    assert export(run, tmp_path / "site", "--runtime", web_runtime) == 0
    manifest = json.loads((tmp_path / "site" / "manifest.json").read_text())
    assert manifest["classes"] == [{"index": 0, "name": "cat"}, {"index": 1, "name": "dog"}, {"index": 2, "name": "fox"}]
    assert [(i["name"], i["dtype"], i["shape"]) for i in manifest["onnx"]["inputs"]] == \
        [("z", "float32", ["N", 16]), ("labels", "int64", ["N"])]
    assert manifest["dataset"] == "folder:pets"  # a shared page names no local folder
    assert not (tmp_path / "site" / "artifacts").exists()  # the run has no curves: nothing to copy


def test_the_cache_serves_later_exports_without_npm(image_run: Path, web_cache: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GANFORGE_CACHE", str(web_cache))
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm reachable: the cached copy must do
    assert export(image_run, tmp_path / "site") == 0
    assert f"ONNX Runtime Web {VERSION} cached in" in capsys.readouterr().out
    assert all((tmp_path / "site" / "ort" / name).is_file() for name in FILES)


def test_without_npm_or_a_copy_the_error_says_both_ways(image_run: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert export(image_run, tmp_path / "site") == 2
    err = one_error_line(capsys)
    assert "npm is not installed" in err and "install npm" in err and "--runtime DIR" in err
    assert not (tmp_path / "site").exists()


def fake_tarball(path: Path) -> Path:
    folder = path.parent / "package" / "dist"
    folder.mkdir(parents=True)
    for name in FILES:
        (folder / name).write_text("not the real runtime")
    with tarfile.open(path, "w:gz") as archive:
        archive.add(folder.parent, arcname="package")
    return path


def test_a_tarball_failing_the_integrity_check_is_refused(image_run: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    tarball = fake_tarball(tmp_path / f"onnxruntime-web-{VERSION}.tgz")
    assert export(image_run, tmp_path / "site", "--runtime", tarball) == 2
    assert "does not match the integrity npm publishes" in one_error_line(capsys)
    assert not (tmp_path / "cache" / "onnxruntime-web" / VERSION).exists() and not (tmp_path / "site").exists()


def test_npm_reporting_another_integrity_is_refused(image_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    npm = tmp_path / "bin" / "npm"
    npm.parent.mkdir()
    npm.write_text("#!/bin/sh\nprintf junk > onnxruntime-web.tgz\n"
                   "echo '[{\"integrity\": \"sha512-AAAA\", \"filename\": \"onnxruntime-web.tgz\"}]'\n")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", str(npm.parent))
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    assert export(image_run, tmp_path / "site") == 2
    assert "npm reports integrity sha512-AAAA" in one_error_line(capsys)
    assert not (tmp_path / "cache" / "onnxruntime-web" / VERSION).exists()


def test_runtime_folder_without_the_files_and_runtime_for_other_formats(image_run: Path, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ort").mkdir()
    assert export(image_run, tmp_path / "site", "--runtime", tmp_path / "ort") == 2
    assert "does not hold ort.wasm.bundle.min.mjs and ort-wasm-simd-threaded.wasm" in one_error_line(capsys)
    assert main(["export", str(image_run), "--format", "onnx", "--out", str(tmp_path / "g.onnx"),
                 "--runtime", str(tmp_path / "ort")]) == 2
    assert "--runtime does not apply to --format onnx" in one_error_line(capsys)


def test_an_existing_folder_is_replaced_only_with_overwrite(image_run: Path, web_runtime: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "keep.txt").write_text("mine")
    assert export(image_run, site, "--runtime", web_runtime) == 2
    assert "already exists; pass --overwrite" in one_error_line(capsys)
    assert [p.name for p in site.iterdir()] == ["keep.txt"]
    assert export(image_run, site, "--runtime", web_runtime, "--overwrite") == 0
    assert not (site / "keep.txt").exists() and (site / "index.html").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_point_generators_are_refused(points_run: Path, web_runtime: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert export(points_run, tmp_path / "site", "--runtime", web_runtime) == 2
    assert "2-D points" in one_error_line(capsys) and not (tmp_path / "site").exists()
