"""Every family x {unconditional, conditional} x {32, 64 px, points} x {1, 3 channels}: shapes, ranges,
gradient flow and a few finite GAN updates."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.models import MODELS, ModelSpec, build_gan, models_help
from ganforge.options import option_names


def test_registry_lists_every_family_with_metadata():
    assert set(MODELS.names()) == {"mlp", "dcgan", "r3gan", "sagan", "sngan"}
    sizes = {"mlp": (32, 64), "dcgan": (32, 64, 128), "r3gan": (16, 32, 64, 128, 256), "sagan": (32, 64, 128),
             "sngan": (32, 48, 64, 128)}
    for name in MODELS.names():
        family = MODELS.get(name)
        assert family.name == name and len(family.description) > 20
        assert family.resolutions == sizes[name]
        assert name in family.summary and "/".join(map(str, sizes[name])) + " px" in family.summary
        declared = option_names(family.options)
        assert "pack" in declared
        assert ("spectral_norm" in declared) == (name != "r3gan")  # R3GAN has no normalization
    assert MODELS.get("mlp").data_kinds == ("image", "points")
    assert all(MODELS.get(n).data_kinds == ("image",) for n in ("dcgan", "r3gan", "sagan", "sngan"))
    # each family's paper default for spectral norm, which spec.options['spectral_norm'] overrides
    assert {n: MODELS.get(n).spectral_norm_default for n in MODELS.names()} == {
        "mlp": False, "dcgan": False, "r3gan": False, "sagan": True, "sngan": True}


def test_resnet_is_an_alias_of_sngan_listed_once():
    assert MODELS.get("resnet") is MODELS.get("sngan") and "resnet" in MODELS
    assert MODELS.names().count("sngan") == 1 and "resnet" not in MODELS.names()
    lines = models_help().splitlines()
    assert len(lines) == len(MODELS.names())
    assert [line for line in lines if "resnet" in line] == [MODELS.get("sngan").summary]
    assert MODELS.get("sngan").summary.startswith("sngan (alias: resnet): ")
    G, D = build_gan(ModelSpec("resnet", 8, 32, 3, 0, 8))  # the old name builds the same networks
    assert type(G).__name__ == "SNGANGenerator" and type(D).__name__ == "SNGANDiscriminator"


def _blow_up_last_layer(G: nn.Module) -> None:
    """Scale the pre-activation of G's output by 1000 (a hook, so spectral norm cannot undo it)."""
    last = [m for m in G.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))][-1]
    last.register_forward_hook(lambda module, inputs, output: output * 1000)


def test_shapes_ranges_and_attributes(case, kit):
    spec = case.spec()
    G, D = kit.build(spec)
    assert G.z_dim == kit.z_dim and G.num_classes == case.num_classes
    _, labels = kit.fake_batch(spec)
    fake = G(torch.randn(kit.batch, kit.z_dim), labels)
    assert fake.shape == (kit.batch, *kit.sample_shape(spec))
    assert torch.isfinite(fake).all()
    scores = D(fake, labels)
    assert scores.shape == (kit.batch,) and scores.dtype == torch.float32
    assert torch.isfinite(scores).all()
    # Images end in tanh: even a huge pre-activation stays in [-1, 1]. Points are unbounded: linear.
    _blow_up_last_layer(G)
    big = G(torch.randn(kit.batch, kit.z_dim), labels)
    if case.resolution:
        assert big.abs().max() <= 1.0 and big.abs().max() > 0.99
    else:
        assert big.abs().max() > 1.5


def test_gan_update_gradients_reach_every_parameter_and_stay_finite(case, kit):
    spec = case.spec()
    G, D = kit.build(spec)
    before = {name: p.detach().clone() for name, p in G.named_parameters()}
    result = kit.bce_update(G, D, spec, steps=2)
    assert all(torch.isfinite(torch.tensor(result.losses)))
    # Every parameter must get gradient at some point (attention convs only from step 2, once gamma
    # has left 0).
    assert result.g_touched == {name for name, _ in G.named_parameters()}
    assert result.d_touched == {name for name, _ in D.named_parameters()}
    for net in (G, D):
        for name, p in net.named_parameters():
            assert torch.isfinite(p).all(), name
    assert any(not torch.equal(before[name], p) for name, p in G.named_parameters())
    G.eval()
    _, labels = kit.fake_batch(spec)
    assert torch.isfinite(G(torch.randn(kit.batch, kit.z_dim), labels)).all()


@pytest.mark.parametrize("family", ["dcgan", "sagan", "sngan", "mlp"])
def test_conditional_networks_demand_well_formed_labels(family, kit):
    spec = kit.Case(family, 32, 3, kit.num_classes).spec()
    G, D = kit.build(spec)
    z = torch.randn(2, kit.z_dim)
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match="conditional"):
        G(z)
    with pytest.raises(ValueError, match="conditional"):
        D(x, None)
    with pytest.raises(ValueError, match="shape"):
        D(x, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="int64"):
        G(z, torch.zeros(2))


@pytest.mark.parametrize("family", ["dcgan", "sagan", "sngan", "mlp"])
def test_unconditional_networks_ignore_labels(family, kit):
    spec = kit.Case(family, 32, 1, 0).spec()
    G, D = kit.build(spec)
    G.eval()
    D.eval()
    z = torch.randn(2, kit.z_dim)
    labels = torch.tensor([0, 5])
    assert torch.equal(G(z), G(z, labels))
    x = torch.rand(2, 1, 32, 32)
    assert torch.equal(D(x), D(x, labels))


@pytest.mark.parametrize("family", ["dcgan", "sagan", "sngan"])
def test_conditional_batchnorm_makes_the_generator_depend_on_the_class(family, kit):
    from ganforge.models.layers import ConditionalBatchNorm2d

    G, _ = kit.build(kit.Case(family, 32, 3, kit.num_classes).spec())
    cbns = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert cbns, "conditional G has no conditional BatchNorm"
    # Only SNGAN's final BN (before the output conv) stays unconditional.
    assert len(_plain_norms(G, cbns)) == (1 if family == "sngan" else 0)
    G.eval()
    z = torch.randn(1, kit.z_dim).expand(2, -1)
    labels = torch.tensor([0, 1])
    if family == "dcgan":  # its G also gets a class code with z: the class shows from the start
        first = G(z, labels)
        assert not torch.allclose(first[0], first[1], rtol=0.05, atol=0)  # outputs are ~1e-5 at init
        with torch.no_grad():
            G.embed.weight.zero_()  # silence the code to test the conditional-BN path alone
    # Class gains start at 1 and biases at 0 (every class = plain BN); make them differ.
    out = G(z, labels)
    assert torch.allclose(out[0], out[1])
    with torch.no_grad():
        for m in cbns:
            m.gain.weight.normal_(1.0, 0.3)
            m.bias.weight.normal_(0.0, 0.3)
    out = G(z, labels)
    assert (out[0] - out[1]).abs().max() > 1e-3


def _plain_norms(G: nn.Module, cbns: list[nn.Module]) -> list[nn.Module]:
    """BatchNorms of G not owned by a conditional BN."""
    owned = {id(m.bn) for m in cbns}
    return [m for m in G.modules() if isinstance(m, nn.BatchNorm2d) and id(m) not in owned]


def test_mlp_conditional_generator_depends_on_the_class(kit):
    G, _ = kit.build(kit.Case("mlp", 32, 1, kit.num_classes).spec())
    z = torch.randn(1, kit.z_dim).expand(2, -1)
    out = G(z, torch.tensor([0, 2]))
    assert (out[0] - out[1]).abs().max() > 1e-4


def test_pacgan_toy_networks_match_the_paper(kit):
    from ganforge.models.layers import Maxout

    G, D = kit.build(kit.Case("mlp", 0, 2, 0, {"arch": "pacgan"}).spec())
    linears = [m for m in G.net if isinstance(m, nn.Linear)]
    assert [type(m) for m in G.net] == [nn.Linear, nn.BatchNorm1d, nn.ReLU] * 4 + [nn.Linear]
    assert [(m.in_features, m.out_features, m.bias is None) for m in linears] == (
        [(kit.z_dim, 400, True)] + [(400, 400, True)] * 3 + [(400, 2, False)])
    assert abs(linears[1].weight.std().item() - 0.02) < 0.002
    maxouts = [m for m in D.features if isinstance(m, Maxout)]
    assert len(maxouts) == len(D.features) == 3
    assert all(m.units == 200 and m.pieces == 5 for m in maxouts)
    assert (D.linear.in_features, D.linear.out_features) == (200, 1)
    assert abs(maxouts[1].linear.weight.std().item() - 0.02) < 0.002


def test_maxout_takes_the_max_over_pieces():
    from ganforge.models.layers import Maxout

    layer = Maxout(3, units=2, pieces=4)
    x = torch.randn(5, 3)
    pieces = layer.linear(x).view(5, 2, 4)
    assert torch.equal(layer(x), pieces.max(dim=-1).values)


def test_dcgan_unconditional_state_dict_keys_are_unchanged(kit):
    """generator.safetensors files written before conditional support must still load."""
    G, _ = kit.build(kit.Case("dcgan", 32, 3, 0).spec())
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    expected = {"net.0.weight", "net.3.weight", "net.6.weight", "net.9.weight"}
    expected |= {f"net.{i}.{k}" for i in (1, 4, 7) for k in bn}
    assert set(G.state_dict()) == expected


def test_sngan_follows_the_paper_layout(kit):
    from ganforge.models.sngan import DBlock, GBlock, OptimizedDBlock

    for resolution, g_blocks, d_blocks in ((32, 3, 4), (64, 4, 5)):
        G, D = kit.build(kit.Case("sngan", resolution, 3, 0).spec())
        assert sum(isinstance(m, GBlock) for m in G.modules()) == g_blocks
        assert G.linear.out_features == 16 * 4 * kit.width
        assert isinstance(D.blocks[0], OptimizedDBlock)
        assert sum(isinstance(m, (DBlock, OptimizedDBlock)) for m in D.modules()) == d_blocks
        assert [b.downsample for b in D.blocks[1:]][-2:] == [False, False]
        # D ends on an 8x8 map, summed over space
        assert D.blocks(torch.zeros(1, 3, resolution, resolution)).shape[-2:] == (8, 8)


@pytest.mark.parametrize("conditional", [False, True], ids=["uncond", "cond"])
def test_discriminators_support_double_backward_for_gradient_penalties(family, conditional, kit):
    """R1 / WGAN-GP differentiate D's input gradient; every D (attention, SN, BN) must allow it."""
    spec = kit.Case(family, 32, 3, kit.num_classes if conditional else 0).spec()
    _, D = kit.build(spec)
    real, labels = kit.fake_batch(spec)
    real.requires_grad_(True)
    (grad,) = torch.autograd.grad(D(real, labels).sum(), real, create_graph=True)
    penalty = grad.pow(2).flatten(1).sum(1).mean()
    penalty.backward()
    grads = [p.grad for p in D.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
