"""DiffAugment: shapes, seeded determinism, differentiability, and what each transform does."""

from __future__ import annotations

import pytest
import torch

from ganforge.training.augment import diff_augment, rand_cutout, rand_translation


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_same_generator_state_same_augmentation() -> None:
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    a, b = diff_augment(x, _gen(1)), diff_augment(x, _gen(1))
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, diff_augment(x, _gen(2)))


def test_gradients_flow_through_every_transform() -> None:
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    diff_augment(x, _gen()).square().sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_translation_shifts_and_fills_with_zeros() -> None:
    x = torch.arange(1, 17, dtype=torch.float32).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = rand_translation(x, _gen(), ratio=0.25)  # shifts of -1, 0 or +1 pixels
    for image in out[:, 0]:
        # Every output is the input shifted: its non-zero values form a contiguous block of the input.
        nonzero = image[image != 0]
        assert len(nonzero) in (9, 12, 16)
        assert set(nonzero.tolist()) <= set(range(1, 17))
    assert (out == 0).any() and (out != 0).all(dim=(1, 2, 3)).any()  # some shifted, some not


def test_cutout_zeroes_a_square_of_half_the_side() -> None:
    x = torch.ones(200, 2, 8, 8)
    out = rand_cutout(x, _gen(), ratio=0.5)
    zeros = (out[:, 0] == 0).sum(dim=(1, 2))
    assert int(zeros.max()) == 16  # a 4x4 square when it lies fully inside
    assert int(zeros.min()) >= 4  # the center is always inside the image
    assert torch.equal(out[:, 0], out[:, 1])  # the same square in every channel


def test_points_are_rejected() -> None:
    with pytest.raises(ValueError, match="images"):
        diff_augment(torch.zeros(4, 2), _gen())


def test_trainer_augments_real_and_fake_with_its_own_stream(image_dataset, make_config, monkeypatch) -> None:
    import ganforge.training.update as update
    from ganforge.training.update import Trainer

    calls: list[tuple[int, bool]] = []
    original = update.diff_augment

    def spy(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        calls.append((len(x), x.requires_grad))
        assert generator is trainer.aux_rng
        return original(x, generator)

    monkeypatch.setattr(update, "diff_augment", spy)
    trainer = Trainer(make_config(augment="diffaug", n_critic=2), image_dataset, torch.device("cpu"))
    state = trainer.aux_rng.get_state().clone()
    trainer.train_step()
    # 2 critic steps x (real, fake) + G's step on the fake batch, which keeps its graph for G.
    assert calls == [(4, False), (4, False), (4, False), (4, False), (4, True)]
    assert not torch.equal(state, trainer.aux_rng.get_state())
