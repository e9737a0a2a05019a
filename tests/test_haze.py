import numpy as np
import pytest

from dehaze.training.haze import (
    BETA_RANGES, DARKER_STOPS, darker_exposure, jpeg_round_trip, linear_to_srgb, random_haze, scatter, scene_depth,
    sky_mask, srgb_to_linear,
)


@pytest.fixture(scope="module")
def landscape():
    """Blue sky over the top third, textured green ground below with a dark tree on the left."""
    rng = np.random.default_rng(0)
    image = np.zeros((240, 360, 3), np.float32)
    image[:80] = (0.45, 0.62, 0.9)
    image[80:] = (0.25, 0.45, 0.15) + rng.normal(0, 0.05, (160, 360, 1)).astype(np.float32)
    image[40:200, 40:70] = (0.1, 0.12, 0.08)
    return np.clip(image, 0, 1)


def test_sky_is_found_from_the_top_and_put_at_infinity(landscape):
    sky = sky_mask(landscape)
    assert sky[:70, 100:].mean() > 0.95 and sky[90:].mean() < 0.01
    assert not sky[50:80, 45:65].any()  # the tree against the sky is not sky
    depth = scene_depth(landscape, np.random.default_rng(1))
    assert depth[:60, 120:].min() > 0.95


def test_ground_comes_nearer_towards_the_bottom_and_depth_steps_at_edges(landscape):
    depth = scene_depth(landscape, np.random.default_rng(2))
    rows = depth[90:, 100:].mean(axis=1)
    assert rows[0] > rows[-1] + 0.2
    assert depth[120, 55] < depth[120, 30] - 0.02 or depth[120, 55] < depth[120, 85] - 0.02  # the tree stands out


def test_darker_exposure_scales_linear_light_by_whole_stops(landscape):
    for seed in range(5):
        darker = darker_exposure(landscape, np.random.default_rng(seed))
        ratio = srgb_to_linear(darker) / np.maximum(srgb_to_linear(landscape), 1e-6)
        stops = -np.log2(np.median(ratio))
        assert DARKER_STOPS[0] <= stops <= DARKER_STOPS[1]
        assert np.allclose(ratio[landscape > 0.05], 2.0**-stops, rtol=1e-3)  # one exposure for the whole photo


def test_dim_exposure_darkens_the_whole_hazy_scene_and_keeps_its_depth(landscape):
    bright = random_haze(landscape, np.random.default_rng(4), level="dense", grayscale=False)
    dim = random_haze(landscape, np.random.default_rng(4), level="dense", grayscale=False, exposure=0.125)
    assert np.array_equal(dim.transmission, bright.transmission)
    assert np.allclose(srgb_to_linear(dim.clear), srgb_to_linear(bright.clear) * 0.125, atol=1e-4)
    assert np.allclose(srgb_to_linear(dim.airlight), srgb_to_linear(bright.airlight) * 0.125, atol=1e-4)
    ratio = np.median(srgb_to_linear(dim.hazy) / np.maximum(srgb_to_linear(bright.hazy), 1e-3))
    assert ratio == pytest.approx(0.125, rel=0.15)  # camera noise and JPEG come after, at the dim level


def test_scattering_happens_in_linear_light():
    clear = np.full((4, 4, 3), 0.2, np.float32)
    half = scatter(clear, np.full((4, 4), 0.5, np.float32), np.ones(3, np.float32))
    expected = linear_to_srgb((srgb_to_linear(clear) + 1.0) / 2)
    assert np.allclose(half, expected, atol=1e-6) and not np.allclose(half, 0.6, atol=0.01)


def test_jpeg_round_trip_is_lossy_and_8_bit(landscape):
    decoded = jpeg_round_trip(landscape, 60)
    assert decoded.shape == landscape.shape and 0 < np.abs(decoded - landscape).mean() < 0.05
    assert np.allclose(decoded * 255, np.round(decoded * 255), atol=1e-4)


@pytest.mark.parametrize("level", ["clear", "light", "dense"])
def test_haze_levels_span_their_transmissions(landscape, level):
    sample = random_haze(landscape, np.random.default_rng(3), level=level, grayscale=False)
    low, high = BETA_RANGES[level]
    assert sample.level == level and low <= sample.beta <= high
    assert sample.transmission.min() >= np.exp(-high) - 1e-6 and sample.transmission.max() <= 1
    if level == "clear":  # nearly the photo, and the target is the input itself: given back as it came
        assert np.abs(sample.hazy - landscape).mean() < 0.03
        assert np.array_equal(sample.clear, sample.hazy)
    else:
        assert sample.hazy.std() < landscape.std()  # haze takes contrast away


def test_airlight_is_grey_or_slightly_tinted_and_samples_are_reproducible(landscape):
    for seed in range(20):
        airlight = random_haze(landscape, np.random.default_rng(seed), level="dense").airlight
        assert 0.6 <= airlight.min() and airlight.max() <= 1 and airlight.max() - airlight.min() <= 0.081
    first, again = (random_haze(landscape, np.random.default_rng(5)) for _ in range(2))
    assert np.array_equal(first.hazy, again.hazy)


def test_grayscale_samples_stay_grey(landscape):
    sample = random_haze(landscape, np.random.default_rng(4), level="light", grayscale=True)
    for image in (sample.hazy, sample.clear):
        assert np.abs(image - image[:, :, :1]).max() < 1e-6


def test_level_probabilities_choose_how_often_each_haze_comes(landscape):
    levels = {random_haze(landscape, np.random.default_rng(seed), level_probabilities=(0.0, 0.0, 1.0)).level
              for seed in range(5)}
    assert levels == {"dense"}
