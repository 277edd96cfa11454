"""Conditional training: labels reach G and D, grids have one row per class, classes land on their modes."""

from __future__ import annotations

import pytest
import torch

from ganforge.data import TensorDataset, load_dataset
from ganforge.data.toy2d import toy2d_modes
from ganforge.errors import GanforgeError
from ganforge.metrics.toy2d import nearest_modes
from ganforge.training.grid import conditional_grid_labels
from ganforge.training.update import Trainer


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_conditional_generator_draws_the_requested_mode(name: str, make_config) -> None:
    dataset = load_dataset(f"toy2d:{name}")
    config = make_config(model="mlp", data=f"toy2d:{name}", conditional=True, width=16, z_dim=2, batch_size=64,
                         lr_g=1e-3, lr_d=1e-3)
    trainer = Trainer(config, dataset, torch.device("cpu"))
    for _ in range(400):
        trainer.train_step()
    centers, _ = toy2d_modes(name)
    labels = torch.arange(len(centers)).repeat_interleave(100)
    generator = trainer.sampling_generator.eval()
    with torch.no_grad():
        points = generator(torch.randn(len(labels), 2, generator=torch.Generator().manual_seed(5)), labels)
    nearest, _ = nearest_modes(points, centers)
    per_class = torch.stack([(nearest[labels == k] == k).float().mean() for k in range(len(centers))])
    assert float(per_class.min()) >= 0.9, per_class


def test_fakes_use_the_real_batch_labels(image_dataset, make_config) -> None:
    seen: dict[str, list[torch.Tensor]] = {"g": [], "d": []}
    trainer = Trainer(make_config(conditional=True), image_dataset, torch.device("cpu"))
    g_forward, d_forward = trainer.generator.forward, trainer.discriminator.forward
    trainer.generator.forward = lambda z, labels=None: (seen["g"].append(labels), g_forward(z, labels))[1]
    trainer.discriminator.forward = lambda x, labels=None: (seen["d"].append(labels), d_forward(x, labels))[1]
    trainer.train_step()
    g_labels = seen["g"][0]
    assert g_labels is not None and g_labels.dtype == torch.int64 and g_labels.shape == (4,)
    assert all(torch.equal(labels, g_labels) for labels in seen["d"])  # real, fake and G's step alike
    assert len(seen["d"]) == 3


def test_conditional_grid_has_one_row_per_class(image_dataset, make_config) -> None:
    labels = conditional_grid_labels(3, columns=4)
    assert labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    trainer = Trainer(make_config(conditional=True), image_dataset, torch.device("cpu"))
    assert trainer.fixed_labels.view(4, 8).tolist() == [[k] * 8 for k in range(4)]
    z = trainer.fixed_z.view(4, 8, -1)
    assert all(torch.equal(z[0], z[row]) for row in range(4))  # the same latent down each column
    assert len(set(map(tuple, z[0].tolist()))) == 8


def test_conditional_needs_labels(unlabelled_dataset, make_config) -> None:
    with pytest.raises(GanforgeError, match="--conditional needs class labels"):
        Trainer(make_config(conditional=True), unlabelled_dataset, torch.device("cpu"))


def test_unconditional_runs_ignore_labels(image_dataset, make_config) -> None:
    trainer = Trainer(make_config(), image_dataset, torch.device("cpu"))
    assert trainer.spec.num_classes == 0 and trainer.fixed_labels is None


def _quadrant_images(per_class: int = 64) -> TensorDataset:
    """4 classes of 1x32x32 images: class k is a bright 16x16 square in quadrant k on black, lightly noised."""
    rng = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat(per_class)
    data = torch.randint(0, 30, (len(labels), 1, 32, 32), generator=rng, dtype=torch.uint8)
    for i, k in enumerate(labels.tolist()):
        row, col = divmod(k, 2)
        data[i, 0, 16 * row:16 * row + 16, 16 * col:16 * col + 16] += 200
    return TensorDataset(data, labels, num_classes=4, name="quadrants", class_names=[f"q{k}" for k in range(4)])


def brightest_quadrant(images: torch.Tensor) -> torch.Tensor:
    quadrants = images[:, 0].unfold(1, 16, 16).unfold(2, 16, 16).mean(dim=(-1, -2))  # (N, 2, 2)
    return quadrants.flatten(1).argmax(dim=1)


def test_conditional_dcgan_draws_the_requested_class(make_config) -> None:
    """The image path end to end: after a short CPU run, G's class-k samples look like class k."""
    config = make_config(preset="cgan", width=8, batch_size=32, z_dim=16, steps=300)
    trainer = Trainer(config, _quadrant_images(), torch.device("cpu"))
    for _ in range(config.steps):
        trainer.train_step()
    labels = torch.arange(4).repeat_interleave(50)
    generator = trainer.sampling_generator.eval()
    with torch.no_grad():
        images = generator(torch.randn(len(labels), 16, generator=torch.Generator().manual_seed(1)), labels)
    assert float((brightest_quadrant(images) == labels).float().mean()) >= 0.9
