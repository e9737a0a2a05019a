import numpy as np
import pytest

from dehaze import dehaze, load_image
from dehaze.dcp import dark_channel
from dehaze.guided_filter import to_tensor
from dehaze.image_io import resize
from tests.conftest import EXAMPLES

HAZY = EXAMPLES / "mate_Storm_hazy.jpg"


def mean_dark_channel(image: np.ndarray) -> float:
    return float(dark_channel(to_tensor(image, "cpu")).mean())


@pytest.mark.parametrize("method", ["dcp", "mscnn", "gan"])
@pytest.mark.parametrize("size", [(480, 320), (1600, 1067)])  # at full size, and lifted from the working size
def test_strength_moves_from_the_input_to_the_full_result_through_the_haze(method, size):
    hazy = resize(load_image(HAZY), *size)
    full = dehaze(hazy, method).image
    assert np.array_equal(dehaze(hazy, method, strength=1).image, full)
    assert np.abs(dehaze(hazy, method, strength=0).image - hazy).max() < 1e-5
    half = dehaze(hazy, method, strength=0.5).image
    assert mean_dark_channel(hazy) > mean_dark_channel(half) > mean_dark_channel(full)


def test_half_strength_is_not_a_cross_fade():
    """Half the haze density removes less than half of thick haze: t**0.5 is nearer 1 than (1 + t) / 2 is."""
    hazy = load_image(HAZY)
    full, half = dehaze(hazy, "dcp").image, dehaze(hazy, "dcp", strength=0.5).image
    assert np.abs(half - (hazy + full) / 2).mean() > 0.02


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan"), "0.5", None, True])
def test_bad_strength_fails_clearly(strength):
    with pytest.raises(ValueError, match="strength must be a number from 0"):
        dehaze(np.zeros((32, 32, 3), np.float32), "dcp", strength=strength)
