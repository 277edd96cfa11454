"""Training throughput: ganforge's Trainer vs a textbook PyTorch GAN loop, measured in one run.

The textbook loop is the one most notebooks copy (PyTorch's DCGAN example): a torch DataLoader over a
Dataset whose __getitem__ turns one image into a PIL image, pads it, converts it to a float tensor and
normalizes it; the same networks, loss and batch size; one G forward per step reused for the G update.

Both sides run the same number of steps, alternated over several rounds; the median rate of each is
reported and the ratio printed. Usage:

    python benchmarks/train_speed.py                     # dcgan on digits5k, batch 64
    python benchmarks/train_speed.py --steps 40 --rounds 3 --batch-size 64 128
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from ganforge.config import build_config
from ganforge.data import load_dataset
from ganforge.models import build_gan
from ganforge.training.loop import Trainer, model_spec


class TextbookDigits(torch.utils.data.Dataset):
    """Per-sample transforms, as torchvision's MNIST + Compose([Pad, ToTensor, Normalize]) would do."""

    def __init__(self, images28: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images28, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.images[index], mode="L")
        image = ImageOps.expand(image, border=2)  # Pad(2): 28 -> 32
        tensor = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).unsqueeze(0)  # ToTensor
        return (tensor - 0.5) / 0.5, int(self.labels[index])  # Normalize((0.5,), (0.5,))


def textbook_rate(config, dataset, steps: int, workers: int) -> float:
    torch.manual_seed(config.seed)
    G, D = build_gan(model_spec(config, dataset))
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=config.betas)
    images28 = dataset.data[:, 0, 2:30, 2:30].numpy()
    loader = torch.utils.data.DataLoader(TextbookDigits(images28, dataset.labels.numpy()),
                                         batch_size=config.batch_size, shuffle=True, drop_last=True,
                                         num_workers=workers)
    done, started = 0, None
    while done < steps + 3:
        for real, _ in loader:
            if done == 3:  # warm-up steps excluded
                started = time.perf_counter()
            b = real.size(0)
            ones, zeros = torch.ones(b), torch.zeros(b)
            opt_d.zero_grad()
            fake = G(torch.randn(b, config.z_dim))
            loss_d = F.binary_cross_entropy_with_logits(D(real), ones) + \
                F.binary_cross_entropy_with_logits(D(fake.detach()), zeros)
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            loss_g = F.binary_cross_entropy_with_logits(D(fake), ones)
            loss_g.backward()
            opt_g.step()
            loss_d.item(), loss_g.item()  # the textbook prints losses every step
            done += 1
            if done >= steps + 3:
                break
    return steps * config.batch_size / (time.perf_counter() - started)


def ganforge_rate(config, dataset, steps: int) -> float:
    trainer = Trainer(config, dataset, torch.device("cpu"))
    for _ in range(3):
        trainer.train_step()
    started = time.perf_counter()
    for _ in range(steps):
        scalars = trainer.train_step()
    float(scalars["loss_d"])
    return steps * config.batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[64])
    parser.add_argument("--workers", type=int, default=0, help="textbook DataLoader workers")
    args = parser.parse_args()
    dataset = load_dataset("digits5k")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, digits5k 32x32, dcgan width 64")
    print(f"{'batch':>5}  {'textbook img/s':>15}  {'ganforge img/s':>15}  {'ratio':>6}")
    for batch in args.batch_size:
        config = build_config({"batch_size": batch})
        textbook, ours = [], []
        for _ in range(args.rounds):
            textbook.append(textbook_rate(config, dataset, args.steps, args.workers))
            ours.append(ganforge_rate(config, dataset, args.steps))
        t, g = statistics.median(textbook), statistics.median(ours)
        print(f"{batch:>5}  {t:>15.0f}  {g:>15.0f}  {g / t:>5.2f}x")


if __name__ == "__main__":
    main()
