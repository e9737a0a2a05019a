"""What every synthesizer `datasets.haze_on_device` may call owes the training loop, checked once for each."""

import pytest
import torch

from dehaze.training.datasets import DEVICE_SYNTHESIZERS
from dehaze.training.haze_patchy import LEVELS, PatchyHaze
from tests.test_haze_patchy import camera_settings, landscape, seeded

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SYNTHESIZERS = sorted(DEVICE_SYNTHESIZERS)
QUIET_AND_NOISY = dict(read_noise=(0.0, 0.0, 0.002, 0.002), shot_noise=(0.0, 0.0, 0.0015, 0.0015),
                       jpeg_quality=(0, 0, 50, 50))  # two samples written untouched to 8 bits, two noisy JPEGs

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", SYNTHESIZERS)
@pytest.mark.parametrize("device", DEVICES)
def test_outputs_have_their_shapes_and_ranges_on_the_input_device(device, name):
    clear = landscape(4, 61, 67, device).double()  # any float input; odd sizes, not multiples of the cells or blocks
    haze = DEVICE_SYNTHESIZERS[name](clear, seeded(1, device))
    assert isinstance(haze, PatchyHaze)
    for image in (haze.hazy, haze.clean_hazy, haze.clear):
        assert image.shape == clear.shape and image.device == clear.device and image.dtype == torch.float32
        assert 0 <= image.min() and image.max() <= 1
    assert torch.allclose(haze.hazy * 255, torch.round(haze.hazy * 255), atol=1e-3)  # a file's 8-bit values
    assert haze.transmission.shape == (4, 1, 61, 67) and 0 < haze.transmission.min() and haze.transmission.max() <= 1
    assert haze.airlight.shape == (4, 3) and 0 <= haze.airlight.min() and haze.airlight.max() <= 1
    assert haze.noise_sigma.shape == (4,) and haze.noise_sigma.device == clear.device
    assert haze.grayscale.shape == (4,) and haze.grayscale.dtype == torch.bool
    assert len(haze.level) == 4 and set(haze.level) <= set(LEVELS)


@pytest.mark.parametrize("name", SYNTHESIZERS)
def test_grayscale_samples_stay_grey(name):
    grey = torch.tensor([True, True, False, False])
    noisy_jpeg = camera_settings((0.002,) * 4, (0.0015,) * 4, (0, 95, 0, 95), blur_sigma=(0.0, 0.8, 0.0, 0.8))
    haze = DEVICE_SYNTHESIZERS[name](landscape(), seeded(6), levels="light", grayscale=grey, camera_settings=noisy_jpeg)
    for image in (haze.clear, haze.clean_hazy, haze.hazy):
        assert (image[:2] - image[:2, :1]).abs().max() < 1e-6
        assert (image[2:] - image[2:, :1]).abs().max() > 0.05  # colour samples keep their colour
    assert (haze.airlight[:2] - haze.airlight[:2, :1]).abs().max() < 1e-6


@pytest.mark.parametrize("name", SYNTHESIZERS)
def test_noise_sigma_measures_the_camera_error(name):
    haze = DEVICE_SYNTHESIZERS[name](landscape(), seeded(11), levels="light",
                                     camera_settings=camera_settings(**QUIET_AND_NOISY))
    assert torch.allclose(haze.noise_sigma, (haze.hazy - haze.clean_hazy).flatten(1).std(1))
    assert (haze.noise_sigma[:2] < 0.5 / 255).all()  # 8-bit rounding alone: 1 / 255 / sqrt(12)
    assert (haze.noise_sigma[2:] > 3 * haze.noise_sigma[:2].max()).all()


@pytest.mark.parametrize("name", SYNTHESIZERS)
@pytest.mark.parametrize("levels", ["foggy", ["light", "dense"], ["light", "dense", "thick", "clear"]])
def test_bad_levels_raise_a_clear_error(name, levels):
    with pytest.raises(ValueError, match=r"levels must be 4 of \('clear', 'light', 'dense'\)"):
        DEVICE_SYNTHESIZERS[name](landscape(), seeded(12), levels=levels)
