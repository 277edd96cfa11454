"""ADA (--augment ada): identity at p = 0, the transforms' geometry, differentiability, the adaptive p."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganforge.training.ada import GROUPS, AdaptiveP, ada_augment, resample

ALL = GROUPS


def _images(n: int = 6, channels: int = 3, side: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("channels", [1, 3])
def test_p_zero_is_the_identity_bit_for_bit(channels: int) -> None:
    x = _images(channels=channels)
    out = ada_augment(x, 0.0, torch.Generator().manual_seed(1), ALL)
    assert torch.equal(out, x)
    last = x.contiguous(memory_format=torch.channels_last)
    out = ada_augment(last, torch.tensor(0.0), torch.Generator().manual_seed(1), ALL)
    assert torch.equal(out, x) and out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("groups", [("blit",), ("geom",), ("color",), ("cutout",), ALL])
def test_every_group_changes_every_image_at_p_one(groups: tuple[str, ...]) -> None:
    x = _images(n=16)
    out = ada_augment(x, 1.0, torch.Generator().manual_seed(2), groups)
    changed = (out - x).abs().flatten(1).amax(dim=1) > 1e-3
    # a blit can draw the identity (no flip, 0 quarter turns, zero shift): rare, not all 16
    assert changed.float().mean() >= 0.75, changed
    assert torch.isfinite(out).all()


def test_the_same_stream_state_gives_the_same_augmentation() -> None:
    x = _images()
    a = ada_augment(x, 0.5, torch.Generator().manual_seed(3), ALL)
    b = ada_augment(x, 0.5, torch.Generator().manual_seed(3), ALL)
    assert torch.equal(a, b)


@pytest.mark.parametrize("groups", [("blit",), ("geom",), ("color",), ("cutout",), ALL])
def test_gradients_flow_to_the_input_and_match_the_linear_map(groups: tuple[str, ...]) -> None:
    """Each transform is affine in the image for fixed draws: the gradient of <w, aug(x)> is that map's
    transpose, so <grad, d> equals <w, aug(x + d) - aug(x)>."""
    x = _images(channels=3).requires_grad_(True)
    weights, direction = _images(seed=5), _images(seed=6)
    out = ada_augment(x, 0.8, torch.Generator().manual_seed(4), groups)
    (grad,) = torch.autograd.grad((out * weights).sum(), x)
    assert grad.abs().sum() > 0 and torch.isfinite(grad).all()
    moved = ada_augment(x.detach() + direction, 0.8, torch.Generator().manual_seed(4), groups)
    change = ((moved - out.detach()) * weights).sum()
    assert float((grad * direction).sum()) == pytest.approx(float(change), rel=1e-3, abs=1e-3)


def _flip() -> torch.Tensor:
    return torch.tensor([[[-1.0, 0, 0], [0, 1, 0], [0, 0, 1]]])


def test_resample_flips_rotates_and_shifts_by_whole_pixels() -> None:
    x = _images(n=1)
    torch.testing.assert_close(resample(x, _flip()), x.flip(-1), atol=1e-5, rtol=0)
    quarter = torch.tensor([[[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]])  # output pixel -> input pixel
    rotated = resample(x, quarter)
    assert any(torch.allclose(rotated, torch.rot90(x, k, dims=(2, 3)), atol=1e-5) for k in (1, 3))
    shift = torch.tensor([[[1.0, 0, -2], [0, 1, 0], [0, 0, 1]]])  # content moves 2 pixels right
    torch.testing.assert_close(resample(x, shift)[..., 2:], x[..., :-2], atol=1e-5, rtol=0)
    # reflection padding: what comes in from the left edge mirrors the image, no zeros
    torch.testing.assert_close(resample(x, shift)[..., :2], x[..., :2].flip(-1), atol=1e-5, rtol=0)


def test_a_share_of_the_global_batch_augments_as_one_process_would() -> None:
    whole = _images(n=8)
    both = ada_augment(whole, 0.6, torch.Generator().manual_seed(7), ALL)
    second = ada_augment(whole[4:], 0.6, torch.Generator().manual_seed(7), ALL, share=(1, 2))
    torch.testing.assert_close(second, both[4:], atol=1e-6, rtol=0)


def test_grayscale_color_is_the_mean_of_the_rgb_rows() -> None:
    gray = _images(channels=1)
    out = ada_augment(gray, 1.0, torch.Generator().manual_seed(8), ("color",))
    rgb = ada_augment(gray.expand(-1, 3, -1, -1), 1.0, torch.Generator().manual_seed(8), ("color",))
    torch.testing.assert_close(out, rgb.mean(dim=1, keepdim=True), atol=1e-5, rtol=1e-5)


# -- the adaptive p -------------------------------------------------------------------------------------

def _adaptive(p: float = 0.0, **overrides: float) -> AdaptiveP:
    options = {"target": 0.6, "interval": 4, "kimg": 500.0, "batch_size": 64} | overrides
    return AdaptiveP(p, device=torch.device("cpu"), **options)  # type: ignore[arg-type]


def test_p_rises_at_the_paper_speed_while_d_overfits_and_falls_otherwise() -> None:
    ada = _adaptive()
    for step in range(1, 9):  # r_t = 1 > 0.6: two adjustments of 64 * 4 / 500k
        ada.observe(torch.full((64,), 3.0))
        ada.end_step(step)
    assert float(ada.p) == pytest.approx(2 * 64 * 4 / 500_000)
    steps_to_one = math.ceil(500_000 / 64)  # 0 -> 1 in 500k images
    ada = _adaptive(interval=1)
    for step in range(1, steps_to_one + 1):
        ada.observe(torch.ones(64))
        ada.end_step(step)
    assert float(ada.p) == pytest.approx(1.0, abs=1e-3)  # float32 sums, as the reference's
    for step in range(1, 11):
        ada.observe(torch.ones(64))
        ada.end_step(step)
    assert float(ada.p) == 1.0  # clamped
    for step in range(1, 11):  # r_t = -0.2 < 0.6: p falls again
        ada.observe(torch.cat([torch.ones(24), -torch.ones(40)]))
        ada.end_step(step)
    assert float(ada.p) == pytest.approx(1 - 10 * 64 / 500_000)


def test_target_zero_keeps_p_fixed() -> None:
    ada = _adaptive(0.3, target=0.0, interval=1)
    for step in range(1, 5):
        ada.observe(torch.ones(8))
        ada.end_step(step)
    assert float(ada.p) == pytest.approx(0.3)


class ConstantCritic(nn.Module):
    """A D whose score of everything is ``sign``: always 'real' (overfitting) or always 'fake'."""

    def __init__(self, sign: float) -> None:
        super().__init__()
        self.sign = sign
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.sign * self.scale.abs() * (1 + 0 * x.flatten(1).mean(dim=1))


@pytest.mark.parametrize(("sign", "rises"), [(1.0, True), (-1.0, False)])
def test_trainer_adapts_p_against_ds_verdict_on_reals(sign: float, rises: bool, image_dataset, make_config,
                                                     monkeypatch) -> None:
    import ganforge.training.update as update
    from ganforge.models import build_gan

    monkeypatch.setattr(update, "build_gan", lambda spec: (build_gan(spec)[0], ConstantCritic(sign)))
    config = make_config(augment="ada", augment_p=0.5, ada_interval=2, ada_kimg=0.4, steps=8, lr_d=1e-9)
    trainer = update.Trainer(config, image_dataset, torch.device("cpu"))
    ps = [float(trainer.train_step()["augment_p"]) for _ in range(6)]
    step = 4 * 2 / 400
    expected = [0.5, 0.5 + step, 0.5 + step, 0.5 + 2 * step, 0.5 + 2 * step, 0.5 + 3 * step] if rises else \
        [0.5, 0.5 - step, 0.5 - step, 0.5 - 2 * step, 0.5 - 2 * step, 0.5 - 3 * step]
    assert ps == pytest.approx(expected)
    assert trainer.state_dict()["ada"]["p"] == pytest.approx(expected[-1])


def test_a_run_logs_and_plots_p(tmp_path, tiny_data) -> None:
    import csv

    from ganforge.cli import main

    run_dir = tmp_path / "run"
    assert main(["train", "--steps", "4", "--width", "8", "--batch-size", "4", "--z-dim", "8", "--log-every", "1",
                 "--no-progress", "--device", "cpu", "--run-dir", str(run_dir), "--augment", "ada",
                 "--ada-interval", "1", "--ada-kimg", "0.1"]) == 0
    with open(run_dir / "history.csv", newline="") as handle:
        ps = [float(row["augment_p"]) for row in csv.DictReader(handle)]
    assert len(ps) == 4 and all(0.0 <= p <= 1.0 for p in ps)
    assert (run_dir / "augment_p.png").stat().st_size > 1000
