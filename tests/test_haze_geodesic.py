import math

import numpy as np
import pytest
import torch

from dehaze.scattering import linear_to_srgb, srgb_to_linear
from dehaze.training.haze_geodesic import (
    camera_rays, geodesic_haze, geodesic_haze_parts, illuminant_airlight, interposition_depth, layer_optical_depth,
    puff_optical_depth,
)
from tests.test_haze_patchy import landscape, seeded

SKY, RIDGE, HILL, SWAN = (0.6, 0.75, 0.9), (0.35, 0.4, 0.5), (0.25, 0.45, 0.15), (0.95, 0.95, 0.9)

pytestmark = pytest.mark.usefixtures("one_thread")


def valley(batch=2, height=96, width=96, ridge=(0.3, 0.5), swan=False):
    """Flat colours: sky above a far ridge (rows `ridge`, as shares of the height) above a near hill.

    With `swan`, a white blob sits inside the hill, surrounded by it.
    """
    image = torch.empty(3, height, width)
    image[:] = torch.tensor(HILL)[:, None, None]
    image[:, : int(ridge[1] * height)] = torch.tensor(RIDGE)[:, None, None]
    image[:, : int(ridge[0] * height)] = torch.tensor(SKY)[:, None, None]
    if swan:
        image[:, 64:76, 40:54] = torch.tensor(SWAN)[:, None, None]
    return image.expand(batch, -1, -1, -1).contiguous()


@pytest.mark.parametrize("size", [(64, 64), (64, 200), (150, 64), (97, 131)])
def test_small_and_non_square_inputs_work(size):
    clear = torch.rand(2, 3, *size, generator=seeded(2))
    parts = geodesic_haze_parts(clear, seeded(3), levels="dense")
    assert parts.haze.hazy.shape == clear.shape and parts.depth.shape == parts.optical_depth.shape == (2, 1, *size)
    assert 0 < parts.depth.min() and parts.depth.max() <= 1 and torch.isfinite(parts.haze.hazy).all()


def test_haze_mixes_clear_scene_and_airlight_in_linear_light_with_one_transmission():
    haze = geodesic_haze(landscape(8), seeded(4), levels="light", grayscale=torch.zeros(8, dtype=torch.bool))
    clear, airlight = haze.clear.permute(0, 2, 3, 1).numpy(), haze.airlight.numpy()[:, None, None, :]
    t = haze.transmission.permute(0, 2, 3, 1).numpy()
    expected = linear_to_srgb(srgb_to_linear(clear) * t + srgb_to_linear(airlight) * (1 - t))
    assert np.allclose(haze.clean_hazy.permute(0, 2, 3, 1).numpy(), expected, atol=2e-5)
    assert np.abs(expected - (clear * t + airlight * (1 - t))).max() > 0.02  # mixing in sRGB differs: the check tells


def test_levels_reach_their_mean_transmissions():
    for seed in range(3):
        haze = geodesic_haze(landscape(), seeded(seed), levels=["dense", "dense", "light", "clear"])
        mean = haze.transmission.flatten(1).mean(1)
        assert 0.12 - 1e-4 <= mean[0] <= 0.3 + 1e-4 and 0.12 - 1e-4 <= mean[1] <= 0.3 + 1e-4
        assert 0.45 - 1e-4 <= mean[2] <= 0.85 + 1e-4
        assert haze.transmission[3].min() >= 0.95  # haze-free
        dense_contrast, light_contrast = (haze.clean_hazy[i].std() for i in (0, 2))
        assert dense_contrast < light_contrast < landscape()[0].std()


def test_same_generator_seed_gives_the_same_batch():
    first, again, other = (geodesic_haze_parts(landscape(), seeded(seed)) for seed in (9, 9, 10))
    assert torch.equal(first.haze.hazy, again.haze.hazy) and torch.equal(first.depth, again.depth)
    assert torch.equal(first.haze.airlight, again.haze.airlight) and first.haze.level == again.haze.level
    assert not torch.equal(first.haze.transmission, other.haze.transmission)


def test_homogeneous_and_patchy_haze_both_occur():
    parts = geodesic_haze_parts(landscape(16), seeded(7), levels="light")
    assert 0 < parts.patchy.sum() < 16
    extinction = (parts.optical_depth / parts.depth).flatten(1)  # mean extinction along each ray
    spread = extinction.amax(1) - extinction.amin(1)
    assert (spread[~parts.patchy] < 1e-5).all()  # homogeneous: the same all along every ray
    assert (spread[parts.patchy] > 0.01).all()


def test_a_contour_crossed_one_way_steps_the_depth_back():
    """Sky beyond the ridge beyond the hill, each step where the photo's contour runs; within them, gentle recession."""
    depth = interposition_depth(valley(), seeded(8))[:, 0]
    sky, ridge, hill = depth[:, 10, 48], depth[:, 38, 48], depth[:, 70, 48]
    assert (sky > ridge).all() and (ridge > hill).all()
    column = depth[:, :, 48]
    steps = column[:, :-1] - column[:, 1:]  # going up a row
    assert (steps > -1e-6).all()  # nothing gets nearer going up
    for boundary in (28, 47):  # the skyline at row 28.8, the ridge's foot at row 48
        assert (steps[:, boundary - 2:boundary + 2].sum(1) > 5 * steps[:, 60:64].sum(1)).all()
    assert (depth.std(2).amax(1) < 1e-4).all()  # flat colours across: one depth along each row


def test_a_surrounded_object_stands_where_its_surroundings_do():
    """A swan on the hill is entered and left across the same contour: it keeps the hill's depth."""
    plain, with_swan = (interposition_depth(valley(swan=swan), seeded(9))[:, 0] for swan in (False, True))
    change = (with_swan / plain - 1).abs()
    assert (change[:, 67:73, 43:51] < 0.03).all()
    assert (plain[:, 40, 48] / plain[:, 56, 48] > 1.3).all()  # a contour crossed one way only steps far more
    outside = torch.ones(96, 96, dtype=torch.bool)
    outside[60:80, 36:58] = False
    assert (change[:, outside] < 0.04).all()  # paths around the swan are a little longer, no more


def test_photos_in_one_batch_each_get_their_own_depth():
    ridges = ((0.2, 0.35), (0.45, 0.65))
    depth = interposition_depth(torch.cat([valley(1, ridge=ridge) for ridge in ridges]), seeded(10))[:, 0, :, 48]
    steps = depth[:, :-1].log() - depth[:, 1:].log()  # going up a row, as a ratio of distances
    for sample, ridge in enumerate(ridges):
        contours = [int(share * 96) - 1 for share in ridge]  # the rows just above the skyline and the ridge's foot
        elsewhere = torch.cat([steps[sample, 5:contours[0] - 3], steps[sample, contours[1] + 4:]])
        for row in contours:
            assert steps[sample, row - 2:row + 3].sum() > 5 * 5 * elsewhere.max()  # five rows: the step, blurred


def test_a_puff_veils_what_lies_behind_it_and_not_what_stands_in_front():
    columns, rows = torch.tensor([[0.5]]), torch.tensor([[0.5]])
    ray = camera_rays(columns, rows, 1.0, torch.tensor([1.0]), torch.tensor([0.1]))  # (1, 3, 1)
    centre = 0.5 * ray[:, :, 0][:, None]  # on the ray, half the farthest distance away
    radius, flatness, peak = torch.tensor([[0.05]]), torch.tensor([[0.5]]), torch.tensor([[4.0]])
    surfaces = torch.tensor([0.2, 0.5, 0.8]).view(1, 1, 1, 3)
    veil = puff_optical_depth(ray[..., None].expand(-1, -1, 1, 3), surfaces, centre, radius, flatness, peak)[0, 0, 0]
    through = peak * radius * math.sqrt(2 * math.pi)  # through a round puff; a flat one, along a near-level ray, nearly
    assert veil[0] < 1e-6 * through.item()  # in front of the puff: untouched
    assert veil[1].item() == pytest.approx(through.item() / 2, rel=0.02)  # inside it: half
    assert veil[2].item() == pytest.approx(through.item(), rel=0.02)  # behind it: the whole puff


def test_closed_form_integrals_match_numerical_integration():
    generator = seeded(11)
    rays = torch.randn(1, 3, 4, 5, generator=generator, dtype=torch.float64)
    rays[:, 2] = rays[:, 2].abs() + 0.3  # forward
    rays = rays / rays.norm(dim=1, keepdim=True)
    rays[0, :, 0, 0] = torch.tensor([0.6, 0.0, 0.8], dtype=torch.float64)  # a level ray
    distance = 0.2 + torch.rand(1, 1, 4, 5, generator=generator, dtype=torch.float64)
    steps = torch.linspace(0, 1, 4001, dtype=torch.float64).view(-1, 1, 1, 1, 1) * distance
    points = steps * rays  # (N, 1, 3, 4, 5)
    top, softness = torch.tensor(0.1, dtype=torch.float64), torch.tensor(0.05, dtype=torch.float64)
    layer = torch.trapezoid(torch.sigmoid((top - points[:, :, 1:2]) / softness), steps, dim=0)
    assert torch.allclose(layer_optical_depth(rays[:, 1:2], distance, top, softness), layer, atol=1e-6)
    centres = torch.tensor([[[0.1, 0.05, 0.6], [-0.2, 0.0, 1.0]]], dtype=torch.float64)
    radius, flatness, peak = (torch.tensor([values], dtype=torch.float64) for values in ((0.2, 0.1), (0.5, 1.0), (2, 3)))
    density = 0
    for k in range(2):  # a flattened Gaussian: heights divided by the flatness
        stretch = torch.tensor([1, 1 / flatness[0, k], 1]).view(1, 1, 3, 1, 1)
        offset = (points - centres[0, k].view(1, 1, 3, 1, 1)) * stretch
        density = density + peak[0, k] * torch.exp(-offset.square().sum(2, keepdim=True) / (2 * radius[0, k] ** 2))
    puffs = torch.trapezoid(density, steps, dim=0)
    assert torch.allclose(puff_optical_depth(rays, distance, centres, radius, flatness, peak), puffs, atol=1e-6)


def test_the_fog_layer_thins_upwards_and_rays_that_climb_out_of_it_clear():
    up = torch.tensor([-0.3, 0.0, 0.1, 0.2, 0.5]).view(1, 1, 1, 5)
    top, softness = torch.tensor(0.05), torch.tensor(0.002)  # a sharp lid just above the camera
    through = layer_optical_depth(up, torch.ones(1, 1, 1, 5), top, softness)[0, 0, 0]
    assert through[0].item() == pytest.approx(1.0, abs=1e-3)  # looking down: in the fog all the way
    assert through[1].item() == pytest.approx(1.0, abs=1e-3)  # level, under the lid: all the way too
    assert torch.allclose(through[2:], top / up[0, 0, 0, 2:], rtol=1e-3)  # climbing: only up to the lid
    assert (through[1:-1] > through[2:]).all()  # the sky clears with elevation


def test_airlight_takes_the_colour_of_the_light():
    texture = torch.rand(8, 1, 48, 48, generator=seeded(12)).expand(-1, 3, -1, -1) * 0.8 + 0.1  # grey surfaces
    warm_light = linear_to_srgb(srgb_to_linear(texture.numpy()) * np.array([1.0, 0.8, 0.55])[:, None, None])
    airlight = illuminant_airlight(torch.from_numpy(warm_light).float(), seeded(13))
    assert (airlight[:, 0] > airlight[:, 1]).all() and (airlight[:, 1] > airlight[:, 2]).all()
    assert (airlight[:, 2] < 0.96 * airlight[:, 0]).all()
    grey = illuminant_airlight(texture, seeded(13))
    assert (grey.amax(1) - grey.amin(1) < 1e-3).all()  # white light, grey fog


def test_a_large_flat_colour_does_not_tint_the_airlight():
    """A bright blue sky over grey surfaces: the brightest region is blue, the light on the surfaces white."""
    scene = torch.rand(8, 1, 48, 48, generator=seeded(14)).expand(-1, 3, -1, -1) * 0.5 + 0.1
    scene = scene.clone()
    scene[:, :, :20] = torch.tensor([0.6, 0.8, 1.0])[:, None, None]
    airlight = illuminant_airlight(scene, seeded(15))
    assert ((airlight[:, 2] - airlight[:, 0]).abs() < 0.03).all()


def test_airlight_brightness_follows_the_photo():
    scene = torch.rand(8, 3, 48, 48, generator=seeded(16)) * 0.9
    darker = linear_to_srgb(srgb_to_linear(scene.numpy()) / 4)  # two stops
    bright, dim = (illuminant_airlight(torch.as_tensor(photo).float(), seeded(17)) for photo in (scene, darker))
    assert (dim.mean(1) < 0.8 * bright.mean(1)).all()
    assert 0.25 - 1e-3 <= dim.mean(1).min() and bright.max() <= 1
