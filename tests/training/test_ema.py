"""EMA of G: the decay from the half-life, the update formula, and what the run does with it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.training.ema import ema_beta, make_ema, run_ema_beta, update_ema
from ganforge.training.update import Trainer


def test_beta_from_half_life() -> None:
    assert ema_beta(64, 10.0) == pytest.approx(0.5 ** (64 / 10_000))
    # After half-life / batch steps the old average has weight exactly 1/2, for any batch size.
    for batch in (16, 100, 250):
        assert ema_beta(batch, 2.0) ** (2000 / batch) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        ema_beta(64, 0.0)


def test_update_matches_formula_and_copies_buffers() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = make_ema(model)
    assert all(not p.requires_grad for p in ema.parameters())
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    model(torch.randn(8, 3))  # moves BatchNorm's running statistics
    beta = 0.9
    update_ema(ema, model, beta)
    params = dict(model.named_parameters())
    for name, p_ema in ema.named_parameters():
        torch.testing.assert_close(p_ema, beta * before[name] + (1 - beta) * params[name].detach())
    for name, b_ema in ema.named_buffers():
        torch.testing.assert_close(b_ema, dict(model.named_buffers())[name])  # copied, not averaged
    assert not torch.equal(ema.state_dict()["1.running_mean"], before["1.running_mean"])


def test_trainer_keeps_ema_and_samples_from_it(image_dataset, make_config) -> None:
    trainer = Trainer(make_config(ema_kimg=0.1), image_dataset, torch.device("cpu"))
    assert trainer.sampling_generator is trainer.generator_ema
    beta = ema_beta(4, 0.1)
    previous = {k: v.clone() for k, v in trainer.generator_ema.state_dict().items()}
    trainer.train_step()
    live = trainer.generator.state_dict()
    for name, value in trainer.generator_ema.state_dict().items():
        if name in dict(trainer.generator.named_parameters()):
            torch.testing.assert_close(value, beta * previous[name] + (1 - beta) * live[name])
        else:
            torch.testing.assert_close(value, live[name])
    # The fixed grid comes from the EMA copy, not from G.
    ema_samples = trainer.fixed_samples()
    trainer.generator_ema = None
    assert not torch.allclose(ema_samples, trainer.fixed_samples())


def test_no_ema_by_default(image_dataset, make_config) -> None:
    trainer = Trainer(make_config(), image_dataset, torch.device("cpu"))
    assert trainer.generator_ema is None and trainer.sampling_generator is trainer.generator
    assert "generator_ema" not in trainer.state_dict()


def test_per_step_decay_is_the_other_spelling(image_dataset, make_config) -> None:
    assert run_ema_beta(64, 0.0, 0.999) == 0.999
    assert run_ema_beta(64, 10.0, 0.0) == ema_beta(64, 10.0)
    assert run_ema_beta(64, 0.0, 0.0) == 0.0
    trainer = Trainer(make_config(ema=0.9), image_dataset, torch.device("cpu"))
    assert trainer.ema_beta == 0.9 and trainer.sampling_generator is trainer.generator_ema
    previous = {k: v.clone() for k, v in trainer.generator_ema.named_parameters()}
    trainer.train_step()
    live = dict(trainer.generator.named_parameters())
    for name, value in trainer.generator_ema.named_parameters():
        torch.testing.assert_close(value, 0.9 * previous[name] + 0.1 * live[name].detach())


def test_ema_flag_on_the_command_line(tmp_path, capsys) -> None:
    from ganforge.cli import main

    tiny = ["--model", "mlp", "--data", "toy2d:ring", "--width", "4", "--z-dim", "2", "--batch-size", "8",
            "--device", "cpu", "--no-progress", "--sample-every", "100", "--checkpoint-every", "100"]
    run_dir = tmp_path / "run"
    assert main(["train", "--steps", "2", "--run-dir", str(run_dir), "--ema", "0.99", *tiny]) == 0
    assert "ema: 0.99" in (run_dir / "config.yaml").read_text()
    assert main(["train", "--steps", "2", "--run-dir", str(tmp_path / "bad"), "--ema", "1.5", *tiny]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ema must be a per-step decay in [0, 1)" in err[0]
    assert not (tmp_path / "bad").exists()
