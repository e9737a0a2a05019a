import numpy as np
import pytest
from skimage.metrics import structural_similarity

from dehaze.metrics import psnr, score, ssim


def test_psnr_of_a_known_error():
    image = np.full((10, 10, 3), 0.5)
    assert psnr(image + 0.1, image) == pytest.approx(20.0)
    assert psnr(image, image) == float("inf")


def test_psnr_over_a_mask_counts_its_pixels_only():
    image = np.full((10, 10, 3), 0.5)
    prediction = image.copy()
    prediction[:, :5] += 0.1  # the left half off by 0.1, the right half exact
    left = np.zeros((10, 10), bool)
    left[:, :5] = True
    assert psnr(prediction, image, left) == pytest.approx(20.0)
    assert psnr(prediction, image, ~left) == float("inf")
    assert psnr(prediction, image) == pytest.approx(20.0 + 10 * np.log10(2))
    assert np.isnan(psnr(prediction, image, np.zeros((10, 10), bool)))


def test_ssim_agrees_with_scikit_image(clear_photo):
    noisy = np.clip(clear_photo + np.random.default_rng(0).normal(0, 0.05, clear_photo.shape), 0, 1).astype(np.float32)
    reference = structural_similarity(noisy, clear_photo, channel_axis=2, data_range=1.0, gaussian_weights=True,
                                      sigma=1.5, use_sample_covariance=False)
    assert ssim(noisy, clear_photo) == pytest.approx(reference, abs=2e-3)
    assert ssim(clear_photo, clear_photo) == pytest.approx(1.0, abs=1e-5)


def test_score_refuses_mismatched_sizes():
    with pytest.raises(ValueError, match="ground truth"):
        score(np.zeros((20, 20, 3)), np.zeros((20, 30, 3)))
