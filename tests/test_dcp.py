import numpy as np

from dehaze.dcp import dark_channel, dehaze_dcp, estimate_airlight, min_filter
from dehaze.metrics import psnr


def test_min_filter_matches_brute_force():
    values = np.random.default_rng(0).random((23, 31)).astype(np.float32)
    padded = np.pad(values, 2, mode="edge")
    expected = np.array([[padded[i:i + 5, j:j + 5].min() for j in range(31)] for i in range(23)])
    assert np.array_equal(min_filter(values, 5), expected)


def test_dark_channel_is_low_on_clear_photos_and_high_in_haze(clear_photo, hazy_pair):
    hazy = hazy_pair[0]
    assert np.median(dark_channel(clear_photo)) < 0.25
    assert np.median(dark_channel(hazy)) > np.median(dark_channel(clear_photo)) + 0.2


def test_airlight_is_the_haze_colour(hazy_pair):
    hazy, _, _, airlight = hazy_pair
    estimate = estimate_airlight(hazy, dark_channel(hazy))
    assert np.abs(estimate - airlight).max() < 0.1


def test_dcp_recovers_synthetic_haze_better_than_the_input(hazy_pair):
    hazy, clear, transmission, _ = hazy_pair
    result = dehaze_dcp(hazy)
    assert psnr(result.image, clear) > psnr(hazy, clear) + 3
    assert result.transmission.shape == hazy.shape[:2]
    assert 0 <= result.transmission.min() and result.transmission.max() <= 1
    assert np.corrcoef(result.transmission.ravel(), transmission.ravel())[0, 1] > 0.7
