"""Mixed precision: penalties and spectral norm stay float32, fp16 uses loss scaling, runs stay finite.

The penalty tests compare ganforge's gradient penalty / R1 under autocast with a naive AMP implementation
(the interpolate's input gradient taken inside autocast, as most hand-written AMP loops do) on critics
where half precision demonstrably breaks: the naive value overflows to inf/NaN (fp16) or is visibly off
(bf16), while ganforge's equals the float32 reference.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganforge import regularizers
from ganforge.regularizers import gradient_penalty, r1_penalty
from ganforge.training import precision as precision_module
from ganforge.training.precision import Float32SpectralNorm, Precision, float32_spectral_norm

SIDE, HIDDEN, GAIN = 8, 4, 300.0


class Critic(nn.Module):
    """A two-layer linear critic whose input gradient is huge while its scores are tiny.

    Input gradient: every pixel gets +-HIDDEN * GAIN**2 = +-360000 (beyond fp16's 65504), but on images
    of constant intensity (blank backgrounds) the alternating signs cancel and the score is exactly 0:
    nothing in the forward pass is out of fp16 range, only the gradient the penalty squares.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(SIDE * SIDE, HIDDEN, bias=False)
        self.out = nn.Linear(HIDDEN, 1, bias=False)
        signs = torch.ones(SIDE * SIDE)
        signs[1::2] = -1
        with torch.no_grad():
            self.hidden.weight.copy_(GAIN * signs.expand(HIDDEN, -1))
            self.out.weight.fill_(GAIN)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.hidden(x.flatten(1))).squeeze(1)


def blank_images(value: float, num: int = 4) -> torch.Tensor:
    return torch.full((num, 1, SIDE, SIDE), value)


def naive_input_grad(critic, x: torch.Tensor, labels=None) -> torch.Tensor:
    """What a hand-written AMP loop does: D and its input gradient under the caller's autocast."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x, labels).sum(), x, create_graph=True)
    return grad.reshape(len(grad), -1)


def naive_gradient_penalty(critic, real, fake, weight, generator) -> torch.Tensor:
    alpha = torch.rand((len(real), 1, 1, 1), generator=generator, dtype=torch.float32)
    grad = naive_input_grad(critic, alpha * real + (1 - alpha) * fake)
    return weight * (grad.norm(2, dim=1) - 1).pow(2).mean()


def seeded() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_fp16_gradient_penalty_overflows_naively_but_not_in_ganforge():
    critic, real, fake = Critic(), blank_images(0.5), blank_images(-0.25)
    reference = gradient_penalty(critic, real, fake, 10.0, generator=seeded())
    assert torch.isfinite(reference) and reference > 1e11  # large but representable in float32
    with torch.autocast("cpu", dtype=torch.float16):
        assert critic(real).abs().max() == 0  # the forward pass itself is fine in fp16
        naive = naive_gradient_penalty(critic, real, fake, 10.0, seeded())
        ours = gradient_penalty(critic, real, fake, 10.0, generator=seeded())
    assert not torch.isfinite(naive)
    assert torch.isfinite(ours) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, reference, rtol=1e-6, atol=0)
    ours.backward()  # the penalty's double backward stays finite too
    assert all(torch.isfinite(p.grad).all() for p in critic.parameters())


def test_fp16_r1_overflows_naively_but_not_in_ganforge():
    critic, real = Critic(), blank_images(0.5)
    reference = r1_penalty(critic, real, 1.0)
    with torch.autocast("cpu", dtype=torch.float16):
        naive = 0.5 * naive_input_grad(critic, real).pow(2).sum(dim=1).mean()
        ours = r1_penalty(critic, real, 1.0)
    assert not torch.isfinite(naive)
    torch.testing.assert_close(ours, reference, rtol=1e-6, atol=0)


def test_bf16_gradient_penalty_matches_float32_where_naive_is_off(image_dataset, make_config):
    from ganforge.models import build_gan
    from ganforge.training.model_spec import model_spec

    torch.manual_seed(0)
    _, critic = build_gan(model_spec(make_config(), image_dataset))  # DCGAN critic with BatchNorm
    real, fake = torch.rand(8, 1, 32, 32) * 2 - 1, torch.rand(8, 1, 32, 32) * 2 - 1
    reference = gradient_penalty(critic, real, fake, 10.0, generator=seeded())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        naive = naive_gradient_penalty(critic, real, fake, 10.0, seeded())
        ours = gradient_penalty(critic, real, fake, 10.0, generator=seeded())
    assert abs(naive.item() - reference.item()) > 1e-3 * reference.item()  # bf16's 8-bit mantissa shows
    torch.testing.assert_close(ours, reference, rtol=1e-6, atol=0)


def test_spectral_norm_power_iteration_runs_without_autocast(monkeypatch):
    from torch.nn.utils.parametrizations import spectral_norm

    layers = nn.Sequential(spectral_norm(nn.Linear(6, 5)), nn.ReLU(), spectral_norm(nn.Conv2d(2, 3, 3)))
    assert float32_spectral_norm(layers) == 2
    assert all(isinstance(m, Float32SpectralNorm) for m in (layers[0].parametrizations.weight[0],
                                                             layers[2].parametrizations.weight[0]))
    autocast_seen: list[bool] = []
    real_mv = torch.mv

    def spy(*args, **kwargs):
        autocast_seen.append(torch.is_autocast_enabled("cpu"))
        return real_mv(*args, **kwargs)

    monkeypatch.setattr(torch, "mv", spy)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        weight = layers[0].weight
    assert autocast_seen and not any(autocast_seen)
    assert weight.dtype == torch.float32
    # the swap keeps state_dict keys, so checkpoints load either way
    assert "0.parametrizations.weight.original" in layers.state_dict()


def test_fp16_on_cpu_says_it_is_emulated(capsys):
    Precision("fp16", torch.device("cpu"))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fp16 on CPU" in err and "bf16" in err
    Precision("bf16", torch.device("cpu"))
    assert capsys.readouterr().err == ""


def test_fp16_uses_one_scaler_per_optimizer():
    amp = Precision("fp16", torch.device("cpu"))
    assert amp.scaler_d is not amp.scaler_g and amp.scaler_d.is_enabled()
    assert not Precision("bf16", torch.device("cpu")).scaler_d.is_enabled()
    # an overflowing D step is skipped and halves D's scale only
    param = nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([param], lr=0.1)
    before_g = amp.scaler_g.get_scale()
    amp.backward_and_step((param * float("inf")).sum(), opt, amp.scaler_d)
    assert torch.equal(param.detach(), torch.ones(3))
    assert amp.scaler_d.get_scale() == before_g / 2 and amp.scaler_g.get_scale() == before_g


def test_unknown_precision_is_rejected():
    with pytest.raises(ValueError, match="fp32, bf16, fp16"):
        Precision("fp8", torch.device("cpu"))


def test_naive_helper_really_differs_from_the_library(monkeypatch):
    """Guard for the tests above: swapping the library's float32 gradient for the naive one reproduces
    the overflow, so it is the float32 path (not the critic) that keeps ganforge's penalty finite."""
    monkeypatch.setattr(regularizers, "_float32_grad", naive_input_grad)
    critic, real, fake = Critic(), blank_images(0.5), blank_images(-0.25)
    with torch.autocast("cpu", dtype=torch.float16):
        value = gradient_penalty(critic, real, fake, 10.0, generator=seeded())
    assert not math.isfinite(value.item())
    assert precision_module.DTYPES["fp16"] is torch.float16


# -- in the training step --------------------------------------------------------------------------------

class BlankGenerator(nn.Module):
    """Fakes of one intensity per sample, so the constructed critic scores them 0 like the real blanks."""

    def __init__(self, z_dim: int, side: int) -> None:
        super().__init__()
        self.z_dim, self.num_classes, self.side = z_dim, 0, side
        self.level = nn.Linear(z_dim, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.level(z)).view(-1, 1, 1, 1).expand(-1, 1, self.side, self.side)


class WideCritic(Critic):
    def __init__(self, side: int) -> None:
        nn.Module.__init__(self)
        self.hidden = nn.Linear(side * side, HIDDEN, bias=False)
        self.out = nn.Linear(HIDDEN, 1, bias=False)
        signs = torch.ones(side * side)
        signs[1::2] = -1
        with torch.no_grad():
            self.hidden.weight.copy_(GAIN * signs.expand(HIDDEN, -1))
            self.out.weight.fill_(GAIN)


def blank_trainer(monkeypatch, make_config, precision: str):
    import ganforge.training.update as update
    from ganforge.data import TensorDataset

    side = 32
    levels = torch.arange(16, dtype=torch.uint8) * 16
    data = levels.view(-1, 1, 1, 1).expand(-1, 1, side, side).contiguous()
    dataset = TensorDataset(data, torch.zeros(16, dtype=torch.long), num_classes=0, name="blank")
    monkeypatch.setattr(update, "build_gan", lambda spec: (BlankGenerator(spec.z_dim, side), WideCritic(side)))
    config = make_config(loss="wasserstein", gp=10.0, precision=precision, n_critic=2)
    return update.Trainer(config, dataset, torch.device("cpu"))


def test_fp16_wgan_gp_training_recovers_where_naive_amp_is_stuck(monkeypatch, make_config):
    """fp16 with loss scaling: the first D steps overflow in D's fp16 backward and are skipped while the
    scale backs off, then D trains, with a finite penalty throughout. A penalty computed inside autocast
    is inf at every step, so every D step is skipped and D never moves.

    (G's steps are skipped too: G's gradient passes through this critic's 360,000-per-pixel input
    gradient in fp16. That is loss scaling's regime, not the penalty's, and the same in both runs.)"""
    trainer = blank_trainer(monkeypatch, make_config, "fp16")
    before = [p.detach().clone() for p in trainer.discriminator.parameters()]
    for _ in range(8):  # 16 D steps: the scale halves ~9 times before D's gradients fit in fp16
        scalars = trainer.train_step()
        assert all(torch.isfinite(value) for value in scalars.values()), scalars
        assert scalars["penalty_gp"] > 1e11  # the true (float32) penalty of this critic: huge, not inf
    after = list(trainer.discriminator.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))

    # the same steps with the penalty computed the naive way: inside autocast, no float32 re-run
    import ganforge.training.update as update

    original = update.penalty_terms

    def penalty_inside_autocast(*args):
        with torch.autocast("cpu", dtype=torch.float16):
            return original(*args)

    monkeypatch.setattr(update, "penalty_terms", penalty_inside_autocast)
    monkeypatch.setattr(regularizers, "_float32_grad", naive_input_grad)
    naive = blank_trainer(monkeypatch, make_config, "fp16")
    for _ in range(8):
        assert not torch.isfinite(naive.train_step()["penalty_gp"])
    stuck = list(naive.discriminator.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, stuck, strict=True))


def test_bf16_wgan_gp_run_with_spectral_norm_logs_finite_values(tmp_path, tiny_data):
    import csv

    from ganforge.cli import main

    run_dir = tmp_path / "run"
    assert main(["train", "--width", "8", "--batch-size", "4", "--z-dim", "8", "--steps", "4", "--log-every", "1",
                 "--loss", "wasserstein", "--gp", "10", "--n-critic", "2", "--spectral-norm", "--precision", "bf16",
                 "--no-progress", "--device", "cpu", "--run-dir", str(run_dir)]) == 0
    with open(run_dir / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    for row in rows:
        for column in ("loss_d", "loss_g", "penalty_gp"):
            assert math.isfinite(float(row[column])), row


def test_fp16_resume_is_exact_including_the_loss_scalers(tmp_path, tiny_data):
    from ganforge.cli import main

    flags = ["--width", "8", "--batch-size", "4", "--z-dim", "8", "--log-every", "1", "--precision", "fp16",
             "--loss", "hinge", "--no-progress", "--device", "cpu"]
    full, split = tmp_path / "full", tmp_path / "split"
    assert main(["train", *flags, "--steps", "4", "--run-dir", str(full)]) == 0
    assert main(["train", *flags, "--steps", "2", "--run-dir", str(split)]) == 0
    assert main(["train", *flags, "--steps", "4", "--run-dir", str(split), "--resume"]) == 0
    a = torch.load(full / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(split / "checkpoints" / "last.pt", weights_only=True)
    # at this tiny size the first fp16 steps overflow and halve the scales: a resume that restarted the
    # scalers would end on a larger scale
    assert a["scalers"]["scaler_d"]["scale"] < 2.0**16
    assert a["scalers"] == b["scalers"]
    for part in ("generator", "discriminator"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), key
