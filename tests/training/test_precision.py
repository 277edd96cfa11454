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

from ganforge import losses
from ganforge.losses import gradient_penalty, r1_penalty
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
    from ganforge.training.loop import model_spec

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
    monkeypatch.setattr(losses, "_float32_grad", naive_input_grad)
    critic, real, fake = Critic(), blank_images(0.5), blank_images(-0.25)
    with torch.autocast("cpu", dtype=torch.float16):
        value = gradient_penalty(critic, real, fake, 10.0, generator=seeded())
    assert not math.isfinite(value.item())
    assert precision_module.DTYPES["fp16"] is torch.float16
