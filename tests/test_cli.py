"""Bad input to `ganforge train`: one line on stderr, exit code 2, nothing written or overwritten."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ganforge.cli import main


def run_cli(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize(("args", "expected"), [
    (["--model", "dcgna"], "unknown model 'dcgna' (did you mean 'dcgan'?); choose one of: "),
    (["--loss", "hinje"], "unknown loss 'hinje' (did you mean 'hinge'?); choose one of: "),
    (["--data", "mnsit"], "unknown dataset 'mnsit' (did you mean 'mnist'?); choose one of: "),
    (["--steps", "0"], "steps must be a positive whole number"),
    (["--batch-size", "-1"], "batch-size must be a positive whole number"),
    (["--lr-g", "0"], "lr-g must be a positive number"),
    (["--batch-size", "6000"], "batch size 6000 is larger than the dataset (5000 samples)"),
    (["--resolution", "48"], "dcgan builds 32x32 or 64x64 or 128x128 images"),
])
def test_bad_training_input(tmp_path, capsys, args, expected):
    run_dir = tmp_path / "run"
    code, err = run_cli(capsys, "train", "--run-dir", str(run_dir), "--no-progress", *args)
    assert code == 2
    assert expected in err
    assert err.startswith("ganforge: error: ") and err.count("\n") == 1
    assert not run_dir.exists(), "a refused run must not create its folder"


def test_unknown_name_lists_valid_names(tmp_path, capsys):
    _, err = run_cli(capsys, "train", "--model", "nope", "--run-dir", str(tmp_path / "r"))
    assert "dcgan" in err.split("choose one of:")[1]


def test_existing_run_folder_is_not_touched(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("mine")
    code, err = run_cli(capsys, "train", "--run-dir", str(run_dir), "--steps", "2")
    assert code == 2 and "already exists and is not empty" in err and "--overwrite" in err
    # --overwrite only replaces ganforge run folders, never an arbitrary folder
    code, err = run_cli(capsys, "train", "--run-dir", str(run_dir), "--steps", "2", "--overwrite")
    assert code == 2 and "not a ganforge run folder" in err
    assert (run_dir / "notes.txt").read_text() == "mine"


def test_overwrite_replaces_a_previous_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    tiny = ["--width", "8", "--batch-size", "8", "--z-dim", "8", "--no-progress", "--run-dir", str(run_dir)]
    assert main(["train", "--steps", "3", *tiny]) == 0
    (run_dir / "samples" / "stale.png").write_bytes(b"x")
    assert main(["train", "--steps", "2", "--overwrite", *tiny]) == 0
    assert not (run_dir / "samples" / "stale.png").exists()
    assert "steps: 2" in (run_dir / "config.yaml").read_text()


def test_resume_without_checkpoint(tmp_path, capsys):
    code, err = run_cli(capsys, "train", "--run-dir", str(tmp_path / "none"), "--resume")
    assert code == 2 and ("does not exist" in err or "cannot read config file" in err)


def test_config_file_with_unknown_key(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("stpes: 5\n")
    code, err = run_cli(capsys, "train", "--config", str(config), "--run-dir", str(tmp_path / "r"))
    assert code == 2 and "did you mean 'steps'" in err


def test_cuda_requested_without_gpu(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, err = run_cli(capsys, "train", "--device", "cuda", "--run-dir", str(tmp_path / "r"))
    assert code == 2 and "no CUDA GPU is visible" in err


def test_console_entry_point_runs_as_module():
    result = subprocess.run([sys.executable, "-m", "ganforge", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "train" in result.stdout


@pytest.mark.parametrize(("args", "expected"), [
    (["--loss", "hnge"], "did you mean 'hinge'"),
    (["--model", "sngn"], "did you mean 'sngan'"),
    (["--preset", "wgan-pg"], "did you mean 'wgan-gp'"),
    (["--eval-every", "10", "--eval-metrics", "fdi"], "did you mean 'fid'"),
])
def test_misspelt_names_fail_before_any_data_is_read(tmp_path, capsys, monkeypatch, args, expected):
    """The config checks every registered name itself: no dataset is opened (a CelebA download, say)."""
    import sys

    import ganforge.data
    import ganforge.training.run  # noqa: F401  (the run's module binds load_dataset: patched below)

    def no_loading(*_args, **_kwargs):
        raise AssertionError("the dataset was read before the names were checked")

    original = ganforge.data.load_dataset
    readers = [module for module in list(sys.modules.values())
               if getattr(module, "__name__", "").startswith("ganforge") and getattr(module, "load_dataset", None) is original]
    assert ganforge.training.run in readers
    for module in readers:
        monkeypatch.setattr(module, "load_dataset", no_loading)
    code, err = run_cli(capsys, "train", "--run-dir", str(tmp_path / "r"), "--data", "folder:/no/such/dir", *args)
    assert code == 2 and expected in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_dry_run_prints_resolved_config_and_networks(tmp_path, capsys):
    import yaml

    code = main(["train", "--preset", "sagan", "--steps", "7", "--width", "8", "--run-dir", str(tmp_path / "r"),
                 "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0 and not (tmp_path / "r").exists()
    resolved = yaml.safe_load(out)
    # the preset is written out, flags win over it, every key is present
    assert (resolved["loss"], resolved["lr_d"], resolved["steps"], resolved["width"]) == ("hinge", 4e-4, 7, 8)
    from ganforge.config import config_fields

    assert set(config_fields()) <= set(resolved)
    lines = [line for line in out.splitlines() if line.startswith("# ")]
    assert any(line.startswith("# generator: SAGANGenerator,") for line in lines)
    assert any(line.startswith("# discriminator: SAGANDiscriminator,") and "spectral norm on" in line
               for line in lines)


def test_train_help_lists_registered_names(capsys):
    from ganforge.losses import LOSSES
    from ganforge.models import MODELS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split()).split("options:", 1)[1]  # past the usage line
    model_help = out.split("--model FAMILY", 1)[1].split("--data", 1)[0]
    loss_help = out.split("--loss LOSS", 1)[1].split("--steps", 1)[0]
    assert all(name in model_help for name in MODELS.names())
    assert all(name in loss_help for name in LOSSES.names())


@pytest.mark.parametrize(("args", "critic_norm"), [
    (["--preset", "wgan-gp"], "no spectral norm"),  # the paper's critic has no normalisation
    (["--preset", "sngan"], "spectral norm on"),
    (["--preset", "sngan", "--no-spectral-norm"], "no spectral norm"),
    (["--model", "sagan", "--no-spectral-norm"], "no spectral norm"),
    (["--model", "dcgan", "--spectral-norm"], "spectral norm on"),
    (["--model", "dcgan"], "no spectral norm"),
])
def test_spectral_norm_is_a_real_choice_in_every_family(capsys, args, critic_norm):
    assert main(["train", *args, "--width", "8", "--dry-run"]) == 0
    critic = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("# discriminator:"))
    assert critic_norm in critic


def test_dry_run_of_the_default_states_each_departure_from_the_textbook(tmp_path, capsys):
    from ganforge.presets import TEXTBOOK

    assert main(["train", "--steps", "9", "--run-dir", str(tmp_path / "r"), "--dry-run"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("# departs from"))
    # the configuration's defaults, not the flags of this command (steps 9 is this run, 8000 the recipe)
    assert "steps 8000 (textbook 1500)" in line and "width 32 (textbook 64)" in line
    assert all(f"{key} " in line for key in TEXTBOOK)


def test_a_path_given_as_data_suggests_folder(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    run_dir = tmp_path / "run"
    code, err = run_cli(capsys, "train", "--data", str(photos), "--run-dir", str(run_dir), "--no-progress")
    assert code == 2 and err.count("\n") == 1
    assert f"unknown dataset '{photos}': it is a path, not a dataset name; to use the images in it, pass " \
           f"folder:{photos}" in err
    assert not run_dir.exists()
    # a name that is no path keeps its did-you-mean
    _, err = run_cli(capsys, "train", "--data", str(tmp_path / "nothing-here"), "--run-dir", str(run_dir))
    assert "it is a path" not in err and "choose one of:" in err


def test_lr_sets_both_players_and_a_prefix_is_never_guessed(tmp_path, capsys):
    from ganforge.cli import build_parser
    from ganforge.commands.train import resolve_config

    def config(*flags):
        return resolve_config(build_parser().parse_args(["train", *flags]))

    both = config("--lr", "1e-3")
    assert (both.lr_g, both.lr_d) == (1e-3, 1e-3)
    mixed = config("--lr", "1e-3", "--lr-d", "3e-4")
    assert (mixed.lr_g, mixed.lr_d) == (1e-3, 3e-4)
    # no abbreviation: --lr-  and --ste are not taken for --lr-g or --steps
    code, err = run_cli(capsys, "train", "--ste", "3", "--run-dir", str(tmp_path / "r"))
    assert code == 2 and err == "ganforge: error: unknown option --ste (did you mean '--steps'?); " \
                                "see ganforge train --help\n"
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("argv", "expected"), [
    (["generate", "run"], "ganforge: error: the following arguments are required: --out; see ganforge generate --help"),
    (["train", "--steps"], "ganforge: error: argument --steps: expected one argument; see ganforge train --help"),
    (["evaluate", "a", "b"], "ganforge: error: unexpected argument(s) b; see ganforge evaluate --help"),
    (["data", "list", "--cache"], "ganforge: error: unknown option --cache (did you mean '--cache-dir'?); "
                                  "see ganforge data list --help"),
])
def test_usage_errors_are_one_line(capsys, argv, expected):
    code, err = run_cli(capsys, *argv)
    assert code == 2 and err == expected + "\n"
