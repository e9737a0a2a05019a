import numpy as np
import torch

from dehaze import guided_filter as guided_filter_module
from dehaze.guided_filter import (
    affine_coefficients, apply_affine_map, box_filter, guided_filter, haze_strength_map, lift_to_full_resolution,
    resize_rows, resize_tensor, smooth_chroma, to_tensor,
)


def box_filter_float64(values: np.ndarray, radius: int) -> np.ndarray:
    """Reference: summed-area table in float64, windows clipped at the border."""
    height, width = values.shape
    table = np.zeros((height + 1, width + 1))
    table[1:, 1:] = values.astype(np.float64).cumsum(0).cumsum(1)
    top, bottom = np.clip(np.arange(height) - radius, 0, height), np.clip(np.arange(height) + radius + 1, 0, height)
    left, right = np.clip(np.arange(width) - radius, 0, width), np.clip(np.arange(width) + radius + 1, 0, width)
    total = table[bottom][:, right] - table[top][:, right] - table[bottom][:, left] + table[top][:, left]
    return total / np.outer(bottom - top, right - left)


def guided_filter_float64(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    mean = lambda values: box_filter_float64(values, radius)
    mean_guide, mean_source = mean(guide), mean(source)
    a = (mean(guide * source) - mean_guide * mean_source) / (mean(guide * guide) - mean_guide**2 + eps)
    b = mean_source - a * mean_guide
    return mean(a) * guide + mean(b)


def test_box_filter_matches_brute_force_with_clipped_windows():
    values = np.random.default_rng(0).random((17, 12))
    for radius in (3, 8, 20):  # 20: every window spans the whole image
        expected = np.array([[values[max(i - radius, 0):i + radius + 1, max(j - radius, 0):j + radius + 1].mean()
                              for j in range(12)] for i in range(17)])
        assert np.allclose(box_filter(values, radius), expected, atol=1e-12)
        assert np.allclose(box_filter(torch.from_numpy(values).float(), radius).numpy(), expected, atol=1e-6)


def test_guided_filter_matches_a_float64_reference_on_a_large_image(clear_photo):
    """Float32 window sums, no running sums over the image: within 1e-3 of float64 at 3 MP, small and large radii."""
    gray = resize_tensor(to_tensor(clear_photo, "cpu"), 1536, 2048).mean(dim=0)
    source = (gray > 0.5).float() * 0.8 + 0.1  # a blocky map, like a raw transmission
    for radius, eps in ((4, 1e-4), (150, 1e-3)):
        expected = guided_filter_float64(gray.double().numpy(), source.double().numpy(), radius, eps)
        assert np.abs(guided_filter(gray, source, radius, eps).numpy() - expected).max() < 1e-3


def test_guided_filter_preserves_edges_of_its_guide():
    guide = np.zeros((60, 60), np.float32)
    guide[:, 30:] = 1.0
    noisy = guide + np.random.default_rng(0).normal(0, 0.05, guide.shape).astype(np.float32)
    filtered = guided_filter(guide, noisy, radius=8, eps=1e-3)
    assert isinstance(filtered, np.ndarray)
    assert np.abs(filtered - guide).mean() < np.abs(noisy - guide).mean() / 3
    assert filtered[:, 31].mean() - filtered[:, 28].mean() > 0.9  # the step survives


def test_lift_reproduces_an_affine_dehazing_at_full_resolution(clear_photo):
    full = to_tensor(clear_photo, "cpu")
    dehaze_map = lambda image: (1.4 * image - 0.2).clamp(0, 1)
    small = resize_tensor(full, full.shape[1] // 4, full.shape[2] // 4)
    lifted = lift_to_full_resolution(full, small, dehaze_map(small))
    assert lifted.shape == full.shape
    assert (lifted - dehaze_map(full)).abs().mean() < 0.01


def test_lifting_a_large_image_onto_itself_is_the_identity(clear_photo):
    """Window sums over a 3 MP image must keep window means exact enough for variances of 1e-4."""
    big = resize_tensor(to_tensor(clear_photo, "cpu"), 1536, 2048)
    a, b = affine_coefficients(big, big, radius=4, eps=1e-4)
    assert -0.01 < a.min() and a.max() < 1.01
    assert (lift_to_full_resolution(big, big, big) - big).abs().max() < 0.02


def test_strength_scales_the_haze_density_of_the_affine_map():
    """For J = (I - A) / t + A, strength s must give J_s = (I - A) / t**s + A, the same scene under t**s."""
    transmission = torch.linspace(0.05, 1.0, 200)
    airlight, hazy = 0.8, torch.rand(200)
    a, b = 1 / transmission, airlight * (1 - 1 / transmission)
    for strength in (0.0, 0.3, 0.5, 1.0):
        a_s, b_s = haze_strength_map(a, b, strength)
        expected = (hazy - airlight) / transmission**strength + airlight
        assert torch.allclose(a_s * hazy + b_s, expected, atol=1e-4), strength
    a_0, b_0 = haze_strength_map(torch.tensor([-3.0, 0.5, 20.0]), torch.tensor([2.0, 0.3, -5.0]), 0.0)
    assert torch.equal(a_0, torch.ones(3)) and torch.equal(b_0, torch.zeros(3))


def test_strips_give_the_whole_image_result(clear_photo, monkeypatch):
    """apply_affine_map and the structure layer's colour go through strips of rows; the result must not show it."""
    full = resize_tensor(to_tensor(clear_photo, "cpu"), 300, 410)
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.uniform(0.5, 4.0, (3, 37, 51)).astype(np.float32))
    b = torch.from_numpy(rng.uniform(-0.5, 0.5, (3, 37, 51)).astype(np.float32))
    monkeypatch.setattr(guided_filter_module, "STRIP_PIXELS", 10**9)
    whole_chroma, whole = smooth_chroma(full), apply_affine_map(full, a, b)
    monkeypatch.setattr(guided_filter_module, "STRIP_PIXELS", 30 * 103)
    assert guided_filter_module.strip_height(410) == 8  # 38 strips at full size
    assert guided_filter_module.strip_height(103) == 30  # 3 strips at a quarter of the size (75 x 103)
    assert torch.allclose(smooth_chroma(full), whole_chroma, atol=1e-6)
    assert torch.allclose(apply_affine_map(full, a, b), whole, atol=1e-5)


def test_resize_rows_matches_bilinear_interpolation():
    image = torch.rand(2, 23, 31)
    expected = torch.nn.functional.interpolate(image[None], size=(97, 64), mode="bilinear", align_corners=False)[0]
    for top, bottom in ((0, 97), (0, 1), (40, 61), (90, 97)):
        assert torch.allclose(resize_rows(image, 97, 64, top, bottom), expected[:, top:bottom], atol=1e-6)
