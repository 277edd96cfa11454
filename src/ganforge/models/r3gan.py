"""R3GAN (Huang et al., NeurIPS 2024, "The GAN is dead; long live the GAN!"): the modernized ResNet.

The networks of the paper's code (``R3GAN/Networks.py`` with the presets of its ``train.py``); the loss
is ganforge's ``--loss rpgan --r1 G --r2 G`` and the schedules are presets (``ganforge.presets``).

- Stages, one per resolution from 4x4 up; each holds ``BLOCKS_PER_STAGE`` residual blocks. A block is a
  1x1 conv expanding the channels ``EXPANSION`` times, a grouped 3x3 conv with ``GROUP_CHANNELS`` = 16
  channels per group (the code's cardinality 96 at 1536 expanded channels, 48 at 768, ...; its ImageNet
  presets keep 96 groups at 3072 channels: ``--group-channels 32``), a 1x1 conv back, each of
  the first two followed by a leaky ReLU (0.2) with a learned bias. Convs have no bias of their own, and
  there is no normalization layer anywhere.
- Fix-up style initialization: He (MSR) weights with gain sqrt(2 / (1 + 0.2^2)) * L^(-1/4), L the total
  number of blocks of the network, on the first two convs of a block; the block's last conv starts at
  zero, so every block is the identity at initialization.
- Resampling: a fixed low-pass filter built from [1, 2, 1] (convolved with the box [1, 1]: the 4-tap
  [1, 3, 3, 1], outer product, normalised), applied depthwise as a stride-2 transposed conv (up, gain 4)
  or a stride-2 conv (down), as upfirdn2d's upsample2d / downsample2d do. A 1x1 conv changes the
  channel count where two stages differ: before upsampling in G, after downsampling in D.
- G: z (concatenated with a class embedding of z's size when conditional) scales a learned 4x4 basis
  channel-wise through a linear map; a 1x1 conv makes the image. D: a 1x1 conv from the image, the
  stages, then a depthwise 4x4 conv and a linear layer (the discriminative basis) to one score, or,
  when conditional, to an embedding that is projected onto a class embedding (projection D).
- Widths per stage: ``--width`` up to 32x32, halved per doubling above (the code's CIFAR-10, FFHQ and
  ImageNet-32 presets); ``--stage-widths`` lists them explicitly (the ImageNet-64 preset: 1536 at
  every stage; or resolutions above 256 px).
- Precision: the code runs G's highest-resolution stages (all but the 4x4 one, at most four) and D's
  mirror-image stages in bfloat16, the rest in float32. Here, under ``--precision bf16`` (or ``auto``
  where the device has bf16), those stages run under autocast and the others with autocast switched off,
  as in the paper; under ``--precision fp32`` everything is float32.

Deliberate differences from the paper's code: G's output is the 1x1 conv's, unbounded, as in the code
(no tanh); ganforge clamps it to [-1, 1] where images are made (``to_uint8``). The class embedding of G is
an ``nn.Embedding`` (the code: a bias-free linear map of a one-hot vector, the same function and count).
Under bf16 autocast the matmuls of the bf16 stages run in bf16 while autocast keeps some ops (e.g. the
sums of the residual connections) in float32 where the code casts the whole stage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.models.base import PACK, ModelFamily, ModelSpec, check_image_spec, pack_factor
from ganforge.models.layers import ProjectionDiscriminator, class_labels
from ganforge.options import OptionSpec

RESOLUTIONS = (16, 32, 64, 128, 256)  # the sizes the default width rule covers; --stage-widths goes higher
CONFIGURED_RESOLUTIONS = (512, 1024)
BLOCKS_PER_STAGE = 2
EXPANSION = 2
GROUP_CHANNELS = 16
FULL_WIDTH_UNTIL = 32  # stages up to this size keep --width; above, the width halves per doubling
MAX_BF16_STAGES = 4  # the code's FP16Stages: the last 3 (CIFAR-10, 4 stages) or 4 of G, mirrored in D
SLOPE = 0.2
ACTIVATION_GAIN = math.sqrt(2 / (1 + SLOPE**2))  # He gain of a leaky ReLU with slope 0.2
RESAMPLE_TAPS = (1.0, 2.0, 1.0)
MAX_WIDTH = 2048  # the ImageNet presets' 1536 fits
OPTIONS = (
    OptionSpec("stage_widths", "ints", None, "channels per stage, 4x4 first, comma list (default: --width up to "
               "32x32, halved per doubling above)", minimum=1, maximum=MAX_WIDTH * 4, flag=True,
               metavar="C,C,..."),
    OptionSpec("group_channels", "int", GROUP_CHANNELS, "channels per group of the grouped 3x3 convs (the paper's "
               "code: 16; its ImageNet presets: 32)", minimum=1, maximum=4096, flag=True,
               metavar="N"),
    PACK,
)


# -- the widths a spec asks for --------------------------------------------------------------------

def num_stages(resolution: int) -> int:
    return int(math.log2(resolution)) - 1  # 4x4 .. resolution


def stage_widths(spec: ModelSpec) -> list[int]:
    """Channels of each stage, 4x4 first: ``spec.options['stage_widths']`` or the paper's rule."""
    given = spec.options.get("stage_widths")
    if given is not None:
        return [int(w) for w in given]
    sizes = [4 * 2**i for i in range(num_stages(spec.resolution))]
    return [spec.width if size <= FULL_WIDTH_UNTIL else spec.width * FULL_WIDTH_UNTIL // size for size in sizes]


def group_channels(spec: ModelSpec) -> int:
    """Channels per group of the grouped 3x3 convs: the code's 16 (its ImageNet presets: 32)."""
    return int(spec.options.get("group_channels", GROUP_CHANNELS))


def check(spec: ModelSpec) -> None:
    check_stage_widths(spec)
    per_group = group_channels(spec)
    uneven = [w for w in stage_widths(spec) if (w * EXPANSION) % per_group]
    if uneven:
        raise GanforgeError(f"r3gan's grouped convs split {EXPANSION} x each stage width into groups of {per_group} "
                            f"channels, which {uneven} do not allow; pick widths whose double is a multiple of "
                            f"{per_group} or another --group-channels")


def check_stage_widths(spec: ModelSpec) -> None:
    given = spec.options.get("stage_widths")
    if given is None and spec.resolution in CONFIGURED_RESOLUTIONS:
        raise GanforgeError(f"r3gan builds {spec.resolution}x{spec.resolution} images with --stage-widths only "
                            f"({num_stages(spec.resolution)} channel counts, 4x4 first, e.g. "
                            f"{','.join(['64'] * num_stages(spec.resolution))})")
    if given is None:
        check_image_spec(spec, OPTIONS, RESOLUTIONS, MAX_WIDTH)
        if spec.width % 8:
            raise GanforgeError(f"r3gan needs --width divisible by 8 (its grouped convs take {GROUP_CHANNELS} "
                                f"channels per group of 2 x width), got {spec.width}")
        if min(stage_widths(spec)) < 8:
            raise GanforgeError(f"--width {spec.width} leaves fewer than 8 channels at {spec.resolution} px "
                                f"(the width halves per doubling above {FULL_WIDTH_UNTIL} px); pass a larger "
                                "--width or --stage-widths")
        return
    check_image_spec(spec, OPTIONS, RESOLUTIONS + CONFIGURED_RESOLUTIONS, MAX_WIDTH)
    if not isinstance(given, list) or not all(isinstance(w, int) and not isinstance(w, bool) for w in given):
        raise GanforgeError(f"stage_widths must be a list of whole numbers, got {given!r}")
    expected = num_stages(spec.resolution)
    if len(given) != expected:
        raise GanforgeError(f"--stage-widths lists {len(given)} stages, but {spec.resolution} px has {expected} "
                            f"(4x4 up to {spec.resolution}x{spec.resolution}); give {expected} numbers")
    if any(w < 8 or w % 8 for w in given):
        raise GanforgeError(f"every stage width must be a multiple of 8 (>= 8), got {given}")


# -- layers ----------------------------------------------------------------------------------------

def msr_init(layer: nn.Conv2d | nn.Linear, gain: float = 1.0) -> None:
    """He init: weights N(0, gain / sqrt(fan_in)); a gain of 0 zeroes the layer (a block's last conv)."""
    fan_in = layer.weight[0].numel()
    with torch.no_grad():
        layer.weight.normal_(0.0, gain / math.sqrt(fan_in)) if gain else layer.weight.zero_()


def conv(c_in: int, c_out: int, kernel: int, gain: float = 1.0, groups_: int = 1) -> nn.Conv2d:
    layer = nn.Conv2d(c_in, c_out, kernel, padding=(kernel - 1) // 2, groups=groups_, bias=False)
    msr_init(layer, gain)
    return layer


class BiasedLeakyReLU(nn.Module):
    """x + b, then leaky ReLU 0.2: the only biases of the network (its convs have none)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.bias.to(x.dtype).view(1, -1, 1, 1), SLOPE)


class ResidualBlock(nn.Module):
    """x + conv1x1(act(grouped conv3x3(act(conv1x1(x))))), the last conv zero at initialization."""

    def __init__(self, channels: int, total_blocks: int, per_group: int = GROUP_CHANNELS) -> None:
        super().__init__()
        expanded = channels * EXPANSION
        # Fix-up: three linear layers per branch, so the variance of L branches adds up to O(1) when each
        # of the two scaled layers has its gain times L^(-1 / (2 * 3 - 2)).
        gain = ACTIVATION_GAIN * total_blocks ** (-1 / 4)
        self.expand = conv(channels, expanded, 1, gain)
        self.act1 = BiasedLeakyReLU(expanded)
        self.grouped = conv(expanded, expanded, 3, gain, expanded // per_group)
        self.act2 = BiasedLeakyReLU(expanded)
        self.project = conv(expanded, channels, 1, gain=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.act2(self.grouped(self.act1(self.expand(x)))))


def lowpass_kernel(taps: Sequence[float] = RESAMPLE_TAPS) -> torch.Tensor:
    """The 2-D resampling filter: ``taps`` convolved with [1, 1], outer product, summing to 1 (4x4)."""
    row = torch.tensor([0.0, *taps]) + torch.tensor([*taps, 0.0])
    kernel = row[:, None] * row[None, :]
    return kernel / kernel.sum()


class Resample(nn.Module):
    """Depthwise low-pass 2x up (transposed conv, gain 4 to keep the mean) or 2x down (strided conv)."""

    kernel: torch.Tensor

    def __init__(self, up: bool) -> None:
        super().__init__()
        self.up = up
        # not persistent: a fixed filter, rebuilt from RESAMPLE_TAPS, not a weight of the saved files
        self.register_buffer("kernel", lowpass_kernel() * (4.0 if up else 1.0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        size = self.kernel.shape[0]
        weight = self.kernel.to(x.dtype).expand(channels, 1, size, size)
        pad = len(RESAMPLE_TAPS) // 2
        if self.up:
            return F.conv_transpose2d(x, weight, stride=2, padding=pad, groups=channels)
        return F.conv2d(x, weight, stride=2, padding=pad, groups=channels)


class Stage(nn.Module):
    """Layers run in order; ``float32`` stages switch autocast off, as the code keeps them out of bf16."""

    def __init__(self, layers: list[nn.Module], float32: bool) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.float32 = float32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device = x.device.type
        if self.float32 and torch.is_autocast_enabled(device):
            with torch.autocast(device, enabled=False):
                return self.layers(x.float())
        return self.layers(x)


class GenerativeBasis(nn.Module):
    """A learned 4x4 basis per channel, scaled channel-wise by a linear map of the input vector."""

    def __init__(self, in_features: int, channels: int) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, 4, 4))
        self.linear = nn.Linear(in_features, channels, bias=False)
        msr_init(self.linear)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.basis[None].to(z.dtype) * self.linear(z)[:, :, None, None]


class DiscriminativeBasis(nn.Module):
    """A depthwise 4x4 conv (4x4 -> 1x1 per channel), then a linear layer to ``out_features``."""

    def __init__(self, channels: int, out_features: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 4, groups=channels, bias=False)
        self.linear = nn.Linear(channels, out_features, bias=False)
        msr_init(self.depthwise)
        msr_init(self.linear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.depthwise(x).flatten(1))


def bf16_stages(n: int) -> int:
    return min(n - 1, MAX_BF16_STAGES)


def transition(c_in: int, c_out: int, up: bool) -> list[nn.Module]:
    """A stage change: resample, with a 1x1 conv on the low-resolution side when the widths differ."""
    resample: list[nn.Module] = [Resample(up)]
    if c_in == c_out:
        return resample
    return [conv(c_in, c_out, 1), *resample] if up else [*resample, conv(c_in, c_out, 1)]


class R3GANGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.z_dim = spec.z_dim
        self.num_classes = spec.num_classes
        widths = stage_widths(spec)
        total = BLOCKS_PER_STAGE * len(widths)
        blocks = [[ResidualBlock(w, total, group_channels(spec)) for _ in range(BLOCKS_PER_STAGE)] for w in widths]
        # the code's ConditionEmbeddingDimension of G is the noise dimension
        self.embed = nn.Embedding(spec.num_classes, spec.z_dim) if spec.num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 1 / math.sqrt(spec.num_classes))
        first_bf16 = len(widths) - bf16_stages(len(widths))
        stages = [Stage([GenerativeBasis(spec.z_dim * (2 if self.embed else 1), widths[0]), *blocks[0]], True)]
        stages += [Stage([*transition(widths[i - 1], widths[i], up=True), *blocks[i]], float32=i < first_bf16)
                   for i in range(1, len(widths))]
        self.stages = nn.ModuleList(stages)
        self.to_image = conv(widths[-1], spec.channels, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = class_labels(labels, z.shape[0], self.num_classes, "r3gan generator")
        if self.embed is not None and labels is not None:
            z = torch.cat([z, self.embed(labels).to(z.dtype)], dim=1)
        x = z
        for stage in self.stages:
            x = stage(x)
        return self.to_image(x)


class R3GANDiscriminator(ProjectionDiscriminator):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec.channels, pack_factor(spec), spec.num_classes, "r3gan discriminator")
        widths = stage_widths(spec)[::-1]  # highest resolution first
        total = BLOCKS_PER_STAGE * len(widths)
        self.from_image = conv(self.in_channels, widths[0], 1)
        # the code's ConditionEmbeddingDimension of D is the width of G's first (4x4) stage
        out_features = widths[-1] if spec.num_classes else 1
        n_bf16 = bf16_stages(len(widths))
        stages = []
        for i, width in enumerate(widths):
            blocks: list[nn.Module] = [ResidualBlock(width, total, group_channels(spec))
                                      for _ in range(BLOCKS_PER_STAGE)]
            last = i == len(widths) - 1
            tail = [DiscriminativeBasis(width, out_features)] if last else transition(width, widths[i + 1], up=False)
            stages.append(Stage([*blocks, *tail], float32=i >= n_bf16))
        self.stages = nn.ModuleList(stages)
        self.class_embed = nn.Embedding(spec.num_classes, out_features) if spec.num_classes else None
        if self.class_embed is not None:
            # the code's MSR init of a linear map of one-hot labels with gain 1 / sqrt(embedding size)
            nn.init.normal_(self.class_embed.weight, 0.0, 1 / math.sqrt(out_features * spec.num_classes))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = self.checked_labels(x, labels)
        h = self.from_image(x)
        for stage in self.stages:
            h = stage(h)
        if self.class_embed is not None and labels is not None:
            h = (h * self.class_embed(labels).to(h.dtype)).sum(dim=1, keepdim=True)
        return h.view(x.shape[0])


def build(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
    return R3GANGenerator(spec), R3GANDiscriminator(spec)


R3GAN = ModelFamily(
    "r3gan",
    "R3GAN (Huang et al. 2024): modernized ResNet (grouped convs, no normalization, fix-up init, low-pass "
    "resampling) for --loss rpgan --r1 --r2; widths per stage: --width up to 32 px, halved above, or "
    "--stage-widths; class embedding in G and a projection D when conditional",
    build=build, check=check, resolutions=RESOLUTIONS, options=OPTIONS, max_width=MAX_WIDTH,
    configured_resolutions=CONFIGURED_RESOLUTIONS,
)
