"""The edges of the command line: every bad value, file and OS error is one ``ganforge: error:`` line."""

from __future__ import annotations

import errno
import os

import pytest

import ganforge.commands.fid as fid_command
import ganforge.training.run as run_module
from ganforge.cli import main
from ganforge.errors import GanforgeError, PathError, os_error_message, user_path


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("ganforge: error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture
def no_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    """These inputs must be refused before any dataset is read (or resized to a huge resolution)."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the dataset was loaded before the bad value was refused")

    monkeypatch.setattr(run_module, "load_dataset", refuse)


@pytest.mark.parametrize(("args", "expected"), [
    (["--resolution", "100000"], "resolution must be a positive whole number up to 1024, got 100000"),
    (["--resolution", "96"], "dcgan builds 32x32 or 64x64 or 128x128 images, not 96x96; pass --resolution 32 or"),
    (["--width", "100000"], "width must be a positive whole number up to 2048"),
    (["--width", "600"], "dcgan takes --width up to 512"),
    (["--z-dim", "10000000"], "z-dim must be a positive whole number up to 4096"),
    (["--batch-size", "10000000"], "batch-size must be a positive whole number up to 65536"),
    (["--steps", "99999999999999"], "steps must be a positive whole number up to 1000000000"),
    (["--seed", str(2**70)], f"seed must be a whole number in [0, 4294967295], got {2**70}"),
    (["--seed", "-1"], "seed must be a whole number in [0, 4294967295], got -1"),
    (["--eval-samples", "10000000"], "eval-samples must be a whole number in [2, 1000000]"),
    (["--threads", "-2"], "threads must be 0 (off) or a positive whole number up to 1024"),
    (["--keep-checkpoints", "-1"], "keep-checkpoints must be 0 (off) or a positive whole number"),
])
def test_sizes_and_seeds_are_bounded_before_anything_is_loaded(tmp_path, capsys, no_dataset, args, expected):
    run_dir = tmp_path / "run"
    assert main(["train", "--run-dir", str(run_dir), "--no-progress", *args]) == 2
    assert expected in one_line(capsys)
    assert not run_dir.exists()


@pytest.mark.parametrize(("text", "expected"), [
    (b"steps: 5\nmodel: dcgan # caf\xe9\n", "is not UTF-8 text (byte 27); save it as UTF-8 YAML"),
    (b"run_dir: [runs/a, runs/b]\n", "run_dir must be text, got ['runs/a', 'runs/b']"),
    (b"cache_dir: {path: x}\n", "cache_dir must be text, got {'path': 'x'}"),
    (b"inception_weights: [a.pth]\n", "inception_weights must be text"),
    (b"data: [mnist]\n", "data must be text"),
    (b"steps: [5]\n", "steps must be a whole number"),
    (b"- steps\n", "must be a mapping of key: value"),
])
def test_config_files_of_the_wrong_shape(tmp_path, capsys, no_dataset, text, expected):
    config = tmp_path / "config.yaml"
    config.write_bytes(text)
    assert main(["train", "--config", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    assert expected in one_line(capsys)


def test_a_config_path_that_is_a_folder(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path), "--run-dir", str(tmp_path / "run")]) == 2
    assert f"cannot read config file {tmp_path}" in one_line(capsys)


def test_an_os_error_on_a_path_is_one_line_at_the_top(monkeypatch, capsys):
    def missing(args: object) -> int:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/x.png")

    monkeypatch.setattr(fid_command, "run", missing)
    assert main(["fid", "a", "b"]) == 2
    assert "cannot use /data/x.png: it does not exist; check the path" in one_line(capsys)


def test_an_os_error_without_a_path_keeps_its_traceback(monkeypatch):
    def bug(args: object) -> int:
        raise OSError("something internal")

    monkeypatch.setattr(fid_command, "run", bug)
    with pytest.raises(OSError, match="something internal"):
        main(["fid", "a", "b"])


@pytest.mark.parametrize(("code", "fix"), [
    (errno.EACCES, "permission denied; check the folder's permissions"),
    (errno.EROFS, "the filesystem is read-only; choose a folder on a writable disk"),
    (errno.ENOSPC, "no space left on the device; free some space"),
    (errno.ENOENT, "it does not exist"),
    (errno.ENOTDIR, "a part of the path is a file, not a folder"),
    (errno.EISDIR, "it is a folder; give a file path"),
    (errno.EIO, "Input/output error; check the path"),
])
def test_os_errors_name_the_path_and_the_fix(code, fix):
    message = os_error_message(OSError(code, os.strerror(code)), "/runs/a/last.pt")
    assert message == f"cannot use /runs/a/last.pt: {fix}" or message.startswith(f"cannot use /runs/a/last.pt: {fix}")
    with pytest.raises(PathError) as info, user_path("/runs/a/last.pt"):
        raise OSError(code, os.strerror(code))
    assert str(info.value) == message and info.value.errno == code
    assert isinstance(info.value, GanforgeError) and "\n" not in message



NOISY_COMMAND = """
import sys, warnings
import ganforge.commands.compare as compare
from ganforge.cli import main

def noisy(args):
    warnings.warn("FID from 64 samples\\nis biased", UserWarning, stacklevel=1)
    warnings.showwarning = warnings._showwarning_orig  # what a library may do once loaded
    warnings.warn("second", UserWarning, stacklevel=1)
    return 0

compare.run = noisy
sys.exit(main(["compare", "somewhere"]))
"""


def test_warnings_are_one_line_even_when_a_library_replaced_the_printer():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", NOISY_COMMAND], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["ganforge: warning: FID from 64 samples is biased",
                                          "ganforge: warning: second"], result.stderr
