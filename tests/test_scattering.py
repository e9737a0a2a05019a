import numpy as np

from dehaze.training.haze import scatter
from dehaze.scattering import (
    DENSEST_TRANSMISSION, FOG_TRANSMISSION, brightest_scene, darkest_scene, depth_from_disparity, recover_scene,
    synthesize_haze, transmission_from_depth,
)


def test_round_trip_through_the_scattering_model(clear_photo):
    depth = np.linspace(0, 1, clear_photo.shape[0], dtype=np.float32)[:, None].repeat(clear_photo.shape[1], 1)
    transmission = transmission_from_depth(depth, beta=1.0)  # t >= exp(-1) > t0
    hazy = synthesize_haze(clear_photo, transmission, airlight=[0.9, 0.85, 0.8])
    recovered = recover_scene(hazy, transmission, [0.9, 0.85, 0.8])
    assert np.abs(hazy - clear_photo).mean() > 0.05
    assert np.abs(recovered - clear_photo).max() < 1e-4


def test_transmission_falls_with_depth_and_density():
    depth = np.linspace(0, 1, 50, dtype=np.float32)[None, :]
    thin, thick = transmission_from_depth(depth, 0.5), transmission_from_depth(depth, 1.5)
    assert np.all(np.diff(thin) < 0) and np.all(thick[:, 1:] < thin[:, 1:])
    assert thin[0, 0] == 1.0


def test_haze_pulls_pixels_towards_the_airlight(clear_photo):
    hazy = synthesize_haze(clear_photo, np.zeros(clear_photo.shape[:2], np.float32), 0.8)
    assert np.allclose(hazy, 0.8)


def test_depth_from_disparity_is_inverse_and_fills_unknown_pixels():
    disparity = np.array([[10.0, 5.0, np.inf], [2.0, 1.0, np.nan]])
    depth = depth_from_disparity(disparity)
    assert depth[0, 0] == 0 and depth[1, 1] == 1 and depth[0, 1] < depth[1, 0]
    assert np.isfinite(depth).all() and 0 < depth[0, 2] == depth[1, 2] < 1


def test_brightest_scene_never_cuts_off_the_true_scene():
    """Under haze in linear light with t >= 0.05, the bound holds the true scene, and is tight where I < A."""
    rng = np.random.default_rng(0)
    clear = rng.random((64, 64, 3)).astype(np.float32)
    transmission = rng.uniform(DENSEST_TRANSMISSION, 1.0, (64, 64)).astype(np.float32)
    airlight = np.array([0.7, 0.8, 0.9], np.float32)
    hazy = scatter(clear, transmission, airlight)
    bound = brightest_scene(hazy, airlight)
    assert (bound >= clear - 1e-5).all()
    below = hazy < airlight
    assert np.array_equal(bound[below], hazy[below])  # haze darker than its light hides no brighter scene


def test_darkest_scene_never_cuts_off_the_true_scene():
    """Under haze with t >= 0.01 the bound holds the true scene; haze at the airlight itself hides nothing."""
    rng = np.random.default_rng(1)
    clear = rng.random((64, 64, 3)).astype(np.float32)
    transmission = rng.uniform(FOG_TRANSMISSION, 1.0, (64, 64)).astype(np.float32)
    airlight = np.array([0.7, 0.8, 0.9], np.float32)
    bound = darkest_scene(scatter(clear, transmission, airlight), airlight)
    assert (bound <= clear + 1e-5).all() and (bound > 0).any()
    fog = np.broadcast_to(airlight, (4, 4, 3))
    assert np.array_equal(darkest_scene(fog, airlight), fog)
