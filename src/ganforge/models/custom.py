"""Networks passed from Python (``ganforge.train(generator=..., discriminator=...)``): what a run records
so that the command line (``generate``, ``export``, ``serve``, ``evaluate``) can rebuild the generator.

The run's spec (in generator.json and every checkpoint) holds, under ``options["network"]``, the
generator's importable class path ``module:qualname`` and its constructor arguments: the ones given to
``train(generator_kwargs=...)``, else those the instance exposes as attributes of the same name (the
common ``self.z_dim = z_dim``). A class defined in ``__main__`` or a notebook cannot be imported by
another process: the record then says why, and loading says how to fix it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from ganforge.errors import GanforgeError
from ganforge.models.base import ModelSpec

CUSTOM_FAMILY = "custom"  # the family name of networks passed from Python
NETWORK_OPTION = "network"  # the spec.options key of the record
PLAIN = (int, float, str, bool, type(None))


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _plain(value: Any) -> bool:
    """Whether ``value`` survives JSON unchanged (a tuple comes back as a list, which constructors take)."""
    if isinstance(value, (list, tuple)):
        return all(_plain(item) for item in value)
    return isinstance(value, PLAIN)


def imported(path: str) -> Any:
    """The object a ``module:qualname`` path names; ImportError or AttributeError when there is none."""
    module_name, _, qualname = path.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def import_problem(cls: type) -> str | None:
    """Why another process cannot import ``cls`` by its class path; None when it can."""
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        where = "in a function" if "<locals>" in cls.__qualname__ else "in __main__ (a script or notebook)"
        return f"{cls.__qualname__} is defined {where}"
    try:
        found = imported(class_path(cls))
    except (ImportError, AttributeError):
        return f"{class_path(cls)} cannot be imported"
    return None if found is cls else f"{class_path(cls)} names another class"


def constructor_kwargs(module: nn.Module, given: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The constructor arguments of ``module``: ``given``, else its same-named plain attributes; and the
    required parameters neither supplies."""
    if given is not None:
        odd = next((key for key, value in given.items() if not _plain(value)), None)
        if odd is not None:
            raise GanforgeError(f"generator_kwargs['{odd}'] is a {type(given[odd]).__name__}; the run records plain "
                                "numbers, text, booleans, None and lists of them: pass those, or rebuild the "
                                "generator in Python with ganforge.load_generator(path, generator=...)")
        return {key: list(value) if isinstance(value, tuple) else value for key, value in given.items()}, []
    kwargs: dict[str, Any] = {}
    missing: list[str] = []
    parameters = list(inspect.signature(type(module).__init__).parameters.values())[1:]
    for parameter in parameters:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        value = getattr(module, parameter.name, inspect.Parameter.empty)
        if value is not inspect.Parameter.empty and _plain(value):
            kwargs[parameter.name] = list(value) if isinstance(value, tuple) else value
        elif parameter.default is inspect.Parameter.empty:
            missing.append(parameter.name)
    return kwargs, missing


def network_record(generator: nn.Module, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a run records about the user's generator (see the module docstring)."""
    cls = type(generator)
    kwargs, missing = constructor_kwargs(generator, given)
    record: dict[str, Any] = {"class": class_path(cls), "kwargs": kwargs}
    problem = import_problem(cls)
    if problem is None and missing:
        problem = (f"{cls.__qualname__}'s arguments {', '.join(missing)} are not attributes of the instance; "
                   "pass generator_kwargs={...} to ganforge.train")
    if problem is not None:
        record["problem"] = problem
    return record


def record_problem(record: Mapping[str, Any]) -> str | None:
    """The train-time warning about a record the command line cannot rebuild from; None when it can."""
    problem = record.get("problem")
    if problem is None:
        return None
    return (f"{problem}, so `ganforge generate/export/serve` cannot rebuild the generator; define the class in "
            "an importable module (or pass generator_kwargs=), or load the run in Python with "
            "ganforge.load_generator(path, generator=YourGenerator(...))")


def recorded_generator(spec: ModelSpec, source: object) -> nn.Module:
    """The user's generator class rebuilt from the run's record (fresh weights); one-line errors naming the
    fix when the record is missing, unimportable or does not construct."""
    fix = ("load it in Python with ganforge.load_generator(path, generator=YourGenerator(...)), or train with "
           "the class defined in an importable module")
    record = spec.options.get(NETWORK_OPTION)
    if not isinstance(record, Mapping) or not isinstance(record.get("class"), str):
        raise GanforgeError(f"{source} holds a generator trained from Python on your own modules and records no "
                            f"importable class; {fix}")
    if record.get("problem"):
        raise GanforgeError(f"{source} holds your {record['class']}, which the command line cannot rebuild: "
                            f"{record['problem']}; {fix}")
    try:
        found = imported(str(record["class"]))
    except (ImportError, AttributeError) as exc:
        raise GanforgeError(f"{source} holds your {record['class']}, which cannot be imported here ({exc}); make "
                            f"its module importable (install it or add its folder to PYTHONPATH), or {fix}") from None
    kwargs = record.get("kwargs") or {}
    try:
        generator = found(**kwargs)
    except Exception as exc:  # the user's constructor: any error it raises
        raise GanforgeError(f"{record['class']}(**{kwargs}) failed ({type(exc).__name__}: {exc}); pass "
                            f"generator_kwargs= to ganforge.train, or {fix}") from None
    if not isinstance(generator, nn.Module):
        raise GanforgeError(f"{record['class']} does not build a torch.nn.Module; {fix}")
    return generator
