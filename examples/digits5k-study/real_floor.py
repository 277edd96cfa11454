"""What real images score under the digits5k study's protocol: the floor its GANs' numbers sit above.

    python examples/digits5k-study/real_floor.py

250 random digits5k images (seed 123; about 25 of them are also among the 500 reference images) are
measured like a run's samples: FID, KID, precision/recall, density/coverage against the same 500 images.
"""

from __future__ import annotations

import torch

from ganforge.data import load_dataset
from ganforge.metrics import evaluate_images

SAMPLES, REFERENCE_SAMPLES, SEED = 250, 500, 123


def main() -> None:
    dataset = load_dataset("digits5k")
    index = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(SEED))[:SAMPLES]
    result = evaluate_images(dataset.data[index], "fid,kid,pr,dc", reference="digits5k",
                             reference_samples=REFERENCE_SAMPLES, device="cpu")
    print(", ".join(f"{key} {value:.4g}" for key, value in result.items() if key != "protocol"))


if __name__ == "__main__":
    main()
