"""R1/R2 from the loss's own D forward: the same values and the same update as the separate forwards,
with half the D forwards."""

from __future__ import annotations

import pytest
import torch

from ganforge.training.update import Trainer


def _pair(make_config, dataset, **options) -> tuple[Trainer, Trainer]:
    config = make_config(loss="rpgan", r1=0.2, r2=0.3, **options)
    shared, separate = Trainer(config, dataset, torch.device("cpu")), Trainer(config, dataset, torch.device("cpu"))
    separate.shared_penalty_forward = False
    return shared, separate


@pytest.mark.parametrize("conditional", [False, True])
def test_shared_forward_gives_the_separate_forwards_values_in_fp32(conditional: bool, image_dataset,
                                                                   make_config) -> None:
    shared, separate = _pair(make_config, image_dataset, precision="fp32", conditional=conditional)
    assert shared.shared_penalty_forward
    real, labels = shared.next_real()
    fake = shared.generator(shared.noise(), labels if conditional else None).detach()
    cond = labels if conditional else None
    a = shared.d_scores(real, fake, cond)
    b = separate.d_scores(real, fake, cond)
    for name in ("r1", "r2"):
        assert float(a[2][name].detach()) > 0
        assert float(a[2][name].detach()) == pytest.approx(float(b[2][name].detach()), rel=1e-5, abs=1e-7)
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])


def test_the_step_trains_d_the_same_with_two_forwards_instead_of_four(image_dataset, make_config) -> None:
    shared, separate = _pair(make_config, image_dataset, precision="fp32")
    counts = {}
    for name, trainer in (("shared", shared), ("separate", separate)):
        calls = []
        forward = trainer.discriminator.forward
        trainer.discriminator.forward = lambda x, labels=None, f=forward, c=calls: (c.append(1), f(x, labels))[1]
        scalars = trainer.train_step()
        counts[name] = (len(calls), scalars)
    # D's step: 2 loss forwards (+ 2 penalty forwards when separate); G's step: 2 (rpgan compares with reals)
    assert counts["shared"][0] == 4 and counts["separate"][0] == 6
    for key in ("loss_d", "penalty_r1", "penalty_r2"):
        assert float(counts["shared"][1][key]) == pytest.approx(float(counts["separate"][1][key]), rel=1e-5)
    for a, b in zip(shared.discriminator.parameters(), separate.discriminator.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_bf16_shared_forward_is_finite_and_close_to_the_float32_penalty(image_dataset, make_config) -> None:
    shared, separate = _pair(make_config, image_dataset, precision="bf16")
    shared.shared_penalty_forward = True  # what a device with native bf16 uses
    real, _ = shared.next_real()
    fake = shared.generator(shared.noise()).detach()
    a = shared.d_scores(real, fake, None)[2]
    b = separate.d_scores(real, fake, None)[2]
    for name in ("r1", "r2"):
        assert torch.isfinite(a[name]) and a[name].dtype == torch.float32
        assert float(a[name].detach()) == pytest.approx(float(b[name].detach()), rel=0.1)


@pytest.mark.parametrize(("precision", "native", "shared"), [
    ("fp16", True, False), ("bf16", True, True), ("bf16", False, False), ("fp32", False, True)])
def test_which_runs_share_the_forward(precision, native, shared, image_dataset, make_config, monkeypatch) -> None:
    """fp16 never (underflow); bf16 only where the device computes it natively (emulated, the double
    backward costs more than the float32 re-run)."""
    import ganforge.training.update as update

    monkeypatch.setattr(update, "native_bf16", lambda device: native)
    trainer, _ = _pair(make_config, image_dataset, precision=precision)
    assert trainer.shared_penalty_forward is shared
