import numpy as np
import pytest

from dehaze.image_io import resize, save_image
from dehaze.scattering import linear_to_srgb, srgb_to_linear
from dehaze.training.datasets import PairedFolderDataset
from dehaze.training.evaluate import haze_level
from dehaze.training.haze_heldout import (
    MEAN_TRANSMISSION, edge_regions, heldout_haze, main, merged_layers, scatter_in_linear_light, scene_geometry,
    sky_mask, sweep_haze,
)


@pytest.fixture(scope="module")
def photo(clear_photo):
    """The test photo at 128 x 96, so each haze takes milliseconds."""
    return resize(clear_photo, 128, 96)


def sky_of(scene):
    return sky_mask(scene, merged_layers(scene, edge_regions(scene)))


def sky_over_ground(top=(0.12, 0.25, 0.55), horizon=(0.55, 0.7, 0.9), sky_rows=40, seed=0):
    """A 128 x 96 photo: a smooth sky, darker toward the zenith, over grassy ground textured by noise."""
    rng = np.random.default_rng(seed)
    scene = np.zeros((96, 128, 3), np.float32)
    scene[:sky_rows] = np.linspace(0, 1, sky_rows)[:, None, None] * (np.subtract(horizon, top)) + top
    grass = (0.35, 0.4, 0.18) + 0.12 * rng.standard_normal((96 - sky_rows, 128, 1)) + 0.04 * rng.standard_normal(
        (96 - sky_rows, 128, 3))
    scene[sky_rows:] = np.clip(grass, 0, 1)
    return scene


def test_sky_is_far_ground_recedes_and_an_object_stands_at_one_distance():
    scene = np.zeros((96, 128, 3), np.float32)
    scene[:30] = np.linspace(0.9, 0.6, 30)[:, None, None] * np.array([0.7, 0.8, 1.0])  # sky, darker to the horizon
    scene[30:] = (0.35, 0.45, 0.2)  # a smooth meadow
    scene[6:62, 50:70] = (0.05, 0.05, 0.05)  # a dark tower standing on it, rising well above the horizon
    sky = sky_of(scene)
    assert sky[:28, :48].all() and sky[:28, 72:].all() and sky[:4].all()  # all of the sky's gradient, around the tower
    assert not sky[32:].any() and not sky[8:30, 52:68].any()  # not the meadow, not the tower
    for seed in range(3):
        geometry = scene_geometry(scene, np.random.default_rng(seed))
        distance, far = geometry.distance, geometry.camera.far
        assert np.allclose(distance[:28, :44], far)
        assert distance[40, 10] > distance[60, 10] > distance[90, 10]  # the meadow recedes to the horizon
        assert np.ptp(distance[10:60, 54:66]) < 0.01 * far  # the tower at one distance...
        assert abs(distance[40, 60] - distance[62, 10]) < 0.02 * far  # ...that of the meadow at its foot
        assert distance[40, 60] < 0.5 * distance[40, 10]  # in front of the meadow behind it


@pytest.mark.parametrize("seed", range(4))
def test_a_smooth_sky_has_no_haze_step_and_is_hazier_than_the_land(seed):
    """Layers once cut a smooth sky into bands of even brightness at different distances: hard-edged haze steps."""
    scene = sky_over_ground(seed=seed)
    sample = heldout_haze(scene, np.random.default_rng(seed), kind="homogeneous", noise=0.0, jpeg_quality=None,
                          sharpen=False)
    sky, land = sample.transmission[:38], sample.transmission[42:]
    assert np.abs(np.diff(sky, axis=0)).max() < 1e-4 and np.abs(np.diff(sky, axis=1)).max() < 1e-4
    assert sky.max() <= land.min() + 1e-6  # at the far limit, nothing is hazier than the sky

    # Ground fog thins as rays climb into the sky, but smoothly: no step, however steep near the horizon.
    fog = heldout_haze(scene, np.random.default_rng(seed), kind="ground_fog", noise=0.0, jpeg_quality=None,
                       sharpen=False).transmission[:38]
    assert np.abs(np.diff(fog, n=2, axis=0)).max() < 0.03 and np.abs(np.diff(fog, n=2, axis=1)).max() < 0.03
    assert np.all(np.diff(fog.mean(axis=1)) <= 1e-6)  # more fog toward the horizon


def test_a_dark_blue_sky_with_clouds_is_all_sky():
    scene = sky_over_ground(top=(0.05, 0.15, 0.45), horizon=(0.2, 0.35, 0.7), sky_rows=44, seed=3)
    rows, cols = np.indices(scene.shape[:2])
    texture = 0.04 * np.random.default_rng(4).standard_normal(scene.shape[:2])
    for row, col, radius in ((12, 0, 14), (20, 70, 9), (6, 110, 7)):  # clouds, one cut by the frame's edge
        cloud = np.hypot(rows - row, (cols - col) / 1.5) < radius
        scene[cloud] = np.clip(0.88 + texture[cloud, None], 0, 1)
    sky = sky_of(scene)
    assert sky[:42].all() and not sky[46:].any()
    geometry = scene_geometry(scene, np.random.default_rng(0))
    assert np.allclose(geometry.distance[:42], geometry.camera.far)


def test_a_photo_of_the_sky_alone_is_hazed_evenly():
    scene = sky_over_ground(top=(0.05, 0.2, 0.55), horizon=(0.3, 0.5, 0.8), sky_rows=96)
    scene[30:50, 60:80] = (0.9, 0.2, 0.1)  # a kite
    sample = heldout_haze(scene, np.random.default_rng(1), kind="homogeneous", noise=0.0, jpeg_quality=None,
                          sharpen=False)
    assert np.ptp(sample.transmission) < 1e-4


def test_water_recedes_pixel_by_pixel_to_the_horizon():
    """A smooth sea below a horizon line: no constant-distance blotch, haze thickening steadily up to the sky."""
    scene = sky_over_ground(top=(0.6, 0.7, 0.85), horizon=(0.8, 0.85, 0.9), sky_rows=36)
    scene[36:38] = (0.3, 0.35, 0.4)  # the far shore, a dark line
    scene[38:] = np.linspace(0.45, 0.15, 58)[:, None, None] * np.array([0.6, 0.9, 1.0])  # calm water, darker near
    for seed in range(3):
        geometry = scene_geometry(scene, np.random.default_rng(seed))
        water = geometry.distance[42:]
        assert np.all(np.diff(water, axis=0) <= 0)  # nearer row by row toward the camera
        assert np.abs(np.diff(water, axis=1)).max() < 0.01 * geometry.camera.far  # the same across each row
        assert water[0].mean() > 2 * water[-1].mean()


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
