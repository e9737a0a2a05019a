import numpy as np
import pytest

from dehaze.image_io import resize, save_image
from dehaze.scattering import linear_to_srgb, srgb_to_linear
from dehaze.training.datasets import PairedFolderDataset
from dehaze.training.evaluate import haze_level
from dehaze.training.haze_heldout import (
    MEAN_TRANSMISSION, heldout_haze, luminance_layers, main, scatter_in_linear_light, scene_geometry, sky_layers,
    sweep_haze,
)


@pytest.fixture(scope="module")
def photo(clear_photo):
    """The test photo at 128 x 96, so each haze takes milliseconds."""
    return resize(clear_photo, 128, 96)


def test_sky_is_far_ground_recedes_and_an_object_stands_at_one_distance():
    scene = np.zeros((96, 128, 3), np.float32)
    scene[:30] = np.linspace(0.9, 0.6, 30)[:, None, None] * np.array([0.7, 0.8, 1.0])  # sky, darker to the horizon
    scene[30:] = (0.35, 0.45, 0.2)  # a smooth meadow
    scene[20:70, 50:70] = (0.05, 0.05, 0.05)  # a dark tower standing on it
    sky = sky_layers(scene, layers := luminance_layers(scene, bands=6))[layers]
    assert sky[:18].all() and sky[:28, :44].all() and sky[:28, 76:].all()  # all the sky's bands, around the tower
    assert not sky[36:].any() and not sky[22:30, 54:66].any()  # not the meadow, not the tower (edges blur)
    geometry = scene_geometry(scene, np.random.default_rng(1))
    distance = geometry.distance
    assert np.allclose(distance[:28, :40], geometry.camera.far)
    assert distance[40, 10] > distance[60, 10] > distance[90, 10]
    assert np.ptp(distance[22:68, 53:67]) == 0 and distance[30, 60] < distance[40, 10]


@pytest.mark.parametrize("target", [0.8, 0.24])
@pytest.mark.parametrize("kind", ["homogeneous", "ground_fog"])
def test_mean_transmission_hits_its_target(photo, target, kind):
    sample = heldout_haze(photo, np.random.default_rng(1), mean_transmission=target, kind=kind)
    assert abs(sample.transmission.mean() - target) < 0.01
    assert sample.transmission.min() >= np.exp(-sample.beta) - 1e-6  # beta is the haziest pixel's optical depth


@pytest.mark.parametrize("target", [0.8, 0.24])
def test_sweep_fixes_everything_but_density(photo, target):
    sample = sweep_haze(photo, target, np.random.default_rng(2))
    assert abs(sample.transmission.mean() - target) < 0.01
    assert np.allclose(sample.airlight, 0.85) and sample.jpeg_quality == 90
    assert sample.level == ("light" if target == 0.8 else "dense")


def test_dense_is_denser_than_light_and_each_level_stays_in_its_range(photo):
    for seed in range(3):
        light = heldout_haze(photo, np.random.default_rng(seed), level="light")
        dense = heldout_haze(photo, np.random.default_rng(seed), level="dense")
        assert MEAN_TRANSMISSION["light"][0] <= light.transmission.mean() <= MEAN_TRANSMISSION["light"][1]
        assert MEAN_TRANSMISSION["dense"][0] <= dense.transmission.mean() <= MEAN_TRANSMISSION["dense"][1]
        assert dense.beta > light.beta
        assert np.abs(dense.hazy - photo).mean() > np.abs(light.hazy - photo).mean()


def test_sample_shapes_and_ranges(photo):
    for seed in range(4):
        sample = heldout_haze(photo, np.random.default_rng(seed))
        assert sample.hazy.shape == photo.shape and sample.hazy.dtype == np.float32
        assert sample.transmission.shape == photo.shape[:2] and sample.airlight.shape == (3,)
        assert 0.0 <= sample.hazy.min() and sample.hazy.max() <= 1.0
        assert 0.0 < sample.transmission.min() and sample.transmission.max() <= 1.0
        assert np.all((0.55 <= sample.airlight) & (sample.airlight <= 1.0))
        assert sample.level in ("light", "dense") and sample.jpeg_quality in range(55, 96)
        assert sample.clear is not photo and np.array_equal(sample.clear, photo)


def test_haze_mixes_light_linearly_before_the_camera(photo):
    black_under_white_haze = scatter_in_linear_light(np.zeros((1, 1, 3)), np.full((1, 1), 0.5), 1.0)
    assert np.allclose(linear_to_srgb(black_under_white_haze), 0.735, atol=0.002)  # not 0.5, as sRGB mixing gives

    sample = heldout_haze(photo, np.random.default_rng(5), noise=0.0, jpeg_quality=None, sharpen=False)
    t = sample.transmission[:, :, None]
    linear_mix = linear_to_srgb(srgb_to_linear(photo) * t + srgb_to_linear(sample.airlight) * (1 - t))
    assert np.abs(sample.hazy - linear_mix).max() <= 0.5 / 255 + 1e-4  # only 8-bit rounding
    assert np.abs(sample.clean_hazy - linear_mix).max() < 1e-5
    srgb_mix = photo * t + sample.airlight * (1 - t)
    assert np.abs(sample.hazy - srgb_mix).max() > 0.05


def test_noise_sets_the_grain(photo):
    clean = heldout_haze(photo, np.random.default_rng(6), noise=0.0, jpeg_quality=None, sharpen=False)
    noisy = heldout_haze(photo, np.random.default_rng(6), noise=0.02, jpeg_quality=None, sharpen=False)
    assert np.array_equal(clean.transmission, noisy.transmission)
    assert 0.016 < (noisy.hazy - clean.hazy).std() < 0.032  # about the std at mid grey, as `noise` says


def test_same_seed_gives_the_same_haze(photo):
    first, second, other = (heldout_haze(photo, np.random.default_rng(seed)) for seed in (8, 8, 9))
    assert np.array_equal(first.hazy, second.hazy) and np.array_equal(first.transmission, second.transmission)
    assert first.beta == second.beta and np.array_equal(first.airlight, second.airlight)
    assert not np.array_equal(first.hazy, other.hazy)


def test_heldout_set_pairs_in_the_reside_layout(tmp_path, photo, capsys):
    clear_folder = tmp_path / "photos"
    clear_folder.mkdir()
    save_image(photo, clear_folder / "hill_top.png")
    save_image(photo[:64, :80], clear_folder / "hill.jpg")
    main([str(clear_folder), str(tmp_path / "set"), "--seed", "7"])
    assert "wrote 4 hazy images" in capsys.readouterr().out

    dataset = PairedFolderDataset(tmp_path / "set")
    pairs = {hazy.stem: clear.stem for hazy, clear in dataset.pairs}
    assert sorted(pairs.values()) == ["hill", "hill", "hill_top", "hill_top"]
    assert sorted(haze_level(name) for name in pairs) == ["dense", "dense", "light", "light"]
    for index in range(len(dataset)):
        name, hazy, clear = dataset[index]
        assert hazy.shape == clear.shape and name.startswith(pairs[name] + "_")
        assert np.abs(hazy - clear).mean() > 0.02

    main([str(clear_folder), str(tmp_path / "again"), "--seed", "7"])
    assert sorted(p.name for p in (tmp_path / "again" / "hazy").iterdir()) == sorted(
        p.name for p in (tmp_path / "set" / "hazy").iterdir())
