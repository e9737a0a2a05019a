import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from dehaze.dcp import dark_channel, dehaze_dcp, estimate_airlight, min_filter
from dehaze.guided_filter import to_tensor
from dehaze.image_io import resize
from dehaze.metrics import psnr
from tests.test_guided_filter import box_filter_float64


def dehaze_dcp_float64(image: np.ndarray, patch=15, omega=0.95, t0=0.1):
    """Reference: He et al.'s DCP in float64 numpy, as this library computed it before torch."""
    image = image.astype(np.float64)

    def dark(values):
        padded = np.pad(values.min(axis=2), patch // 2, mode="edge")
        return sliding_window_view(padded, (patch, patch)).min(axis=(-1, -2))

    dark_hazy = dark(image).ravel()
    threshold = np.sort(dark_hazy)[::-1][max(1, int(dark_hazy.size * 0.001))]
    candidates = dark_hazy > threshold - 2 / 255
    colours, weights = image.reshape(-1, 3)[candidates], dark_hazy[candidates] - threshold + 2 / 255
    brightness = colours.mean(axis=1)
    weights = weights * np.exp(np.minimum((brightness - weights @ brightness / weights.sum()) / 0.005, 5))
    airlight = weights @ colours / weights.sum()
    raw = 1 - omega * dark(image / airlight)
    gray = image @ np.array([0.299, 0.587, 0.114])
    transmission = np.clip(fast_guided_filter_float64(gray, raw, max(4, min(image.shape[:2]) // 10), 1e-3), 0, 1)
    return np.clip((image - airlight) / np.maximum(transmission, t0)[..., None] + airlight, 0, 1), transmission


def fast_guided_filter_float64(guide: np.ndarray, source: np.ndarray, radius: int, eps: float, scale: int = 4):
    """He and Sun's fast guided filter: coefficients fitted on scale x scale block means, upsampled bilinearly."""
    height, width = guide.shape
    blocks = lambda values: values.reshape(height // scale, scale, width // scale, scale).mean(axis=(1, 3))
    small_guide, small_source, small_radius = blocks(guide), blocks(source), radius // scale
    mean = lambda values: box_filter_float64(values, small_radius)
    a = (mean(small_guide * small_source) - mean(small_guide) * mean(small_source)) / (
        mean(small_guide**2) - mean(small_guide) ** 2 + eps)
    b = mean(small_source) - a * mean(small_guide)
    coefficients = torch.from_numpy(np.stack([mean(a), mean(b)]))[None]
    a, b = torch.nn.functional.interpolate(coefficients, size=(height, width), mode="bilinear", align_corners=False)[0]
    return a.numpy() * guide + b.numpy()


def test_min_filter_matches_brute_force():
    values = np.random.default_rng(0).random((23, 31)).astype(np.float32)
    padded = np.pad(values, 2, mode="edge")
    expected = np.array([[padded[i:i + 5, j:j + 5].min() for j in range(31)] for i in range(23)])
    assert np.array_equal(min_filter(torch.from_numpy(values), 5).numpy(), expected)


def test_dark_channel_is_low_on_clear_photos_and_high_in_haze(clear_photo, hazy_pair):
    clear, hazy = to_tensor(clear_photo), to_tensor(hazy_pair[0])
    assert dark_channel(clear).median() < 0.25
    assert dark_channel(hazy).median() > dark_channel(clear).median() + 0.2


def test_airlight_is_the_haze_colour(hazy_pair):
    hazy, _, _, airlight = hazy_pair
    hazy = to_tensor(hazy)
    estimate = estimate_airlight(hazy, dark_channel(hazy))
    assert (estimate.cpu() - airlight).abs().max() < 0.1


def test_dcp_matches_a_float64_reference(hazy_pair):
    hazy = resize(hazy_pair[0], 1200, 800)
    expected_image, expected_transmission = dehaze_dcp_float64(hazy)
    result = dehaze_dcp(hazy)
    assert np.abs(result.transmission - expected_transmission).max() < 1e-3
    assert np.abs(result.image - expected_image).max() < 1e-3


def test_dcp_recovers_synthetic_haze_better_than_the_input(hazy_pair):
    hazy, clear, transmission, _ = hazy_pair
    result = dehaze_dcp(hazy)
    assert psnr(result.image, clear) > psnr(hazy, clear) + 3
    assert result.image.shape == hazy.shape and result.image.dtype == np.float32
    assert result.transmission.shape == hazy.shape[:2]
    assert 0 <= result.transmission.min() and result.transmission.max() <= 1
    assert np.corrcoef(result.transmission.ravel(), transmission.ravel())[0, 1] > 0.7


def test_dcp_takes_mirrored_views(hazy_pair):
    """Training mirrors photos with a negative-stride view; torch cannot wrap those without a copy."""
    hazy = hazy_pair[0]
    mirrored = dehaze_dcp(hazy[:, ::-1])
    assert np.allclose(mirrored.image, dehaze_dcp(np.ascontiguousarray(hazy[:, ::-1])).image)


def test_invisible_noise_does_not_choose_the_airlight_where_8_bit_dark_channels_tie():
    """A bright flat region of one 8-bit dark-channel level, larger than the brightest fraction, ties every candidate
    with the threshold; noise of sigma 1e-4 must not decide which of them count (on a real photo it moved the
    airlight by 0.01, and the output by up to 0.13, before ties were allowed for)."""
    rng = np.random.default_rng(3)
    image = np.empty((3, 96, 96), dtype=np.float32)
    image[:, :, :48] = np.array([215, 200, 185])[:, None, None] / 255  # two colours of one brightness and dark channel
    image[:, :, 48:] = np.array([185, 200, 215])[:, None, None] / 255
    image[:, 60:] = rng.random((3, 36, 96)) * 0.5  # a darker, textured foreground
    image = torch.from_numpy(image)
    noisy = (image + torch.from_numpy(rng.normal(0, 1e-4, image.shape).astype(np.float32))).clamp(0, 1)
    before, after = (estimate_airlight(x, dark_channel(x)) for x in (image, noisy))
    assert float((after - before).abs().max()) < 1e-3
