"""Components with options: a family, a loss and a regularizer registered at runtime declare options that
the flags, YAML files and validation read, and that reach what the run builds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import yaml
from torch import nn

from ganforge.cli import build_parser, main
from ganforge.commands.train import resolve_config
from ganforge.config_build import build_config, read_yaml_config
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES, GanLoss
from ganforge.models import MODELS, ModelSpec, build_gan
from ganforge.models.base import image_family
from ganforge.options import OptionSpec
from ganforge.regularizers import REGULARIZERS, PenaltyInputs, Regularizer, active_regularizers
from ganforge.training.model_spec import model_spec

DEPTH = OptionSpec("depth", "int", 1, "hidden layers of G", minimum=1, maximum=3)
ACTIVATION = OptionSpec("activation", "str", "relu", "G's hidden activation", choices=("relu", "tanh"))


class DeepGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.z_dim, self.num_classes = spec.z_dim, spec.num_classes
        self.shape = (spec.channels, spec.resolution, spec.resolution)
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[spec.options.get("activation", ACTIVATION.default)]
        hidden: list[nn.Module] = []
        for index in range(spec.options.get("depth", DEPTH.default)):
            hidden += [nn.Linear(spec.z_dim if index == 0 else spec.width, spec.width), act()]
        self.net = nn.Sequential(*hidden, nn.Linear(spec.width, spec.channels * spec.resolution**2), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(len(z), *self.shape)


class FlatDiscriminator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(spec.channels * spec.resolution**2, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)


def linear_layers(net: nn.Module) -> int:
    return sum(isinstance(m, nn.Linear) for m in net.modules())


@pytest.fixture
def deep_family() -> Iterator[str]:
    MODELS.register("deepmlp", image_family("deepmlp", "MLPs of a chosen depth (test)", DeepGenerator,
                                            FlatDiscriminator, (DEPTH, ACTIVATION), resolutions=(32,)))
    try:
        yield "deepmlp"
    finally:
        MODELS.unregister("deepmlp")


@pytest.fixture
def margin_loss() -> Iterator[str]:
    def d_loss(real: torch.Tensor, fake: torch.Tensor, margin: float) -> torch.Tensor:
        return torch.relu(margin - real).mean() + torch.relu(margin + fake).mean()

    LOSSES.register("marginhinge", GanLoss(
        "marginhinge", "hinge with a chosen margin (test)", d_loss=d_loss,
        g_loss=lambda real, fake, margin: -fake.mean(), d_output=lambda s: s,
        options=(OptionSpec("margin", "float", 1.0, "the hinge's margin", minimum=0),)))
    try:
        yield "marginhinge"
    finally:
        LOSSES.unregister("marginhinge")


@pytest.fixture
def drift_regularizer() -> Iterator[list[float]]:
    """ProGAN's drift penalty weight * E[|D(x)|^power], its weight and power its own options."""
    powers: list[float] = []

    def drift(inputs: PenaltyInputs, weight: float, power: float) -> torch.Tensor:
        powers.append(power)
        return weight * inputs.discriminator(inputs.real, inputs.labels).abs().pow(power).mean()

    REGULARIZERS.register("drift", Regularizer(
        "drift", "drift penalty (test)", weight_key="weight", player="d", penalty=drift,
        options=(OptionSpec("weight", "float", 0.0, "its weight (0 = off)", minimum=0),
                 OptionSpec("power", "float", 2.0, "the power of |D(x)|", minimum=1, maximum=4))))
    try:
        yield powers
    finally:
        REGULARIZERS.unregister("drift")


def flags(*argv: str):
    return resolve_config(build_parser().parse_args(["train", *argv]))


def test_a_family_option_from_the_command_line_reaches_the_network(deep_family, image_dataset) -> None:
    config = flags("--model", deep_family, "--model-opt", "depth=3", "--model-opt", "activation=tanh")
    assert config.model_options == {"depth": 3, "activation": "tanh"}
    generator, _ = build_gan(model_spec(config, image_dataset))
    assert linear_layers(generator) == 4 and any(isinstance(m, nn.Tanh) for m in generator.net[:-1])
    # a default stays out of the spec (as the built-in families' defaults do)
    default = build_config({"model": deep_family, "model_options": {"depth": 1}})
    assert model_spec(default, image_dataset).options == {}


def test_a_family_option_from_yaml_layers_under_flags(deep_family, image_dataset, tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"model": deep_family, "model_options": {"depth": 2, "activation": "tanh"}}))
    config = build_config(read_yaml_config(path))
    assert linear_layers(build_gan(model_spec(config, image_dataset))[0]) == 3
    # flags override the file key by key: depth from the flag, activation still from the file
    config = flags("--config", str(path), "--model-opt", "depth=1")
    assert config.model_options == {"depth": 1, "activation": "tanh"}


@pytest.mark.parametrize(("option", "message"), [
    ("depth=9", "model deepmlp option depth must be a whole number in [1, 3], got '9'"),
    ("depth=two", "model deepmlp option depth must be a whole number in [1, 3], got 'two'"),
    ("activation=gelu", "model deepmlp option activation must be one of relu, tanh, got 'gelu' (did you mean 'relu'?)"),
    ("colour=3", "model deepmlp has no option 'colour'; its options: depth (a whole number in [1, 3]), "
                "activation (one of relu, tanh)"),
    ("depth", "--model-opt takes KEY=VALUE (e.g. --model-opt pack=2), got 'depth'"),
])
def test_a_bad_option_is_one_error_line(deep_family, option, message, tmp_path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--model", deep_family, "--model-opt", option, "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err == f"ganforge: error: {message}\n"
    assert not run_dir.exists()


def test_a_bad_value_in_yaml_is_the_same_error(deep_family, tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"model": deep_family, "model_options": {"depth": 0.5}}))
    with pytest.raises(GanforgeError, match=r"^model deepmlp option depth must be a whole number in \[1, 3\], "
                                            r"got 0.5$"):
        build_config(read_yaml_config(path))


def test_help_lists_each_entrys_declared_options(deep_family, margin_loss, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split()).split("options:", 1)[1]  # past the usage line
    model_help = text.split("--model-opt KEY=VALUE", 1)[1].split("--loss-opt", 1)[0]
    assert "deepmlp: depth (a whole number in [1, 3]; default 1): hidden layers of G" in model_help
    assert "r3gan: stage_widths, group_channels, pack" in model_help  # those have flags of their own
    loss_help = text.split("--loss-opt KEY=VALUE", 1)[1].split("--reg-opt", 1)[0]
    assert "marginhinge: margin (a number >= 0; default 1.0): the hinge's margin" in loss_help


def test_a_loss_option_reaches_the_loss(margin_loss) -> None:
    config = flags("--loss", margin_loss, "--loss-opt", "margin=0.25")
    loss = LOSSES.get(config.loss).bind(config.loss_options)
    scores = torch.zeros(4)
    assert float(loss.d_loss(scores, scores)) == pytest.approx(0.5)  # 2 * relu(0.25)
    with pytest.raises(GanforgeError, match=r"^loss marginhinge option margin must be a number >= 0, got -1.0$"):
        build_config({"loss": margin_loss, "loss_options": {"margin": -1.0}})
    with pytest.raises(GanforgeError, match=r"^loss hinge has no option 'margin'; its options: none$"):
        build_config({"loss": "hinge", "loss_options": {"margin": 1}})


def test_a_regularizer_with_options_is_found_and_applied(drift_regularizer, make_config, image_dataset) -> None:
    from ganforge.training.update import Trainer

    config = make_config(reg_options={"drift": {"weight": 0.5, "power": "3"}})
    assert config.reg_options == {"drift": {"weight": 0.5, "power": 3.0}}
    [active] = active_regularizers(config)
    assert (active.entry.name, active.weight) == ("drift", 0.5)
    trainer = Trainer(config, image_dataset, torch.device("cpu"))
    scalars = trainer.train_step()
    assert drift_regularizer == [3.0] and float(scalars["penalty_drift"]) > 0
    # weight 0 (its declared default) leaves it off
    assert active_regularizers(make_config()) == []


def test_regularizer_options_from_flags(drift_regularizer) -> None:
    config = flags("--reg-opt", "drift.weight=1", "--reg-opt", "drift.power=4")
    assert config.reg_options == {"drift": {"weight": 1.0, "power": 4.0}}
    with pytest.raises(GanforgeError, match=r"^regularizer drift option power must be a number in \[1, 4\], got '9'$"):
        flags("--reg-opt", "drift.power=9")
    with pytest.raises(GanforgeError, match=r"^unknown regularizer 'drfit' \(did you mean 'drift'\?\)"):
        flags("--reg-opt", "drfit.weight=1")
    with pytest.raises(GanforgeError, match=r"^--reg-opt takes NAME.KEY=VALUE \(e.g. --reg-opt r1.weight=1\)"):
        flags("--reg-opt", "weight=1")


@pytest.mark.parametrize(("keys", "message"), [
    ({"weight_key": "wieght"}, r"^regularizer 'sloppy' reads its weight from 'wieght', which is neither a config key "
                               r"nor one of its options \(its options are weight\); its Regularizer entry must "
                               r"declare OptionSpec\('wieght', \.\.\.\) or name a config key$"),
    ({"weight_key": "weight", "interval_key": "reg_evry"},
     r"^regularizer 'sloppy' reads its interval from 'reg_evry', which is not a config key \(did you mean "
     r"'reg_every'\?\); fix its Regularizer entry's interval_key$"),
])
def test_a_plugin_regularizer_naming_a_missing_key_is_one_line(keys, message, capsys, tmp_path) -> None:
    REGULARIZERS.register("sloppy", Regularizer(
        "sloppy", "a plugin with a typo (test)", player="d", penalty=lambda inputs, weight: weight,
        options=(OptionSpec("weight", "float", 0.0, "its weight", minimum=0),), **keys))
    try:
        with pytest.raises(GanforgeError, match=message):
            active_regularizers(build_config({}))
        run = tmp_path / "run"
        assert main(["train", "--steps", "1", "--width", "8", "--run-dir", str(run), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("ganforge: error: regularizer 'sloppy' reads its ")
        assert not run.exists()
    finally:
        REGULARIZERS.unregister("sloppy")


def test_old_top_level_model_keys_still_load(image_dataset) -> None:
    """A run folder's config.yaml from before options were declared spells every model key at the top,
    defaults included (group_channels 16 for a DCGAN): it builds the same spec it always did."""
    old = {"model": "dcgan", "arch": None, "spectral_norm": True, "pack": 2, "stage_widths": None,
           "group_channels": 16, "batch_size": 8}
    config = build_config(old)
    assert config.model_options == {"spectral_norm": True, "pack": 2} and config.pack == 2
    assert model_spec(config, image_dataset).options == {"spectral_norm": True, "pack": 2}
    r3gan = build_config({"model": "r3gan", "stage_widths": "64,32,16,8", "group_channels": 8})
    assert r3gan.model_options == {"stage_widths": [64, 32, 16, 8], "group_channels": 8}
    with pytest.raises(GanforgeError, match=r"^model dcgan has no option 'group_channels'"):
        build_config({"model": "dcgan", "group_channels": 8})
