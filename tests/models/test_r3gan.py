"""R3GAN's networks: parameter counts of the paper's configurations, their pieces, conditioning, precision.

Reference counts: the networks of brownvc/R3GAN (``R3GAN/Networks.py`` Generator and Discriminator, built
on the CPU with the keyword arguments its ``train.py`` presets pass: WidthPerStage, CardinalityPerStage,
BlocksPerStage, ExpansionFactor 2, NoiseDimension 64; conditional: ConditionDimension 10 (CIFAR-10) or 1000
(ImageNet), ConditionEmbeddingDimension 64 for G and WidthPerStage[0] for D), counted with
``sum(p.numel() for p in net.parameters())``. docs/ARCHITECTURE.md lists the same numbers.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.models import ModelSpec, build_gan
from ganforge.models.r3gan import (
    ACTIVATION_GAIN,
    R3GANDiscriminator,
    R3GANGenerator,
    Resample,
    ResidualBlock,
    lowpass_kernel,
    stage_widths,
)

# (resolution, width, classes, options) -> (G, D) parameters of the paper's code
REFERENCE = {
    "cifar10": ((32, 768, 0, {}), (20_732_160, 20_683_776)),
    "cifar10-conditional": ((32, 768, 10, {}), (20_781_952, 21_280_512)),
    "ffhq64": ((64, 768, 0, {}), (22_429_824, 22_381_440)),
    "ffhq256": ((256, 768, 0, {}), (23_057_952, 23_009_568)),
    "imagenet64-conditional": ((64, 1536, 1000, {"stage_widths": [1536] * 5, "group_channels": 32}),
                               (103_570_432, 107_205_120)),
}


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def spec(resolution: int = 32, width: int = 16, classes: int = 0, **options: object) -> ModelSpec:
    return ModelSpec("r3gan", 8, resolution, 3, classes, width, dict(options))


@pytest.mark.parametrize("name", list(REFERENCE))
def test_parameter_counts_match_the_papers_code(name: str) -> None:
    (resolution, width, classes, options), (g_ref, d_ref) = REFERENCE[name]
    with torch.device("meta"):  # shapes only: no memory, no init time
        G, D = build_gan(ModelSpec("r3gan", 64, resolution, 3, classes, width, options))
    assert abs(count(G) - g_ref) <= 0.02 * g_ref and abs(count(D) - d_ref) <= 0.02 * d_ref
    assert (count(G), count(D)) == (g_ref, d_ref)  # in fact exactly


def test_no_normalization_layer_and_grouped_convs() -> None:
    G, D = build_gan(spec(64, 32, classes=3))  # 16 channels at 64 px: still two groups
    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    for net in (G, D):
        assert not [m for m in net.modules() if isinstance(m, norms)]
        grouped = [m for m in net.modules() if isinstance(m, nn.Conv2d) and 1 < m.groups < m.in_channels]
        assert len(grouped) == 2 * 5  # one per block: 2 blocks x 5 stages (4..64 px)
        assert all(m.in_channels // m.groups == 16 for m in grouped)  # the paper's channels per group
        assert all(m.bias is None for m in net.modules() if isinstance(m, nn.Conv2d))


def test_default_widths_follow_the_papers_presets() -> None:
    assert stage_widths(spec(256, 768)) == [768, 768, 768, 768, 384, 192, 96]  # FFHQ-256
    assert stage_widths(spec(32, 768)) == [768] * 4  # CIFAR-10
    assert stage_widths(spec(16, 8)) == [8] * 3
    assert stage_widths(spec(64, 8, stage_widths=[32, 16, 16, 8, 8])) == [32, 16, 16, 8, 8]


@pytest.mark.parametrize(("options", "resolution", "width", "message"), [
    ({}, 8, 16, "not 8x8"),
    ({}, 256, 16, "fewer than 8 channels"),
    ({}, 32, 12, "divisible by 8"),
    ({"stage_widths": [8, 8]}, 32, 8, "has 4"),
    ({"stage_widths": [8, 8, 12, 8]}, 32, 8, "multiple of 8"),
    ({"group_channels": 32}, 32, 8, "groups of 32"),
    ({"spectral_norm": True}, 32, 8, "model r3gan has no option 'spectral_norm'"),
])
def test_specs_it_cannot_build_are_refused(options: dict, resolution: int, width: int, message: str) -> None:
    with pytest.raises(GanforgeError, match=message):
        build_gan(spec(resolution, width, **options))


def test_stage_widths_reach_beyond_256_px() -> None:
    G, D = build_gan(ModelSpec("r3gan", 8, 512, 1, 0, 8, {"stage_widths": [8] * 8}))
    image = G(torch.randn(1, 8))
    assert image.shape == (1, 1, 512, 512) and D(image).shape == (1,)


def test_zero_initialized_last_conv_makes_each_block_the_identity() -> None:
    torch.manual_seed(0)
    G, D = build_gan(spec(32, 16))
    blocks = [m for net in (G, D) for m in net.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 16
    for block in blocks:
        assert not block.project.weight.any()
        x = torch.randn(2, block.expand.in_channels, 8, 8)
        assert torch.equal(block(x), x)
        assert block.expand.weight.abs().sum() > 0  # only the last conv is zero
    # the branch is live after a step: the last conv receives a gradient
    x = torch.randn(2, blocks[0].expand.in_channels, 8, 8)
    blocks[0](x).square().sum().backward()
    assert blocks[0].project.weight.grad is not None and blocks[0].project.weight.grad.abs().sum() > 0


def test_fixup_gain_scales_with_the_number_of_blocks() -> None:
    torch.manual_seed(0)
    G = R3GANGenerator(spec(32, 256))  # 4 stages x 2 blocks
    weight = G.stages[3].layers[-1].expand.weight  # 256 -> 512, 1x1: fan-in 256
    expected = ACTIVATION_GAIN * 8 ** (-1 / 4) / math.sqrt(256)
    assert weight.std().item() == pytest.approx(expected, rel=0.02)


def test_resampling_filter() -> None:
    kernel = lowpass_kernel()
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])  # [1, 2, 1] convolved with [1, 1]
    assert kernel.shape == (4, 4)
    torch.testing.assert_close(kernel, torch.outer(taps, taps) / 64)
    x = torch.randn(2, 3, 8, 8)
    up, down = Resample(up=True)(x), Resample(up=False)(x)
    assert up.shape == (2, 3, 16, 16) and down.shape == (2, 3, 4, 4)
    # a low-pass filter keeps a constant image constant (away from the zero-padded border), per channel
    flat = torch.full((1, 2, 8, 8), 0.5)
    assert torch.allclose(Resample(up=True)(flat)[..., 2:-2, 2:-2], flat.new_tensor(0.5))
    assert torch.allclose(Resample(up=False)(flat)[..., 1:-1, 1:-1], flat.new_tensor(0.5))
    # and removes the highest frequency: a checkerboard downsampled is flat
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2.0 - 1
    assert Resample(up=False)(checker.view(1, 1, 8, 8))[..., 1:-1, 1:-1].abs().max() < 1e-6
    assert not [n for n, _ in Resample(up=True).state_dict().items()]  # a fixed filter, not a weight


def test_conditional_forward_shapes_and_class_dependence() -> None:
    torch.manual_seed(0)
    s = spec(16, 16, classes=5)
    G, D = R3GANGenerator(s), R3GANDiscriminator(s)
    for p in D.stages[-1].parameters():  # the zero-init convs make D's output flat; wake it up
        if p.dim() == 4:
            nn.init.normal_(p, 0, 0.1)
    z, labels = torch.randn(4, 8), torch.tensor([0, 1, 2, 4])
    images = G(z, labels)
    assert images.shape == (4, 3, 16, 16)
    scores = D(images, labels)
    assert scores.shape == (4,) and scores.dtype == torch.float32
    assert not torch.allclose(G(z, (labels + 1) % 5), images)
    assert not torch.allclose(D(images, (labels + 1) % 5), scores)
    assert G.embed is not None and G.embed.weight.shape == (5, 8)  # an embedding of z's size
    assert D.class_embed is not None and D.class_embed.weight.shape == (5, 16)  # G's 4x4 width
    with pytest.raises(ValueError, match="conditional"):
        G(z)


def test_bf16_in_the_high_resolution_stages_only_under_autocast() -> None:
    G, D = build_gan(spec(32, 16))
    seen: dict[str, torch.dtype] = {}
    for name, net in (("G", G), ("D", D)):
        for i, stage in enumerate(net.stages):
            stage.register_forward_hook(lambda m, i_, out, key=f"{name}{i}": seen.__setitem__(key, out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        D(G(torch.randn(2, 8)))
    # the code's FP16Stages for 4 stages: G's last 3, D's first 3
    assert seen == {"G0": torch.float32, "G1": torch.bfloat16, "G2": torch.bfloat16, "G3": torch.bfloat16,
                    "D0": torch.bfloat16, "D1": torch.bfloat16, "D2": torch.bfloat16, "D3": torch.float32}
    D(G(torch.randn(2, 8)))
    assert set(seen.values()) == {torch.float32}  # --precision fp32: float32 throughout
