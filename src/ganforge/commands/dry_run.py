"""``ganforge train --dry-run``: the resolved config and the networks it would build, without training.

The config is printed as config.yaml would hold it (presets written out), followed by the network sizes
as YAML comments, so the output can be saved and passed back with ``--config``.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import yaml
from torch import nn
from torch.nn.utils import parametrize

from ganforge.config import TrainConfig
from ganforge.data import load_dataset
from ganforge.devices import resolve_device
from ganforge.errors import GanforgeError
from ganforge.models import build_gan
from ganforge.presets import DEFAULT_RECIPE, PRESETS, recipe_departures
from ganforge.training.feed import choose_mode
from ganforge.training.model_spec import model_spec
from ganforge.training.precision import resolve_precision


def spectral_norm_layers(module: nn.Module) -> int:
    """How many layers of ``module`` carry a spectral-norm parametrization of their weight."""
    count = 0
    for layer in module.modules():
        if parametrize.is_parametrized(layer, "weight"):
            # is_parametrized guarantees the ModuleDict of ParametrizationLists (ModuleLists) that
            # nn.Module's attribute typing cannot see
            weight = cast(nn.ModuleDict, layer.parametrizations)["weight"]
            kinds = {type(p).__name__ for p in cast(nn.ModuleList, weight)}
            count += "_SpectralNorm" in kinds
    return count


NORMALIZATION_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def normalization_layers(module: nn.Module) -> int:
    """How many BatchNorm / InstanceNorm / GroupNorm / LayerNorm layers ``module`` holds."""
    return sum(isinstance(layer, NORMALIZATION_LAYERS) for layer in module.modules())


def grouped_convs(module: nn.Module) -> int:
    """How many convolutions of ``module`` split their channels into groups (depthwise included)."""
    return sum(isinstance(layer, nn.Conv2d) and layer.groups > 1 for layer in module.modules())


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parts(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The top-level parts of a network with parameters; a ModuleList (stages, blocks) item by item."""
    out: list[tuple[str, nn.Module]] = []
    for name, child in module.named_children():
        items = list(child.named_children()) if isinstance(child, nn.ModuleList) else [("", child)]
        out += [(f"{name}.{index}" if index else name, item) for index, item in items if parameter_count(item)]
    return out


def network_line(role: str, module: nn.Module) -> str:
    """One comment line per network (parameters, spectral norm, normalization layers, grouped convs), then
    one indented line per part."""
    sn = spectral_norm_layers(module)
    norm = f"spectral norm on {sn} layers" if sn else "no spectral norm"
    layers = normalization_layers(module)
    grouped = grouped_convs(module)
    line = (f"# {role}: {type(module).__name__}, {parameter_count(module):,} parameters, {norm}, "
            f"{layers or 'no'} normalization layer{'' if layers == 1 else 's'}"
            + (f", {grouped} grouped convs" if grouped else ""))
    return "\n".join([line, *(f"#   {name}: {parameter_count(part):,}" for name, part in parts(module))])


def describe(config: TrainConfig) -> str:
    """The resolved config as YAML, then one comment line per network (or why none was built)."""
    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    try:
        dataset = load_dataset(config.data, cache_dir=Path(config.cache_dir) if config.cache_dir else None,
                               resolution=config.resolution, download=False, crop=config.crop)
    except GanforgeError as exc:
        return text + f"# networks: not built, the dataset is not readable without a download ({exc})\n"
    spec = model_spec(config, dataset)
    generator, discriminator = build_gan(spec)
    shape = "x".join(str(s) for s in dataset.sample_shape)
    classes = f", {spec.num_classes} classes" if spec.num_classes else ""
    lines = [f"# preset {config.preset}: {PRESETS.get(config.preset).summary}" if config.preset
             else f"# {DEFAULT_RECIPE}\n# departs from the textbook in: {recipe_departures(TrainConfig().to_dict())}"]
    if config.precision == "auto":
        device = resolve_device(config.device)
        lines.append(f"# precision auto: {resolve_precision('auto', device)} on this machine's {device.type}")
    feed = choose_mode(config.data_mode, dataset)
    lines += [f"# data: {config.data}, {len(dataset):,} samples of {shape}{classes}",
              f"# data mode {config.data_mode}: {feed.mode}, {feed.reason}",
             network_line("generator", generator), network_line("discriminator", discriminator)]
    return text + "\n".join(lines) + "\n"
