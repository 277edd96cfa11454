"""``ganforge export RUN --format hub --out DIR [--push USER/NAME]``: a Hugging Face Hub model folder.

The folder follows the Hub's PyTorch convention (what ``PyTorchModelHubMixin`` writes), so the Hub shows
it as a model and ``ganforge.load_generator(DIR)`` reads it back (``models.io.LAYOUTS``)::

    model.safetensors   the generator's tensors
    config.json         the generator's description: generator.json's document, local folder names removed
    README.md           the model card: YAML front matter (library_name, pipeline_tag, tags, datasets, and a
                        model-index with the run's metrics and their protocol), then how to load and sample,
                        the metrics, the curves and the training config
    generator.onnx      the generator for use without ganforge (checked against PyTorch, as --format onnx)
    samples.png         seed 0, samples 0..63: what ``ganforge generate DIR --seed 0 --num 64`` writes
    loss_curves.png ... the run's training pictures, when it has them, at their paths in the run folder

The folder is built next to DIR and moved into place only when complete. ``--push`` then uploads it with
``huggingface_hub.upload_folder`` (the ``hub`` extra); everything before that call works offline.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ganforge.errors import GanforgeError
from ganforge.export_files import checked_file, run_onnx, save_onnx
from ganforge.metrics.records import read_metric_records
from ganforge.metrics.specs import metric_values
from ganforge.models.io import HUB_SPEC_FILE, save_generator
from ganforge.runfolder import RunFolder
from ganforge.viz import save_png
from ganforge.web.export import MODEL_FILE, build_in_place, public_config, run_name, without_folders
from ganforge.web.render import sample_picture
from ganforge.web.runs import artifacts as served_artifacts

CARD_FILE = "README.md"
SAMPLES_FILE = "samples.png"
SAMPLE_SEED, SAMPLE_COUNT = 0, 64
LIBRARY = "ganforge"
PIPELINE_TAG = "unconditional-image-generation"  # what the Hub's GAN repositories use, conditional or not
HUB_HINT = "pip install 'ganforge[hub]'"
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


@dataclass(frozen=True)
class CardMetric:
    """One metric value of the card: the latest evaluation that measured it."""

    key: str
    label: str
    value: float
    step: int | None
    protocol: dict[str, Any]


def check_repo_id(repo_id: str) -> str:
    if not REPO_ID.match(repo_id) or ".." in repo_id or repo_id.endswith((".git", ".")):
        raise GanforgeError(f"--push takes a Hub repository as USER/NAME (letters, digits, '-', '_', '.'), "
                            f"got {repo_id!r}")
    return repo_id


def require_hub() -> Any:
    try:
        import huggingface_hub
    except ImportError:
        raise GanforgeError(f"--push needs the huggingface_hub package: {HUB_HINT}") from None
    return huggingface_hub


def card_metrics(folder: Path) -> list[CardMetric]:
    """The latest value of each ranked metric in the run's metrics.jsonl, in registry order."""
    latest = {key: (number, record) for record in read_metric_records(RunFolder(folder).metrics)
              for key, number in record.values.items() if number is not None}
    return [CardMetric(value.key, value.label, number, record.step, record.protocol)
            for _, value in metric_values() if value.better and value.key in latest
            for number, record in [latest[value.key]]]


def front_matter(loaded: Any, metrics: list[CardMetric], name: str) -> dict[str, Any]:
    """The card's metadata: what the Hub indexes (library, task, tags, data) and the metrics as model-index."""
    spec, meta = loaded.spec, loaded.info.meta
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    dataset = without_folders(str(meta.get("dataset", "unknown")))
    loss = [str(config["loss"])] if config.get("loss") else []
    tags = [LIBRARY, "gan", "pytorch", "safetensors", "onnx", spec.family, *loss,
            "class-conditional" if spec.num_classes else "unconditional"]
    document: dict[str, Any] = {"library_name": LIBRARY, "pipeline_tag": PIPELINE_TAG,
                                "tags": list(dict.fromkeys(tags)), "datasets": [dataset]}
    if metrics:
        document["model-index"] = [{"name": name, "results": [{
            "task": {"type": PIPELINE_TAG, "name": "Image generation"},
            "dataset": {"name": dataset, "type": dataset},
            "metrics": [{"type": m.key, "name": m.label, "value": m.value, "verified": False,
                         "args": {"step": m.step, **m.protocol}} for m in metrics]}]}]
    return document


def _usage(loaded: Any, repo_id: str) -> str:
    spec = loaded.spec
    local = repo_id.split("/")[-1]
    labels = f"torch.arange(16) % {spec.num_classes}" if spec.num_classes else "None"
    inputs = f"z float32 (N, {spec.z_dim})" + (", labels int64 (N,)" if spec.num_classes else "")
    return f"""## Use it

```bash
pip install ganforge huggingface_hub
hf download {repo_id} --local-dir {local}
ganforge generate {local} --seed 1 --num 64 --out grid.png  # a seed gives the same pixels anywhere
ganforge serve {local}  # a page to browse seeds{' and classes' if spec.num_classes else ''}
```

```python
import torch, ganforge
from ganforge.sampling import latents

generator, info = ganforge.load_generator("{local}")  # or huggingface_hub.snapshot_download's folder
z = latents(seed=1, z_dim={spec.z_dim}, num=16)  # ganforge's portable sampler (the web page has it too)
with torch.no_grad():
    images = generator(z, {labels})  # (16, {spec.channels}, {spec.resolution}, {spec.resolution}) in [-1, 1]
```

Without ganforge: `{MODEL_FILE}` takes {inputs} and returns images in [-1, 1] (`x * 127.5 + 128`, clamped,
gives 8-bit pixels).
"""


def _metrics_section(metrics: list[CardMetric]) -> str:
    if not metrics:
        return "## Metrics\n\nThe run was not evaluated (`ganforge evaluate RUN` before exporting adds its scores).\n"
    rows = ["| metric | value | step | protocol |", "|---|---|---|---|"]
    for m in metrics:
        protocol = ", ".join(f"{key}={value}" for key, value in m.protocol.items() if key != "seconds")
        rows.append(f"| {m.label} | {m.value:.4g} | {m.step if m.step is not None else '?'} | {protocol} |")
    return "## Metrics\n\n" + "\n".join(rows) + "\n"


def card_body(loaded: Any, metrics: list[CardMetric], pictures: list[str], repo_id: str) -> str:
    spec, meta = loaded.spec, loaded.info.meta
    config = public_config(meta.get("config") if isinstance(meta.get("config"), dict) else {})
    dataset = without_folders(str(meta.get("dataset", "unknown")))
    weights = "EMA weights" if loaded.is_ema else "raw weights"
    classes = f", conditional on {spec.num_classes} classes ({', '.join(loaded.class_names or [])})" \
        if spec.num_classes else ""
    lines = [f"# {run_name(loaded)}", "",
             f"A `{spec.family}` GAN generator ({spec.resolution}x{spec.resolution}, {spec.channels} channel(s), "
             f"latent size {spec.z_dim}{classes}) trained with [ganforge](https://pypi.org/project/ganforge/) "
             f"for {meta.get('step', '?')} steps on `{dataset}` with the `{config.get('loss', '?')}` loss; "
             f"{weights}.", "",
             f"![samples]({SAMPLES_FILE})", "",
             f"Seed {SAMPLE_SEED}, samples 0..{SAMPLE_COUNT - 1}: `ganforge generate . --seed {SAMPLE_SEED} "
             f"--num {SAMPLE_COUNT} --out {SAMPLES_FILE}` draws exactly this grid.", "",
             _usage(loaded, repo_id), _metrics_section(metrics), "## Training", ""]
    lines += [f"![{Path(name).stem}]({name})\n" for name in pictures if name.endswith(".png")]
    lines += ["The resolved training config:", "", "```yaml",
              yaml.safe_dump(config, sort_keys=True, default_flow_style=False).rstrip(), "```", ""]
    return "\n".join(lines)


def model_card(loaded: Any, pictures: list[str], repo_id: str) -> str:
    """README.md: YAML front matter between --- lines, then the Markdown body."""
    metrics = card_metrics(loaded.folder)
    front = yaml.safe_dump(front_matter(loaded, metrics, repo_id.split("/")[-1]), sort_keys=False,
                           default_flow_style=False)
    return f"---\n{front}---\n\n{card_body(loaded, metrics, pictures, repo_id)}"


def hub_meta(loaded: Any) -> dict[str, Any]:
    """config.json's fields besides the spec: generator.json's, without the exporting machine's folders."""
    meta = dict(loaded.info.meta)
    for key in ("format", "version", "kind"):
        meta.pop(key, None)
    if isinstance(meta.get("config"), dict):
        meta["config"] = public_config(meta["config"])
    if isinstance(meta.get("dataset"), str):
        meta["dataset"] = without_folders(meta["dataset"])
    return meta


def build_folder(loaded: Any, folder: Path, repo_id: str) -> str:
    """Every file of the Hub folder into the empty ``folder``; returns the ONNX check's line."""
    save_generator(folder, loaded.module, loaded.spec, hub_meta(loaded), spec_file=HUB_SPEC_FILE)
    check = checked_file(loaded, folder / MODEL_FILE, save_onnx, run_onnx, "onnxruntime")
    save_png(sample_picture(loaded, SAMPLE_SEED, SAMPLE_COUNT), folder / SAMPLES_FILE)
    pictures = [relative for relative in served_artifacts().values() if (loaded.folder / relative).is_file()]
    for relative in pictures:  # at the run folder's paths, where `ganforge serve DIR` looks for them
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(loaded.folder / relative, folder / relative)
    (folder / CARD_FILE).write_text(model_card(loaded, pictures, repo_id))
    return check


def push(folder: Path, repo_id: str) -> str:
    """Create the model repository when needed and upload ``folder`` to it (needs the network and a token)."""
    hub = require_hub()
    try:
        hub.create_repo(repo_id, repo_type="model", exist_ok=True)
        commit = hub.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model",
                                   commit_message="ganforge export --format hub")
    except Exception as exc:  # network, authentication and permission errors come as many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanforgeError(f"uploading {folder} to {repo_id} failed: {first}; the folder is kept, push it "
                            f"again with --push once `hf auth login` works") from None
    return f"pushed {folder}/ to {getattr(commit, 'commit_url', repo_id)}"


def write_hub(loaded: Any, out: Path, options: Any) -> list[str]:
    """The ``hub`` entry of ganforge.exporters.FORMATS."""
    if loaded.spec.resolution == 0:
        raise GanforgeError("--format hub shares image generators; this run makes 2-D points: export it with "
                            "--format onnx or torchscript")
    repo_id = check_repo_id(options.push) if options.push else f"USER/{run_name(loaded)}"
    if options.push:
        require_hub()  # before any work: a missing package is found now, not after the export
    out = Path(out)
    check = build_in_place(out, lambda staging: build_folder(loaded, staging, repo_id))
    lines = [check, f"wrote {out}/: a Hugging Face Hub model folder (model card {out / CARD_FILE})"]
    return lines + [push(out, repo_id)] if options.push else lines + [
        f"upload it with --push USER/NAME, or: hf upload USER/NAME {out}"]
