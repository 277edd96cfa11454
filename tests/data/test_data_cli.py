"""`ganforge data list|download|info` and dataset-name parsing."""

from __future__ import annotations

import pytest

from ganforge.cli import main
from ganforge.data import DATASETS, mnist, split_spec
from ganforge.errors import GanforgeError


def _rows(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith(" ")}


def test_list_shows_every_source_and_what_is_present(cache, capsys, idx_files):
    idx_files(cache / "mnist")
    assert main(["data", "list", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    for usage in ("digits5k", "mnist", "fashion-mnist", "cifar10", "celeba[:ATTR]", "folder:PATH",
                  "toy2d:ring|grid"):
        assert usage in rows, usage
    assert rows["mnist"][1:6] == ["60000", "32x32", "1", "10", "yes"]
    assert rows["fashion-mnist"][5] == "no" and rows["cifar10"][1:6] == ["50000", "32x32", "3", "10", "no"]
    assert rows["celeba[:ATTR]"][1:4] == ["202599", "64x64", "3"]
    assert rows["toy2d:ring|grid"][1:6] == ["100000", "-", "-", "8|25", "yes"]
    assert rows["folder:PATH"][5] == "n/a"
    assert f"cache folder: {cache}" in out


def test_list_uses_the_cache_environment_variable(cache, capsys, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    assert main(["data", "list"]) == 0
    assert f"cache folder: {cache}" in capsys.readouterr().out


def test_download_command_fetches_and_verifies(cache, mirror, idx_files, remote_for, monkeypatch, capsys):
    idx_files(mirror)
    table = tuple(remote_for(mirror / name) for name in (mnist.IMAGES_FILE, mnist.LABELS_FILE))
    monkeypatch.setattr(mnist, "MNIST_FILES", table)
    assert main(["data", "download", "mnist", "toy2d:ring", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert f"{cache / 'mnist' / mnist.IMAGES_FILE} (md5 verified)" in out
    assert "toy2d: nothing to download" in out
    assert (cache / "mnist" / mnist.LABELS_FILE).is_file()


def test_download_failure_is_one_line_with_url_and_destination(cache, closed_port_url, monkeypatch, capsys):
    table = tuple(mnist.RemoteFile(r.name, r.md5, (closed_port_url(r.name),)) for r in mnist.MNIST_FILES)
    monkeypatch.setattr(mnist, "MNIST_FILES", table)
    assert main(["data", "download", "mnist", "--cache-dir", str(cache)]) == 2
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("ganforge: error:")]
    assert len(error_lines) == 1
    assert closed_port_url(mnist.IMAGES_FILE) in error_lines[0]
    assert str(cache / "mnist" / mnist.IMAGES_FILE) in error_lines[0]


def test_unknown_name_lists_the_valid_ones(cache, capsys):
    assert main(["data", "download", "mnsit", "--cache-dir", str(cache)]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'mnist'" in err and "cifar10" in err and "toy2d" in err


def test_info_prints_shape_and_classes(tmp_path, cache, make_image, capsys):
    make_image(tmp_path / "pics" / "cats" / "a.png")
    make_image(tmp_path / "pics" / "dogs" / "b.png")
    assert main(["data", "info", f"folder:{tmp_path / 'pics'}", "--resolution", "16",
                 "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "samples:  2" in out and "(3, 16, 16) uint8" in out and "cats (1), dogs (1)" in out


@pytest.mark.parametrize(("spec", "message"), [
    ("mnist:x", "takes no ':' argument"),
    ("folder", "needs an argument"),
    ("celeba:", "needs an argument"),
    ("toy2d:circle", "choose one of: toy2d:ring, toy2d:grid"),
    ("nope", "unknown dataset 'nope'"),
])
def test_bad_specs(spec, message):
    with pytest.raises(GanforgeError, match=message):
        split_spec(spec)


def test_optional_and_required_arguments_parse():
    assert split_spec("celeba") == (DATASETS.get("celeba"), None)
    assert split_spec("celeba:Smiling")[1] == "Smiling"
    assert split_spec("folder:C:/pics")[1] == "C:/pics"  # only the first ':' separates
    assert split_spec("toy2d:grid")[1] == "grid"


def test_info_without_download_never_deletes_a_hand_placed_file(cache, idx_files, capsys):
    """A re-compressed MNIST placed by hand fails the published md5: reported, and left where it was."""
    idx_files(cache / "mnist")  # valid IDX files, but not the published bytes
    before = {p.name: p.read_bytes() for p in (cache / "mnist").iterdir()}
    assert main(["data", "info", "mnist", "--no-download", "--cache-dir", str(cache)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganforge: error: checksum mismatch") and "left as it is" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in (cache / "mnist").iterdir()} == before
