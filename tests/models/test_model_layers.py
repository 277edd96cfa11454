"""Spectral norm, self-attention and the projection discriminator, checked on the built networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from ganforge.models import MODELS
from ganforge.models.layers import ClassProjection, ConditionalBatchNorm2d, SelfAttention2d

# (family, options, which nets must be spectrally normalised); absent = the family's paper default
SN_SETUPS = [
    ("sagan", {}, ("G", "D")),
    ("sagan", {"spectral_norm": False}, ()),  # off in both: the option switches the family's SN as a whole
    ("sngan", {}, ("D",)),
    ("sngan", {"spectral_norm": False}, ()),
    ("dcgan", {}, ()),
    ("dcgan", {"spectral_norm": True}, ("D",)),
    ("mlp", {}, ()),
    ("mlp", {"spectral_norm": True}, ("D",)),
    ("mlp", {"spectral_norm": True, "arch": "pacgan"}, ("D",)),
]
WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def sn_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if parametrize.is_parametrized(m, "weight")]


def effective_matrix(layer: nn.Module) -> torch.Tensor:
    """The normalised weight as the matrix SN bounds: the output dim first (dim 1 for transposed convs)."""
    dim = layer.parametrizations.weight[0].dim
    return layer.weight.detach().movedim(dim, 0).flatten(1)


def forward_a_few_times(net: nn.Module, spec, kit, times: int) -> None:
    with torch.no_grad():
        for _ in range(times):
            data, labels = kit.fake_batch(spec, 2)
            if hasattr(net, "z_dim"):
                net(torch.randn(2, spec.z_dim), labels)
            else:
                net(data, labels)


@pytest.mark.parametrize(("family", "options", "normed"), SN_SETUPS,
                         ids=[f"{f}-{'-'.join(f'{k}={v}' for k, v in o.items())}" for f, o, _ in SN_SETUPS])
def test_spectral_norm_bounds_every_layer_to_unit_top_singular_value(family, options, normed, kit):
    resolution = 0 if options.get("arch") == "pacgan" else 32
    spec = kit.Case(family, resolution, 2 if resolution == 0 else 3, kit.num_classes, options).spec()
    G, D = kit.build(spec)
    for name, net in (("G", G), ("D", D)):
        layers = sn_layers(net)
        if name not in normed:
            assert layers == []
            continue
        # every conv/linear is normalised, and the class projection's embedding too
        assert {id(m) for m in net.modules() if isinstance(m, WEIGHTED)} <= {id(m) for m in layers}
        projections = [m for m in net.modules() if isinstance(m, ClassProjection)]
        assert all(id(p.embed) in {id(m) for m in layers} for p in projections)
        # CBN gains are not a map applied to x: they stay unnormalised
        cbn_tables = [t for c in net.modules() if isinstance(c, ConditionalBatchNorm2d) for t in (c.gain, c.bias)]
        assert not any(parametrize.is_parametrized(t) for t in cbn_tables)
        net.train()
        forward_a_few_times(net, spec, kit, times=30)  # each train-mode forward = one power iteration
        for layer in layers:
            raw = layer.parametrizations.weight.original.detach()
            raw_sigma = torch.linalg.matrix_norm(raw.movedim(layer.parametrizations.weight[0].dim, 0).flatten(1), ord=2)
            sigma = torch.linalg.matrix_norm(effective_matrix(layer), ord=2)
            assert abs(raw_sigma.item() - 1) > 0.05, "raw weight already has sigma 1: the check would be vacuous"
            assert sigma.item() == pytest.approx(1.0, abs=0.02), layer


def test_dcgan_spectral_norm_option_replaces_discriminator_batchnorm(kit):
    plain_G, plain_D = kit.build(kit.Case("dcgan", 32, 3, 0).spec())
    sn_G, sn_D = kit.build(kit.Case("dcgan", 32, 3, 0, {"spectral_norm": True}).spec())
    assert any(isinstance(m, nn.BatchNorm2d) for m in plain_D.modules()) and sn_layers(plain_D) == []
    assert not any(isinstance(m, nn.BatchNorm2d) for m in sn_D.modules())
    assert sn_layers(sn_G) == []  # the option is about D only
    assert set(plain_G.state_dict()) == set(sn_G.state_dict())


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_spectral_norm_option_overrides_the_family_default_and_absent_keeps_it(family, kit):
    default = MODELS.get(family).spectral_norm_default
    absent = kit.build(kit.Case(family, 32, 3, 0).spec())
    spelled_out = kit.build(kit.Case(family, 32, 3, 0, {"spectral_norm": default}).spec())
    flipped = kit.build(kit.Case(family, 32, 3, 0, {"spectral_norm": not default}).spec())
    # naming the default builds the very same networks, weights included, for a seed
    assert all(_same_weights(a, b) for a, b in zip(absent, spelled_out, strict=True))
    assert bool(sn_layers(absent[1])) is default
    assert bool(sn_layers(flipped[1])) is not default


def _attention_inputs(net: nn.Module, run) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: shapes.append(tuple(inp[0].shape)))
             for m in net.modules() if isinstance(m, SelfAttention2d)]
    run()
    for hook in hooks:
        hook.remove()
    return shapes


@pytest.mark.parametrize("resolution", [32, 64])
def test_sagan_has_one_zero_gamma_attention_at_half_resolution_in_g_and_d(resolution, kit):
    spec = kit.Case("sagan", resolution, 3, 0).spec()
    G, D = kit.build(spec)
    for net in (G, D):
        blocks = [m for m in net.modules() if isinstance(m, SelfAttention2d)]
        assert len(blocks) == 1 and blocks[0].gamma.item() == 0.0
        assert isinstance(blocks[0].gamma, nn.Parameter)
    g_shapes = _attention_inputs(G, lambda: G(torch.randn(2, kit.z_dim)))
    d_shapes = _attention_inputs(D, lambda: D(torch.rand(2, 3, resolution, resolution)))
    assert [s[-2:] for s in g_shapes] == [(resolution // 2, resolution // 2)]
    assert [s[-2:] for s in d_shapes] == [(resolution // 2, resolution // 2)]


def test_self_attention_starts_as_identity_and_then_mixes_globally():
    torch.manual_seed(0)
    block = SelfAttention2d(16)
    assert block.query.out_channels == block.key.out_channels == block.value.out_channels == 2  # C/8
    assert block.out.out_channels == 16
    x = torch.randn(1, 16, 8, 8)
    assert torch.equal(block(x), x)  # gamma = 0
    with torch.no_grad():
        block.gamma.fill_(1.0)
    nudged = x.clone()
    nudged[..., 0, 0] += 3.0
    # a change in one corner moves the opposite corner: attention is non-local, unlike the 1x1 convs
    assert (block(nudged)[..., 7, 7] - block(x)[..., 7, 7]).abs().max() > 1e-4


@pytest.mark.parametrize("family", ["dcgan", "sagan", "sngan", "mlp"])
def test_projection_discriminator_score_changes_with_the_label(family, kit):
    spec = kit.Case(family, 32, 3, kit.num_classes).spec()
    _, D = kit.build(spec)
    assert isinstance(D.projection, ClassProjection)
    D.eval()  # no BN batch statistics or power iterations between the two calls
    x = torch.rand(1, 3, 32, 32).expand(kit.num_classes, -1, -1, -1)
    scores = D(x, torch.arange(kit.num_classes))
    assert scores.unique().numel() == kit.num_classes
    # the label enters only through <embed(y), phi(x)>: without the projection all classes agree
    D.projection = None
    flat = D(x, torch.arange(kit.num_classes))
    assert torch.allclose(flat, flat[:1].expand_as(flat))


def test_unconditional_discriminators_have_no_projection(family, kit):
    _, D = kit.build(kit.Case(family, 32, 1, 0).spec())
    assert D.projection is None
    assert not any(isinstance(m, (ClassProjection, nn.Embedding)) for m in D.modules())
