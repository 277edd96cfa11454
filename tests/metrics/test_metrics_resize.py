"""The legacy-TensorFlow input pipeline: TF1 bilinear resize (no half-pixel offset) and normalization."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganforge.data import to_uint8
from ganforge.metrics.preprocess import inception_input, tf1_legacy_bilinear_matrix


def test_resize_matrix_2_to_3_by_hand() -> None:
    # src = dst * 2/3 -> 0, 0.667, 1.333; the last clamps hi to 1 so it copies pixel 1
    expected = np.array([[1.0, 0.0], [1 / 3, 2 / 3], [0.0, 1.0]])
    np.testing.assert_allclose(tf1_legacy_bilinear_matrix(2, 3), expected, atol=1e-12)


def test_resize_matrix_3_to_5_by_hand() -> None:
    # src = dst * 3/5 -> 0, 0.6, 1.2, 1.8, 2.4 (hi clamps to 2 for the last one)
    expected = np.array([[1.0, 0.0, 0.0], [0.4, 0.6, 0.0], [0.0, 0.8, 0.2], [0.0, 0.2, 0.8], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(tf1_legacy_bilinear_matrix(3, 5), expected, atol=1e-12)


def test_downscale_4_to_2_samples_without_half_pixel_offset() -> None:
    # src = 0, 2 exactly: TF1 legacy picks pixels 0 and 2 (half-pixel rules would average 0-1 and 2-3)
    np.testing.assert_allclose(tf1_legacy_bilinear_matrix(4, 2), [[1, 0, 0, 0], [0, 0, 1, 0]], atol=1e-12)


def test_image_2x2_to_3x3_by_hand_and_normalized() -> None:
    image = torch.tensor([[[[0, 90], [180, 255]]]], dtype=torch.uint8)  # (1, 1, 2, 2) grayscale
    # rows: r0 = [0, 90]; r1 = 1/3 r0 + 2/3 r1' = [120, 200]; r2 = [180, 255]; then the same along columns
    expected = np.array([[0, 60, 90], [120, 520 / 3, 200], [180, 230, 255]], dtype=np.float64)
    out = inception_input(image, out_size=3)
    assert out.shape == (1, 3, 3, 3)
    for channel in range(3):  # grayscale repeated to RGB
        np.testing.assert_allclose(out[0, channel].numpy(), (expected - 128) / 128, atol=1e-6)


def _tf1_reference(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Straight per-pixel transcription of TF1's legacy resize_bilinear (align_corners=False)."""
    in_h, in_w = image.shape
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        y = i * in_h / out_h
        y0 = int(np.floor(y))
        y1, fy = min(y0 + 1, in_h - 1), y - y0
        for j in range(out_w):
            x = j * in_w / out_w
            x0 = int(np.floor(x))
            x1, fx = min(x0 + 1, in_w - 1), x - x0
            top = image[y0, x0] + (image[y0, x1] - image[y0, x0]) * fx
            bottom = image[y1, x0] + (image[y1, x1] - image[y1, x0]) * fx
            out[i, j] = top + (bottom - top) * fy
    return out


@pytest.mark.parametrize("shape", [(5, 7), (32, 32), (13, 4)])
def test_matrix_resize_equals_per_pixel_formula(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    out = inception_input(torch.from_numpy(image)[None, None], out_size=11)[0, 0].numpy()
    np.testing.assert_allclose(out * 128 + 128, _tf1_reference(image.astype(np.float64), 11, 11), atol=1e-4)


def test_299_input_is_not_resampled_and_layout_is_channels_last() -> None:
    image = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out = inception_input(image)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, (image.float() - 128) / 128)


def test_pipeline_takes_only_uint8() -> None:
    with pytest.raises(TypeError, match="to_uint8"):
        inception_input(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="1 or 3"):
        inception_input(torch.zeros(1, 4, 8, 8, dtype=torch.uint8))


def test_generator_quantization_rule() -> None:
    # x*127.5+128, clamp, truncate: -1 -> 0.5 -> 0, 0 -> 128, 1 -> 255.5 -> 255
    values = to_uint8(torch.tensor([-1.5, -1.0, 0.0, 0.999, 1.0, 2.0]))
    assert values.tolist() == [0, 0, 128, 255, 255, 255]
