"""GAN metrics that agree with the reference implementations: FID, KID, IS, precision/recall, density/coverage,
FD_DINOv2, and the PacGAN mode-collapse scores of 2-D point data.

Pure-PyTorch FID Inception (TF 2015-12-05 graph) and DINOv2 ViT, their input pipelines, and metric
functions on features; every metric is registered in ``METRICS`` (:mod:`ganforge.metrics.specs`), every
feature extractor in ``EXTRACTORS`` (:mod:`ganforge.metrics.extractors`). Images are scored by one
function, :func:`score_images`; the others call it. Typical use::

    from ganforge.metrics import evaluate_run, score_generator, score_images
    record = evaluate_run("runs/dcgan", "fid,kid", num_samples=5000)   # a saved run
    result = score_generator(G, "auto", data="digits5k", num_samples=5000)  # a generator in memory
    result = score_images("samples/", "fid,fd_dinov2", "digits5k",
                          weights={"dinov2": "dinov2_vitl14_pretrain.pth"})  # images
    result["fid"], result["protocol"]["weights_sha256"]

``fd_digits`` (:mod:`ganforge.metrics.digits`) is a cheap CPU monitor on a small digit classifier's
features, opt-in by name and never part of ``all``: it is not FID.
"""

from __future__ import annotations

from ganforge.metrics.evaluate import generator_sampler, score_images
from ganforge.metrics.extractor import (
    Extractor,
    ExtractorSettings,
    ExtractorSpec,
    FeatureExtractor,
    FeatureSet,
    extract_features,
    get_extractor,
)
from ganforge.metrics.extractors import EXTRACTORS
from ganforge.metrics.frechet import GaussianStats, feature_statistics, fid_from_stats, frechet_distance
from ganforge.metrics.inception import FIDInceptionV3
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.kid import kernel_inception_distance
from ganforge.metrics.prdc import density_coverage, precision_recall
from ganforge.metrics.preprocess import RESIZE_RULE, inception_input, tf1_legacy_bilinear_matrix
from ganforge.metrics.reference import load_stats, reference_features, save_stats
from ganforge.metrics.run import DEFAULT_SAMPLES, evaluate_run, score_generator
from ganforge.metrics.sources import ImageSource, as_source
from ganforge.metrics.specs import (
    HIGHER,
    LOWER,
    METRICS,
    MetricOptions,
    MetricSpec,
    MetricValue,
    resolve_metrics,
)
from ganforge.metrics.weights import fetch_fid_helper_trunk, load_weights, resolve_weights

__all__ = [
    "DEFAULT_SAMPLES", "EXTRACTORS", "HIGHER", "LOWER", "METRICS", "RESIZE_RULE", "Extractor", "ExtractorSettings",
    "ExtractorSpec", "FIDInceptionV3", "FeatureExtractor",
    "FeatureSet", "GaussianStats", "ImageSource", "MetricOptions", "MetricSpec", "MetricValue", "as_source",
    "density_coverage", "evaluate_run", "extract_features", "feature_statistics", "fetch_fid_helper_trunk", "fid_from_stats", "frechet_distance",
    "generator_sampler", "get_extractor", "inception_input", "inception_score", "kernel_inception_distance",
    "load_stats", "load_weights", "precision_recall", "reference_features", "resolve_metrics",
    "resolve_weights", "save_stats", "score_generator", "score_images", "tf1_legacy_bilinear_matrix",
]
