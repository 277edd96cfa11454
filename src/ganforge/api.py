"""The public Python API: train your own networks on your own data, evaluate, sample, compare, export
(``ganforge.load_generator`` is :func:`ganforge.loader.load_generator`, the one loader every command uses).

Everything here is the same machinery the CLI runs; a run trained from Python writes the same run folder
(config.yaml, history, samples, checkpoints, generator.safetensors, metrics) and resumes the same way.

User networks and data reach the training code through the registries, as plugins do: for the duration
of a call the generator/discriminator pair is registered as model family ``custom`` and the data as
dataset ``python:<content digest>`` (so a cached reference for one dataset is never used for another).
The run records the generator's class path and constructor arguments (:mod:`ganforge.models.custom`), so
the command line can rebuild it when the class lives in an importable module.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.checkpoints import CheckpointChoice
from ganforge.config import TrainConfig
from ganforge.config_build import build_config, read_yaml_config, resumed_config
from ganforge.data import DATASETS, DatasetSource, TensorDataset
from ganforge.data.user import ItemDataset, as_item_dataset, as_tensor_dataset
from ganforge.errors import GanforgeError
from ganforge.exporters import ExportOptions, export_run
from ganforge.loader import load_generator
from ganforge.metrics import evaluate_run, score_generator, score_images
from ganforge.metrics.extractors import parse_weights
from ganforge.metrics.sources import generator_source
from ganforge.models import MODELS, ModelFamily, ModelSpec
from ganforge.models.custom import CUSTOM_FAMILY, NETWORK_OPTION, network_record, record_problem
from ganforge.notebook import Comparison, MetricsTable, Picture
from ganforge.report.collect import collect
from ganforge.report.table import best_runs, build_table
from ganforge.sampling import check_seed, labels_for, latents, parse_classes
from ganforge.training import TrainResult
from ganforge.training import train as train_config
from ganforge.training.step import TrainStep, step_name
from ganforge.viz import render_samples
from ganforge.web.render import sample_picture
from ganforge.web.server import start_in_thread

PYTHON_DATA = "python"


def _check_forward(module: nn.Module, role: str, argument: str) -> None:
    """ganforge calls ``G(z, labels)`` and ``D(x, labels)``: say so now rather than mid-step."""
    if not isinstance(module, nn.Module):
        raise GanforgeError(f"the {role} must be a torch.nn.Module, got {type(module).__name__}")
    try:
        inspect.signature(module.forward).bind(argument, None)
    except TypeError:
        raise GanforgeError(f"the {role}'s forward must accept ({argument}, labels=None); add a labels "
                            "argument (ignored when unconditional)") from None


@contextmanager
def _registered(registry: Any, name: str, entry: Any) -> Iterator[str]:
    """``entry`` under ``name`` for the duration, replacing an earlier registration of that name."""
    if name in registry.names():
        registry.unregister(name)
    registry.register(name, entry)
    try:
        yield name
    finally:
        registry.unregister(name)


@contextmanager
def _user_networks(generator: nn.Module | None, discriminator: nn.Module | None,
                   generator_kwargs: Mapping[str, Any] | None = None) -> Iterator[str | None]:
    if generator is None and discriminator is None:
        if generator_kwargs is not None:
            raise GanforgeError("generator_kwargs= describes your generator=; pass it with generator= and "
                                "discriminator=, or leave it out")
        yield None
        return
    if generator is None or discriminator is None:
        raise GanforgeError("pass both generator= and discriminator= (or neither, to use a model family)")
    _check_forward(generator, "generator", "z")
    _check_forward(discriminator, "discriminator", "x")
    record = network_record(generator, generator_kwargs)
    problem = record_problem(record)
    if problem is not None:
        warnings.warn(problem, stacklevel=4)

    def build(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
        return generator, discriminator

    family = ModelFamily(CUSTOM_FAMILY, f"your {type(generator).__name__} and {type(discriminator).__name__}",
                         build=build, check=lambda spec: None, resolutions=(), data_kinds=("image", "points"),
                         spec_options={NETWORK_OPTION: record})
    with _registered(MODELS, CUSTOM_FAMILY, family) as name:
        yield name


def dataset_digest(dataset: TensorDataset) -> str:
    """12 hex digits of the samples' and labels' bytes: equal data, equal name; other data, other name.

    A Dataset read item by item (:class:`ItemDataset`) is named by its type, size, sample shape and labels
    instead: its pixels may be drawn afresh on every read (random transforms), and reading every item just
    for a name is what streaming it avoids.
    """
    digest = hashlib.sha256()
    samples = dataset.labels if isinstance(dataset, ItemDataset) else dataset.data
    if isinstance(dataset, ItemDataset):
        kind = type(dataset.items)
        digest.update(f"{kind.__module__}.{kind.__qualname__}:{len(dataset)}:{dataset.sample_shape}".encode())
    for tensor in (samples, dataset.labels):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


@contextmanager
def user_data(data: Any, **conversion: Any) -> Iterator[str | None]:
    """A dataset name for ``data``: a --data text as it is; a tensor, Dataset or TensorDataset registered
    for the duration as ``python:<digest>``."""
    if data is None or isinstance(data, str):
        yield data
        return
    live = not isinstance(data, (torch.Tensor, TensorDataset))  # a Dataset: read when batches need it
    dataset = as_item_dataset(data, **conversion) if live else as_tensor_dataset(data, **conversion)
    digest = dataset_digest(dataset)
    sources = {digest: dataset}

    def load(arg: str | None, cache_dir: Path, download: bool, resolution: int | None) -> TensorDataset:
        if arg not in sources:
            raise GanforgeError(f"dataset python:{arg} is not in this process; pass the data again")
        return copy.copy(sources[arg])  # a shallow copy: a resize by load_dataset leaves the caller's alone

    source = DatasetSource(PYTHON_DATA, "data passed from Python", load, kind=dataset.kind, size=len(dataset),
                           takes_argument=True, example=f"{PYTHON_DATA}:{digest}", metavar="DIGEST",
                           is_present=lambda cache_dir: True)
    with _registered(DATASETS, PYTHON_DATA, source):
        yield f"{PYTHON_DATA}:{digest}"


def _config_layer(config: TrainConfig | Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, TrainConfig):
        return config.to_dict()
    if isinstance(config, (str, Path)):
        return read_yaml_config(Path(config))
    return dict(config)


def train(generator: nn.Module | None = None, discriminator: nn.Module | None = None, *, data: Any = None,
          config: TrainConfig | Mapping[str, Any] | str | Path | None = None, resume: bool = False,
          overwrite: bool = False, progress: bool = True, callbacks: Sequence[Any] = (),
          labels: torch.Tensor | Sequence[int] | None = None, class_names: Sequence[str] | None = None,
          value_range: tuple[float, float] = (0.0, 1.0), generator_kwargs: Mapping[str, Any] | None = None,
          train_step: TrainStep | str | None = None,
          **options: Any) -> TrainResult:
    """Train and write a run folder; returns the :class:`TrainResult` (``run_dir``, steps, last losses).

    ``generator``/``discriminator``: your ``nn.Module`` pair (``G(z, labels=None) -> samples in [-1, 1]``,
    ``D(x, labels=None) -> (N,)`` scores), or None for a registered family (``model=`` option).
    ``data``: a --data name, a tensor ``(N, C, H, W)``/``(N, D)`` or a map-style ``Dataset`` of samples or
    (sample, label) pairs; float images are taken to be in ``value_range``.
    ``config``: a TrainConfig, a mapping or a YAML file; ``options`` (any TrainConfig key) override it.
    ``generator_kwargs``: your generator's constructor arguments (plain values), recorded with its class
    path so that ``ganforge generate/export/serve`` rebuild it; by default the arguments the instance
    keeps as same-named attributes. The class must live in an importable module (not ``__main__``).
    ``train_step``: your update, ``step(ctx) -> {name: scalar}`` (``ganforge.training.step``), in place of
    ganforge's, or its importable name ``module:function``; the run records its name (``module:qualname``)
    and a resume needs the same step.
    """
    conversion = {"labels": labels, "class_names": class_names, "value_range": value_range}
    with _user_networks(generator, discriminator, generator_kwargs) as model, user_data(data, **conversion) as data_name:
        chosen = {key: value for key, value in (("model", model), ("data", data_name)) if value is not None}
        if isinstance(train_step, str):
            chosen["train_step"], train_step = train_step, None
        elif train_step is not None:
            if not callable(train_step):
                raise GanforgeError(f"train_step must be a callable step(ctx) -> dict of scalars, got "
                                    f"{type(train_step).__name__}")
            chosen["train_step"] = step_name(train_step)
        layers = [_config_layer(config), options, chosen]
        if model and not resume and not any("run_dir" in layer for layer in layers):
            chosen["run_dir"] = str(Path("runs") / f"{CUSTOM_FAMILY}-{time.strftime('%Y%m%d-%H%M%S')}")
        resolved = resumed_config(*layers) if resume else build_config(*layers)
        return train_config(resolved, resume=resume, overwrite=overwrite, callbacks=callbacks, progress=progress,
                            train_step=train_step)


def _with_z_dim(generator: nn.Module, z_dim: int | None) -> nn.Module:
    """ganforge samples a module through its ``z_dim`` attribute; ``z_dim=`` supplies one it lacks."""
    z_dim = z_dim or getattr(generator, "z_dim", None)
    if not z_dim:
        raise GanforgeError(f"{type(generator).__name__} has no z_dim attribute; pass z_dim= to evaluate")
    # nn.Module.__setattr__ is annotated for tensors and submodules only; plain attributes work too
    generator.z_dim = z_dim  # type: ignore[assignment]
    return generator


def evaluate(generator: Any, *, reference: Any = None, metrics: str | Sequence[str] = "auto",
             num_samples: int | None = None, reference_samples: int | None = None, seed: int = 0,
             z_dim: int | None = None, device: str = "cpu", cache_dir: str | Path | None = None,
             value_range: tuple[float, float] = (0.0, 1.0), append: bool = False,
             weights: Mapping[str, str | Path] | None = None) -> MetricsTable:
    """Metric values of a generator, with the exact ``protocol`` they were measured by: a dict, shown as
    a table in a notebook (``.show()`` prints it).

    ``generator``: a run folder or a :class:`TrainResult` (scored against its training data unless
    ``reference`` says otherwise; ``append``: the record joins the run's metrics.jsonl, as ``ganforge
    evaluate`` does, so :func:`compare`, the report and the Hub card show it), a module
    ``G(z, labels=None)``, or a callable ``sample(n)`` returning ``n`` images in [-1, 1].
    ``reference``: a --data name, an image folder, or your tensor/Dataset (as for :func:`train`); its kind
    (images or points) picks the metrics ``auto`` means. ``metrics``: registered names (``fid,kid,pr``...).
    ``weights``: weight files by feature extractor, as ``--extractor-weights NAME=PATH``
    (``{"dinov2": "dinov2_vitl14_pretrain.pth"}`` for ``fd_dinov2``); unnamed extractors find theirs as usual.
    """
    files = parse_weights([f"{name}={path}" for name, path in (weights or {}).items()], flag="weights=")
    return MetricsTable(_evaluate(generator, reference=reference, metrics=metrics, num_samples=num_samples,
                                  reference_samples=reference_samples, seed=seed, z_dim=z_dim, device=device,
                                  cache_dir=cache_dir, value_range=value_range, append=append, weights=files))


def _evaluate(generator: Any, *, reference: Any, metrics: str | Sequence[str], num_samples: int | None,
              reference_samples: int | None, seed: int, z_dim: int | None, device: str,
              cache_dir: str | Path | None, value_range: tuple[float, float], append: bool,
              weights: dict[str, Path]) -> dict[str, Any]:
    folder = Path(cache_dir) if cache_dir else None
    generator = generator.run_dir if isinstance(generator, TrainResult) else generator
    with user_data(reference, value_range=value_range) as reference_name:
        if isinstance(generator, (str, Path)):
            return evaluate_run(generator, metrics, num_samples=num_samples, reference=reference_name,
                                reference_samples=reference_samples, device=device, cache_dir=folder, seed=seed,
                                append=append, weights=weights)
        if reference_name is None:
            raise GanforgeError("evaluate needs reference= (a dataset name, a folder, or your data) for a "
                                "generator that is not a run folder")
        if isinstance(generator, nn.Module):
            return score_generator(_with_z_dim(generator, z_dim).to(device), metrics, data=reference_name,
                                   num_samples=num_samples, reference_samples=reference_samples, seed=seed,
                                   device=device, cache_dir=folder, weights=weights)
        if not callable(generator):
            raise GanforgeError(f"evaluate needs a run folder, a generator module or a sample(n) callable, got "
                                f"{type(generator).__name__}")
        return score_images(generator_source(generator, num_samples or 10_000), "fid" if metrics == "auto" else metrics,
                            reference_name, reference_samples=reference_samples, device=device, cache_dir=folder,
                            weights=weights, flag="weights=")


RunLike = str | Path | TrainResult  # a run folder (or a Hub folder, a generator.json) or what train returned


def _folder(run: RunLike) -> Path:
    return run.run_dir if isinstance(run, TrainResult) else Path(run)


def sample(generator: RunLike | nn.Module, num: int = 64, *, seed: int = 0, classes: str | Sequence[int] | None = None,
           truncation: float | None = None, nrow: int | None = None, z_dim: int | None = None) -> Picture:
    """The picture of ``num`` samples of ``seed`` (a grid, a scatter plot for 2-D points), as ``ganforge
    generate`` draws it: shown in a notebook, ``.show()`` / ``.save(path)`` elsewhere.

    ``generator``: a run or Hub folder, a :class:`TrainResult`, or your module (with ``z_dim``, or pass it).
    ``classes``: for conditional generators, class indices or names ("3", "1,4,7", [0, 1]), cycled.
    """
    check_seed(seed)
    if num < 1:
        raise GanforgeError(f"num must be a positive whole number, got {num}")
    text = classes if classes is None or isinstance(classes, str) else ",".join(map(str, classes))
    if isinstance(generator, nn.Module):
        module = _with_z_dim(generator, z_dim)
        size = int(getattr(module, "z_dim", 0))  # set by _with_z_dim
        num_classes = int(getattr(module, "num_classes", 0) or 0)
        chosen = parse_classes(text, num_classes, None) if text else None
        labels = labels_for(num_classes, chosen, num)
        with torch.no_grad():
            samples = module(latents(seed, size, num, truncation=truncation), labels)
        return Picture(render_samples(samples.float().cpu(), nrow=nrow), f"seed {seed}")
    loaded = load_generator(_folder(generator))
    chosen = parse_classes(text, loaded.spec.num_classes, loaded.class_names) if text else None
    return Picture(sample_picture(loaded, seed, num, classes=chosen, truncation=truncation, nrow=nrow),
                   f"seed {seed}, samples 0..{num - 1}")


def compare(*runs: RunLike) -> Comparison:
    """Runs side by side, as ``ganforge compare`` tabulates them (their latest metrics.jsonl values):
    a table in a notebook, ``.show()`` prints it."""
    if not runs:
        raise GanforgeError("compare needs at least one run folder")
    collection = collect([_folder(run) for run in runs])
    best, _ = best_runs(collection.runs)
    table = build_table(collection.runs, best, collection.floors)
    return Comparison(table.header, table.rows, table.protocols)


def export(run: RunLike, format: str, out: str | Path, *, step: int | None = None, checkpoint: str | None = None,
           runtime: str | Path | None = None, push: str | None = None, overwrite: bool = False,
           quiet: bool = False) -> Path:
    """``ganforge export``: write the generator of ``run`` (a run folder, a checkpoint .pt, a Hub folder or
    a :class:`TrainResult`) as ``format`` (see ``ganforge export --help``: torchscript, onnx, web, hub) to
    ``out``; returns ``out``. ``step`` / ``checkpoint``: as ``--step`` / ``--checkpoint best|last|PATH``.
    ``push``: a Hub repository USER/NAME."""
    options = ExportOptions(runtime=Path(runtime) if runtime else None, overwrite=overwrite, push=push)
    choice = CheckpointChoice(step=step, checkpoint=checkpoint)
    for line in export_run(_folder(run), format, Path(out), options, choice):
        if not quiet:
            print(line, flush=True)
    return Path(out)


@contextmanager
def _custom_generator(generator: nn.Module | None) -> Iterator[None]:
    """While serving: runs trained on your own modules rebuild their generator from ``generator``."""
    if generator is None:
        yield
        return
    _check_forward(generator, "generator", "z")

    def build(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
        return copy.deepcopy(generator), nn.Identity()  # a fresh copy per run; D is never used here

    family = ModelFamily(CUSTOM_FAMILY, f"your {type(generator).__name__}", build=build, check=lambda spec: None,
                         resolutions=(), data_kinds=("image", "points"))
    with _registered(MODELS, CUSTOM_FAMILY, family):
        yield


@contextmanager
def serving(runs_dir: str | Path, *, generator: nn.Module | None = None, host: str = "127.0.0.1",
            port: int = 0) -> Iterator[Any]:
    """The ``ganforge serve`` page on a background thread for the duration of the block (a notebook, a
    script); ``server.url`` is its address. ``generator=``: an instance of your class, for runs trained
    with ``train(generator=..., discriminator=...)``."""
    with _custom_generator(generator):
        server = start_in_thread(Path(runs_dir), host, port)
        try:
            yield server
        finally:
            server.shutdown()
            server.server_close()
