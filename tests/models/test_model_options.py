"""spec.options (pack, spectral_norm, arch) and the GanforgeErrors for specs a family cannot build."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.models import MODELS, ModelSpec, build_gan


def first_layer(D: nn.Module) -> nn.Module:
    return next(m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


@pytest.mark.parametrize("pack", [2, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_pack_multiplies_discriminator_input_channels(family, pack, channels, kit):
    spec = kit.Case(family, 32, channels, 0, {"pack": pack}).spec()
    G, D = kit.build(spec)
    layer = first_layer(D)
    if family == "mlp":
        assert layer.in_features == channels * 32 * 32 * pack
    else:
        assert layer.in_channels == channels * pack
    # the loop's reshape: m consecutive samples stacked along channels -> N/m scores
    fake = G(torch.randn(2 * pack, kit.z_dim))
    packed = fake.reshape(2, channels * pack, 32, 32)
    assert D(packed).shape == (2,)
    with pytest.raises(ValueError, match="channels"):
        D(fake)


def test_pack_for_points_multiplies_the_input_dimension(kit):
    for options in ({"pack": 3}, {"pack": 3, "arch": "pacgan"}):
        G, D = kit.build(kit.Case("mlp", 0, 2, 0, options).spec())
        assert first_layer(D).in_features == 6
        points = G(torch.randn(6, kit.z_dim))
        scores = D(points.reshape(2, 6))
        assert scores.shape == (2,)
        result = kit.bce_update(G, kit.Packed(D, 3), kit.Case("mlp", 0, 2, 0, options).spec(), steps=2, n=6)
        assert all(torch.isfinite(torch.tensor(result.losses)))


def test_pack_one_is_the_unpacked_network(family, kit):
    _, plain = kit.build(kit.Case(family, 32, 3, 0).spec())
    _, packed = kit.build(kit.Case(family, 32, 3, 0, {"pack": 1}).spec())
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in packed.state_dict().items()}


def spec_with(family: str = "dcgan", resolution: int = 32, channels: int = 3, num_classes: int = 0,
              **options) -> ModelSpec:
    return ModelSpec(family, 8, resolution, channels, num_classes, 8, options)


@pytest.mark.parametrize("resolution", [16, 28, 48, 96, 128, 256])
def test_unsupported_resolution_names_the_fix(family, resolution):
    sizes = MODELS.get(family).resolutions  # what --help says the family builds
    if resolution in sizes:
        assert build_gan(spec_with(family, resolution))[0](torch.randn(2, 8)).shape[-1] == resolution
        return
    flags = " or ".join(f"--resolution {size}" for size in sizes)
    with pytest.raises(GanforgeError, match=flags) as info:
        build_gan(spec_with(family, resolution))
    assert f"{resolution}x{resolution}" in str(info.value)


@pytest.mark.parametrize("family", ["dcgan", "sagan", "sngan"])
def test_conv_families_send_point_data_to_mlp(family):
    with pytest.raises(GanforgeError, match="--model mlp"):
        build_gan(spec_with(family, 0, 2))


@pytest.mark.parametrize(
    ("family", "options", "message"),
    [
        ("dcgan", {"spectral_norn": True}, r"model dcgan has no option 'spectral_norn' \(did you mean 'spectral_norm'"),
        ("sngan", {"dropout": 0.1}, r"no option 'dropout'; its options: spectral_norm \(true or false\), pack "
                                    r"\(a whole number in \[1, 64\]\)$"),
        ("sagan", {"arch": "pacgan"}, r"model sagan has no option 'arch'"),
        ("mlp", {"arch": "wgan"}, r"model mlp option arch must be one of default, pacgan, got 'wgan'"),
        ("mlp", {"arch": "pacgan"}, r"toy2d"),  # images with the 2-D toy network
        ("dcgan", {"pack": 0}, r"model dcgan option pack must be a whole number in \[1, 64\], got 0"),
        ("mlp", {"pack": "two"}, r"pack must be a whole number"),
        ("mlp", {"pack": 2.5}, r"pack must be a whole number"),
        ("sngan", {"pack": True}, r"pack must be a whole number"),
        ("dcgan", {"spectral_norm": "yes"}, r"model dcgan option spectral_norm must be true or false, got 'yes'"),
        ("r3gan", {"stage_widths": "64,x"}, r"model r3gan option stage_widths must be whole numbers"),
    ],
)
def test_bad_options_are_rejected_before_building(family, options, message):
    spec = spec_with(family, **options)
    with pytest.raises(GanforgeError, match=message):
        MODELS.get(family).check(spec)


def test_pack_with_labels_is_rejected(family):
    with pytest.raises(GanforgeError, match="--pack 2 cannot be combined with --conditional"):
        build_gan(spec_with(family, num_classes=10, pack=2))
    build_gan(spec_with(family, num_classes=10, pack=1))  # pack 1 is no packing


@pytest.mark.parametrize(("field", "value"), [("z_dim", 0), ("channels", 0), ("width", -1), ("num_classes", -2)])
def test_bad_sizes_are_rejected(family, field, value):
    spec = ModelSpec(**{**spec_with(family).to_dict(), field: value})
    with pytest.raises(GanforgeError, match=field):
        build_gan(spec)


def test_unknown_family_lists_the_valid_ones():
    with pytest.raises(GanforgeError, match="did you mean 'sagan'.*dcgan, mlp, r3gan, sagan, sngan"):
        build_gan(spec_with("sagn"))


def test_mlp_accepts_points_of_any_dimension_and_both_image_sizes():
    for resolution, channels in ((0, 2), (0, 5), (32, 1), (64, 3)):
        MODELS.get("mlp").check(spec_with("mlp", resolution, channels))
