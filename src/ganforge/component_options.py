"""The config's side of component options: ``model_options``, ``loss_options`` and ``reg_options`` hold the
options that the chosen model family, loss and regularizers declare in their registry entries
(:class:`ganforge.options.OptionSpec`).

A layer (a preset, a YAML file, the flags) gives them as mappings (YAML) or as ``KEY=VALUE`` texts
(``--model-opt``, ``--loss-opt``, ``--reg-opt NAME.KEY=VALUE``); layers merge key by key, later wins.
Model options declared with ``flag`` are also top-level keys and flags of their own (``pack: 2``,
``--spectral-norm``), the spellings configs, presets and run folders have always used; a top-level value
equal to the option's default (or null) means "absent", so an old run folder's ``group_channels: 16``
does not ask a DCGAN for an r3gan option. Once the layers are merged, :func:`resolved_options` converts
each value to its declared type for the component the config names; an option that component does not
declare, or a value outside its type or range, is one error line naming both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ganforge.config import config_fields, field_names, registry_for
from ganforge.errors import GanforgeError
from ganforge.options import OptionSpec, parse_assignments, resolve_options

MODEL_OPTIONS = "model_options"  # the field the shorthand keys (--pack, ...) land in
# how each flag is written, where it is not --model-opt's KEY=VALUE: (form, example)
ASSIGNMENT_FORMS = {"loss_options": ("KEY=VALUE", "margin=1"), "reg_options": ("NAME.KEY=VALUE", "r1.weight=1")}


def component_fields() -> dict[str, str]:
    """Config field -> the registry (kind) whose entries declare its options."""
    return {name: f.metadata["component"] for name, f in config_fields().items() if f.metadata.get("component")}


def option_flag(field: str) -> str:
    """``model_options`` -> ``--model-opt``: the flag of a component field."""
    return "--" + field.split("_")[0] + "-opt"


def shorthand_options() -> dict[str, OptionSpec]:
    """The model options declared with ``flag``, by name (the first family to declare a name defines it);
    a name that is already a config key stays an option only."""
    taken = set(field_names())
    found: dict[str, OptionSpec] = {}
    for family in registry_for("model").values():
        for spec in family.options:
            if spec.flag and spec.name not in taken:
                found.setdefault(spec.name, spec)
    return found


def declaring(kind: str, option: str) -> list[str]:
    """The entries of registry ``kind`` that declare ``option``: what a shorthand flag's help names."""
    return [name for name, entry in registry_for(kind).items() if option in {s.name for s in entry.options}]


def parse_field(field: str, value: Any) -> dict[str, Any]:
    """One layer's value of a component field as a mapping: a YAML mapping or ``KEY=VALUE`` texts."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        mapping = {str(key): item for key, item in value.items()}
    elif isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
        mapping = dict(parse_assignments(value, option_flag(field), *ASSIGNMENT_FORMS.get(field, ())))
    else:
        raise GanforgeError(f"{field} must be a mapping of option: value (or {option_flag(field)} KEY=VALUE), "
                            f"got {value!r}")
    if component_fields()[field] != "regularizer":
        return mapping
    nested: dict[str, Any] = {}
    for key, item in mapping.items():
        name, dot, option = key.partition(".")
        if dot:
            nested.setdefault(name, {})[option] = item
        elif isinstance(item, Mapping):
            nested.setdefault(name, {}).update(item)
        else:
            form, example = ASSIGNMENT_FORMS[field]
            raise GanforgeError(f"{option_flag(field)} takes {form} (e.g. {option_flag(field)} {example}), "
                                f"got {key}={item!r}")
    return nested


def layer_options(layer: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Split a normalized layer into its plain keys and its component options (shorthands included)."""
    fields = component_fields()
    shorthands = shorthand_options()
    plain: dict[str, Any] = {}
    options: dict[str, dict[str, Any]] = {}
    for key, value in layer.items():
        if key in fields:
            merge_options(options, {key: parse_field(key, value)})
        elif key in shorthands:
            spec = shorthands[key]
            converted = spec.coerce(value, "model")
            options.setdefault(MODEL_OPTIONS, {})[key] = None if converted == spec.default else converted
        else:
            plain[key] = value
    return plain, options


def merge_options(values: dict[str, Any], options: Mapping[str, Mapping[str, Any]]) -> None:
    """Merge one layer's component options into ``values`` key by key (per regularizer for reg_options)."""
    fields = component_fields()
    for field, mapping in options.items():
        merged = dict(values.get(field) or {})
        for key, item in mapping.items():
            nested = fields[field] == "regularizer" and isinstance(item, Mapping) and isinstance(merged.get(key), dict)
            merged[key] = {**merged[key], **item} if nested else item
        values[field] = merged


def _present(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """The options given a value (null: the default)."""
    return {key: value for key, value in mapping.items() if value is not None}


def resolved_options(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each component field of ``values`` checked against the declarations of the entry the config names
    (its model, its loss, each named regularizer) and converted to the declared types."""
    defaults = config_fields()
    out: dict[str, dict[str, Any]] = {}
    for field, kind in component_fields().items():
        given = values.get(field) or {}
        if not isinstance(given, Mapping):
            raise GanforgeError(f"{field} must be a mapping of option: value, got {given!r}")
        if kind == "regularizer":
            out[field] = {name: _resolve(kind, name, options) for name, options in given.items()}
            out[field] = {name: options for name, options in out[field].items() if options}
        else:
            name = values.get(kind, defaults[kind].default)
            out[field] = _resolve(kind, name, given)
    return out


def _resolve(kind: str, name: str, given: Any) -> dict[str, Any]:
    if not isinstance(given, Mapping):
        raise GanforgeError(f"the options of {kind} {name} must be a mapping of option: value, got {given!r}")
    present = _present(given)
    if not present:
        return {}
    entry = registry_for(kind).get(name)
    return resolve_options(f"{kind} {entry.name}", entry.options, present)


def options_help(kind: str) -> str:
    """Each entry's declared options for ``--help``: ``dcgan: spectral_norm, pack; r3gan: ...``; an option
    without a flag of its own is described (type, range, default)."""
    shorthands = shorthand_options() if kind == "model" else {}
    parts = []
    for name, entry in registry_for(kind).items():
        if entry.options:
            described = [spec.name if spec.name in shorthands else spec.describe() for spec in entry.options]
            parts.append(f"{name}: {', '.join(described)}")
    return "; ".join(parts) or "none declared"
