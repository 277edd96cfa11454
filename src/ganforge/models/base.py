"""What every model family provides, the spec that rebuilds a generator, and the checks they share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.options import OptionSpec, resolve_options


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a network pair; serialized into generator.json.

    ``resolution`` is 0 for point data, where ``channels`` is the data dimension.
    ``options`` holds the values of the family's declared options that differ from their defaults.
    """

    family: str
    z_dim: int
    resolution: int
    channels: int
    num_classes: int = 0
    width: int = 64
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        return cls(**data)

    @property
    def is_points(self) -> bool:
        return self.resolution == 0


@dataclass(frozen=True)
class ModelFamily:
    """A registered family: ``build(spec) -> (generator, discriminator)``.

    ``check(spec)`` raises GanforgeError for specs the family cannot build (e.g. an unsupported
    resolution), before any weights are allocated. ``resolutions`` are the image sizes it builds;
    ``data_kinds`` says whether it takes "image" and/or "points" data; ``options`` declares the
    ``spec.options`` it accepts (:class:`ganforge.options.OptionSpec`: type, range, default, help), which
    ``--model-opt``, the config's ``model_options``, validation and ``--help`` read. ``spectral_norm_default`` is what its paper does when
    ``spec.options`` has no ``spectral_norm``; ``aliases`` are older names that still find it.
    ``max_width`` bounds ``--width``: beyond it the family's widest layer no longer fits in memory.
    """

    name: str
    description: str
    build: Callable[[ModelSpec], tuple[nn.Module, nn.Module]]
    check: Callable[[ModelSpec], None]
    resolutions: tuple[int, ...] = (32, 64)
    data_kinds: tuple[str, ...] = ("image",)
    options: tuple[OptionSpec, ...] = ()
    spectral_norm_default: bool = False
    aliases: tuple[str, ...] = ()
    max_width: int = 512
    configured_resolutions: tuple[int, ...] = ()  # sizes only some options build (r3gan: --stage-widths)
    # options every spec of the family carries (a `custom` family's record of the user's generator class)
    spec_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kinds(self) -> str:
        """What it builds: ``32/64/128 px images`` (or 2-D points)."""
        sizes = "/".join(str(r) for r in self.resolutions)
        return f"{sizes} px images" + (" or 2-D points" if "points" in self.data_kinds else "")

    @property
    def usage(self) -> str:
        """How ``--help`` lists it among the families: its name and sizes."""
        return f"{self.name} ({self.kinds})"

    @property
    def summary(self) -> str:
        """One line for ``--help`` and error messages: what it is and what it accepts."""
        kinds = self.kinds
        sn = "on" if self.spectral_norm_default else "off"
        alias = f" (alias: {', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.name}{alias}: {self.description} ({kinds}; spectral norm {sn} by default)"


# Options several families declare; a family lists the ones it takes. `flag`: configs and presets have
# spelt them as top-level keys and flags (--pack 2) since before options were declared, and still may.
SPECTRAL_NORM = OptionSpec(
    "spectral_norm", "bool", None, "true: spectral norm where the family's paper puts it (every D layer; sagan: "
    "G and D), false: none anywhere; absent: the family's default (sngan and sagan on, others off)", flag=True)
PACK = OptionSpec("pack", "int", 1, "PacGAN: D judges M samples at once, stacked along channels (mlp: features)",
                  minimum=1, maximum=64, flag=True, metavar="M")
ARCHES = ("default", "pacgan")
ARCH = OptionSpec("arch", "str", "default", "architecture variant: pacgan = the PacGAN 2-D toy networks",
                  choices=ARCHES, flag=True, metavar="NAME")


def normal_init(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN initialisation: conv/linear weights N(0, std), BN gamma N(1, std), biases 0.

    Call before spectral norm is applied: afterwards ``layer.weight`` is a computed tensor.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.BatchNorm1d)) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, std)
            nn.init.zeros_(layer.bias)


def latent_size(generator: nn.Module) -> int:
    """A generator's ``z_dim``: the plain int attribute every family (and api.evaluate) gives it."""
    return cast(int, generator.z_dim)  # nn.Module's attribute typing only knows tensors and submodules


def sample_noise(num: int, z_dim: int, *, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard normal latents; with a seeded CPU generator the same seed gives the same z anywhere."""
    return torch.randn(num, z_dim, generator=generator).to(device)


# -- spec checks shared by the families ------------------------------------------------------------

def pack_factor(spec: ModelSpec) -> int:
    return int(spec.options.get("pack", 1))


def spectral_norm_on(spec: ModelSpec, family_default: bool) -> bool:
    """``spec.options['spectral_norm']`` when given, else the family's paper default."""
    return bool(spec.options.get("spectral_norm", family_default))


def check_options(spec: ModelSpec, accepted: tuple[OptionSpec, ...]) -> None:
    """Each option declared by the family and of its declared type and range; pack > 1 cannot be combined
    with labels."""
    resolve_options(f"model {spec.family}", accepted, spec.options)
    pack = pack_factor(spec)
    if pack > 1 and spec.num_classes > 0:
        raise GanforgeError(f"--pack {pack} cannot be combined with --conditional: a packed D scores several "
                            "samples with different labels at once; drop one of the two")


def check_sizes(spec: ModelSpec) -> None:
    for name in ("z_dim", "channels", "width"):
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GanforgeError(f"{name} must be a positive whole number, got {value!r}")
    if isinstance(spec.num_classes, bool) or not isinstance(spec.num_classes, int) or spec.num_classes < 0:
        raise GanforgeError(f"num_classes must be a whole number >= 0, got {spec.num_classes!r}")


def check_width(spec: ModelSpec | Any, max_width: int = 512) -> None:
    """``--width`` within the family's bound: its widest layer has a multiple of it."""
    if spec.width > max_width:
        raise GanforgeError(f"{spec.family} takes --width up to {max_width} (its widest layer has a multiple of "
                            f"it), got {spec.width}; pass a smaller --width")


def check_image_spec(spec: ModelSpec, accepted: tuple[OptionSpec, ...], resolutions: tuple[int, ...] = (32, 64),
                     max_width: int = 512) -> None:
    """The checks of every image-only family: sizes, options, resolution."""
    check_sizes(spec)
    check_width(spec, max_width)
    check_options(spec, accepted)
    if spec.is_points:
        raise GanforgeError(f"{spec.family} builds images, but the data are {spec.channels}-D points; "
                            "use --model mlp for point data")
    if spec.resolution not in resolutions:
        sizes = " or ".join(f"{r}x{r}" for r in resolutions)
        flags = " or ".join(f"--resolution {r}" for r in resolutions)
        raise GanforgeError(f"{spec.family} builds {sizes} images, not {spec.resolution}x{spec.resolution}; "
                            f"pass {flags}")


def image_family(name: str, description: str, generator: Callable[[ModelSpec], nn.Module],
                 discriminator: Callable[[ModelSpec], nn.Module], options: tuple[OptionSpec, ...], *,
                 resolutions: tuple[int, ...] = (32, 64), spectral_norm_default: bool = False,
                 aliases: tuple[str, ...] = ()) -> ModelFamily:
    """A family of image-only networks: the shared image checks, and G and D each built from the spec."""

    def build(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
        return generator(spec), discriminator(spec)

    def check(spec: ModelSpec) -> None:
        check_image_spec(spec, options, resolutions)

    return ModelFamily(name, description, build=build, check=check, resolutions=resolutions, options=options,
                       spectral_norm_default=spectral_norm_default, aliases=aliases)
