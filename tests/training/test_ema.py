"""EMA of G: the decay from the half-life, the update formula, and what the run does with it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.training.ema import (
    STANDING_BATCHES,
    STANDING_SEED_OFFSET,
    batch_norm_buffer_names,
    ema_beta,
    half_life_images,
    make_ema,
    ramped_beta,
    run_ema_beta,
    standing_latents,
    standing_statistics,
    update_ema,
)
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
    # the plain formula: no ramp-up, G's BatchNorm statistics copied (ramp-up and standing statistics
    # have tests of their own below)
    trainer = Trainer(make_config(ema_kimg=0.1, ema_rampup=0, ema_bn="live"), image_dataset, torch.device("cpu"))
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


def test_the_default_recipe_keeps_an_ema_and_a_paper_preset_does_not(image_dataset, make_config) -> None:
    default = Trainer(make_config(), image_dataset, torch.device("cpu"))
    assert default.generator_ema is not None and default.sampling_generator is default.generator_ema
    assert "generator_ema" in default.state_dict()
    paper = Trainer(make_config(preset="dcgan", batch_size=4), image_dataset, torch.device("cpu"))
    assert paper.generator_ema is None and paper.sampling_generator is paper.generator
    assert "generator_ema" not in paper.state_dict()


def test_per_step_decay_is_the_other_spelling(image_dataset, make_config) -> None:
    assert run_ema_beta(64, 0.0, 0.999) == 0.999
    assert run_ema_beta(64, 10.0, 0.0) == ema_beta(64, 10.0)
    assert run_ema_beta(64, 0.0, 0.0) == 0.0
    trainer = Trainer(make_config(ema=0.9, ema_rampup=0), image_dataset, torch.device("cpu"))
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


def test_ramp_up_is_stylegan2_adas() -> None:
    beta = ema_beta(64, 10.0)  # half-life 10,000 images
    assert half_life_images(64, beta) == pytest.approx(10_000)
    assert ramped_beta(beta, 64, 0, 0.05) == 0.0  # the first update copies G
    # early on the half-life is 5 % of the images seen: 64,000 images -> 3,200
    assert ramped_beta(beta, 64, 64_000, 0.05) == pytest.approx(0.5 ** (64 / 3_200))
    assert ramped_beta(beta, 64, 64_000, 0.05) < beta
    assert ramped_beta(beta, 64, 400_000, 0.05) == pytest.approx(beta)  # 5 % of it is past the half-life
    assert ramped_beta(beta, 64, 0, 0.0) == beta  # 0 = off
    assert ramped_beta(0.0, 64, 1000, 0.05) == 0.0  # EMA off stays off


def test_trainer_ramps_the_decay_up(image_dataset, make_config) -> None:
    trainer = Trainer(make_config(ema=0.999, ema_rampup=0.05, ema_bn="live"), image_dataset,
                      torch.device("cpu"))
    trainer.train_step()  # no image seen before it: the copy becomes G
    live = dict(trainer.generator.named_parameters())
    for name, value in trainer.generator_ema.named_parameters():
        torch.testing.assert_close(value, live[name].detach(), rtol=0, atol=0)
    before = {k: v.clone() for k, v in trainer.generator_ema.named_parameters()}
    trainer.train_step()  # 4 images seen: half-life min(693 steps, 0.2 images) -> beta 0.5 ** 20
    beta = 0.5 ** (4 / 0.2)
    live = dict(trainer.generator.named_parameters())
    for name, value in trainer.generator_ema.named_parameters():
        torch.testing.assert_close(value, beta * before[name] + (1 - beta) * live[name].detach())


def _bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2), nn.BatchNorm1d(2))


def test_batch_norm_statistics_averaged_or_left_for_standing() -> None:
    model = _bn_model()
    averaged, standing = make_ema(model), make_ema(model)
    old_mean = averaged[1].running_mean.clone()
    model.train()
    model(torch.randn(16, 3) * 3 + 1)  # moves G's statistics
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    update_ema(averaged, model, 0.75, bn="averaged")
    update_ema(standing, model, 0.75, bn="standing")
    torch.testing.assert_close(averaged[1].running_mean, 0.75 * old_mean + 0.25 * model[1].running_mean)
    assert averaged[1].num_batches_tracked == model[1].num_batches_tracked == 1
    torch.testing.assert_close(standing[1].running_mean, old_mean)  # left for the standing pass
    assert standing[1].num_batches_tracked == 0
    torch.testing.assert_close(standing[0].weight, averaged[0].weight)  # weights averaged alike
    with pytest.raises(ValueError):
        update_ema(standing, model, 0.5, bn="mean")


class _Net(nn.Module):
    """A generator-shaped wrapper: ``forward(z, labels)``."""

    def __init__(self) -> None:
        super().__init__()
        self.net = _bn_model()

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)


def test_standing_statistics_are_the_batches_population_statistics() -> None:
    model = _Net().eval()
    first = model.net[1]
    first.momentum = 0.3
    batches = standing_latents(3, 32, seed=7, device=torch.device("cpu"))
    assert len(batches) == STANDING_BATCHES
    rng_before = torch.get_rng_state()
    standing_statistics(model, batches)
    assert torch.equal(torch.get_rng_state(), rng_before)  # its latents come from a generator of its own
    with torch.no_grad():
        hidden = [model.net[0](z) for z, _ in batches]
    torch.testing.assert_close(first.running_mean, torch.stack([h.mean(0) for h in hidden]).mean(0))
    torch.testing.assert_close(first.running_var, torch.stack([h.var(0) for h in hidden]).mean(0))
    assert not model.training and not first.training and first.momentum == 0.3
    assert "forward" not in vars(first)
    # a fixed seeded set: the same latents every time, so the statistics are a function of the weights
    again = standing_latents(3, 32, seed=7, device=torch.device("cpu"))
    assert all(torch.equal(a, b) for (a, _), (b, _) in zip(batches, again, strict=True))
    stats = first.running_var.clone()
    standing_statistics(model, again)
    torch.testing.assert_close(first.running_var, stats, rtol=0, atol=0)


def test_conditional_standing_latents_follow_the_training_labels() -> None:
    labels = torch.tensor([3] * 90 + [1] * 10)
    batches = standing_latents(2, 200, seed=0, device=torch.device("cpu"), labels=labels, num_batches=5)
    drawn = torch.cat([lab for _, lab in batches])
    assert set(drawn.tolist()) == {1, 3} and 0.8 < float((drawn == 3).float().mean()) < 0.97


def test_trainer_prepares_standing_statistics_before_sampling(image_dataset, make_config) -> None:
    trainer = Trainer(make_config(ema=0.9, ema_bn="standing"), image_dataset, torch.device("cpu"))
    for _ in range(2):
        trainer.train_step()
    streams = (trainer.noise_rng.get_state(), trainer.aux_rng.get_state(), torch.get_rng_state())
    expected = make_ema(trainer.generator_ema)
    standing_statistics(expected, standing_latents(8, 4, seed=0 + STANDING_SEED_OFFSET, device=torch.device("cpu")))
    sampler = trainer.sampling_generator
    assert sampler is trainer.generator_ema
    norms = [name for name in batch_norm_buffer_names(sampler) if name.endswith("running_var")]
    assert norms
    for name, value in expected.named_buffers():
        torch.testing.assert_close(dict(sampler.named_buffers())[name], value, rtol=0, atol=0)
    # the training streams are untouched, and the checkpoint holds exactly what is sampled and saved
    after = (trainer.noise_rng.get_state(), trainer.aux_rng.get_state(), torch.get_rng_state())
    assert all(torch.equal(a, b) for a, b in zip(streams, after, strict=True))
    state = trainer.state_dict()["generator_ema"]
    for name, value in sampler.state_dict().items():
        assert torch.equal(state[name], value)
    prepared = dict(sampler.named_buffers())[norms[0]].clone()
    trainer.train_step()
    assert not torch.equal(dict(trainer.sampling_generator.named_buffers())[norms[0]], prepared)
