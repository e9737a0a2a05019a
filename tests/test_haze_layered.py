import numpy as np
import pytest
import torch

from dehaze.scattering import linear_to_srgb, srgb_to_linear
from dehaze.training.haze_layered import (
    LINEAR_LUMINANCE, connected_pieces, layered_haze, layered_haze_parts, region_depth, same_label_links,
    spectral_ratios,
)
from tests.test_haze_patchy import landscape, seeded

SKY, GRASS, POST = (0.55, 0.7, 0.9), (0.25, 0.45, 0.15), (0.1, 0.1, 0.1)

pytestmark = pytest.mark.usefixtures("one_thread")


def flat_scene(height=96, width=96, batch=4, post=(58, 68)):
    """Flat colours: sky over the top 40%, grass below, a dark post standing on the grass at 70% of the height.

    The post's columns (58-67 of 96) do not fall on the 2-pixel cells regions are found on.
    """
    image = torch.empty(3, height, width)
    image[:] = torch.tensor(SKY)[:, None, None]
    image[:, int(0.4 * height):] = torch.tensor(GRASS)[:, None, None]
    if post:
        image[:, int(0.2 * height):int(0.7 * height), post[0]:post[1]] = torch.tensor(POST)[:, None, None]
    return image.expand(batch, -1, -1, -1).contiguous()


@pytest.mark.parametrize("size", [(64, 64), (64, 200), (150, 64), (97, 131)])
def test_small_and_non_square_inputs_work(size):
    clear = torch.rand(2, 3, *size, generator=seeded(2))
    parts = layered_haze_parts(clear, seeded(3), levels="dense")
    assert parts.haze.hazy.shape == clear.shape and parts.depth.shape == (2, 1, *size)
    assert parts.channel_transmission.shape == (2, 3, *size)
    assert 0 < parts.depth.min() and parts.depth.max() <= 1 and torch.isfinite(parts.haze.hazy).all()


def test_haze_mixes_clear_scene_and_airlight_in_linear_light_per_channel():
    parts = layered_haze_parts(landscape(8), seeded(4), levels="light", grayscale=torch.zeros(8, dtype=torch.bool))
    haze = parts.haze
    clear, airlight = haze.clear.permute(0, 2, 3, 1).numpy(), haze.airlight.numpy()[:, None, None, :]
    channels = parts.channel_transmission.permute(0, 2, 3, 1).numpy()
    expected = linear_to_srgb(srgb_to_linear(clear) * channels + srgb_to_linear(airlight) * (1 - channels))
    assert np.allclose(haze.clean_hazy.permute(0, 2, 3, 1).numpy(), expected, atol=2e-5)
    mixed_in_srgb = clear * channels + airlight * (1 - channels)
    assert np.abs(expected - mixed_in_srgb).max() > 0.02  # the two mixings differ: the check above can tell
    weighted = (parts.channel_transmission * torch.tensor(LINEAR_LUMINANCE)[:, None, None]).sum(1, keepdim=True)
    assert torch.allclose(haze.transmission, weighted, atol=1e-6)  # the single map: luminance-weighted channels
    grey = parts.angstrom == 0  # grey extinction: the single map is exact
    assert 0 < grey.sum() < 8
    assert torch.allclose(parts.channel_transmission[grey], haze.transmission[grey].expand(-1, 3, -1, -1))
    t = haze.transmission[grey].permute(0, 2, 3, 1).numpy()
    single = linear_to_srgb(srgb_to_linear(clear[grey.numpy()]) * t + srgb_to_linear(airlight[grey.numpy()]) * (1 - t))
    assert np.allclose(haze.clean_hazy[grey].permute(0, 2, 3, 1).numpy(), single, atol=2e-5)


def test_blue_is_dimmed_more_than_red_by_small_particles():
    ratios = spectral_ratios(torch.tensor([0.0, 1.0]))
    assert torch.allclose(ratios[0], torch.ones(3))
    assert ratios[1, 2] > ratios[1, 1] == 1 > ratios[1, 0]  # blue scattered most (Angstrom: lambda ** -alpha)
    assert ratios[1, 2] == pytest.approx(550 / 465, rel=1e-5)
    parts = layered_haze_parts(landscape(8), seeded(5), levels="light", grayscale=torch.zeros(8, dtype=torch.bool))
    spectral = parts.angstrom > 0.2
    assert spectral.any()
    red, green, blue = parts.channel_transmission[spectral].unbind(1)
    hazed = green < 0.999
    assert (blue[hazed] < green[hazed]).all() and (green[hazed] < red[hazed]).all()


def test_levels_reach_their_mean_transmissions():
    for seed in range(3):
        parts = layered_haze_parts(landscape(), seeded(seed), levels=["dense", "dense", "light", "clear"])
        mean = parts.haze.transmission.flatten(1).mean(1)
        assert 0.12 - 1e-4 <= mean[0] <= 0.3 + 1e-4 and 0.12 - 1e-4 <= mean[1] <= 0.3 + 1e-4
        assert 0.45 - 1e-4 <= mean[2] <= 0.85 + 1e-4
        assert parts.haze.transmission[3].min() >= 0.97 and parts.channel_transmission[3].min() >= 0.97
        dense_contrast, light_contrast = (parts.haze.clean_hazy[i].std() for i in (0, 2))
        assert dense_contrast < light_contrast < landscape()[0].std()


def test_same_generator_seed_gives_the_same_batch():
    first, again, other = (layered_haze_parts(landscape(), seeded(seed)) for seed in (9, 9, 10))
    assert torch.equal(first.haze.hazy, again.haze.hazy) and torch.equal(first.depth, again.depth)
    assert torch.equal(first.haze.airlight, again.haze.airlight) and first.haze.level == again.haze.level
    assert not torch.equal(first.haze.transmission, other.haze.transmission)


def test_grey_samples_have_grey_extinction():
    """Grey samples stay grey (`test_device_synthesizers`) only if every channel has one transmission."""
    grey = torch.tensor([True, True, False, False])
    parts = layered_haze_parts(landscape(), seeded(6), levels="light", grayscale=grey)
    assert (parts.angstrom[:2] == 0).all()


def test_an_object_stands_at_one_distance_and_the_depth_steps_at_its_edge():
    """The post is as far as the grass where it stands; the grass recedes; the sky lies beyond; steps are sharp."""
    scene = flat_scene()
    for seed in range(3):
        depth = region_depth(scene, seeded(seed))[:, 0]
        post = depth[:, 22:65, 60:66]  # inside the post, 2 pixels from its edges
        assert (post.amax((1, 2)) - post.amin((1, 2)) < 1e-4).all()  # one distance, though it spans 45% of the height
        grass = depth[:, 40:, 10]  # a column of grass away from the post
        assert (grass[:, 1:] <= grass[:, :-1] + 1e-6).all() and (grass[:, 0] > grass[:, -1] + 0.05).all()
        sky = depth[:, :38, :50].flatten(1).mean(1)
        assert (sky > 0.999).sum() >= 2  # the sky, a backdrop, rests at its skyline: mostly at infinity
        assert (sky > post.flatten(1).mean(1)).all() and (sky >= grass.amax(1) - 1e-6).all()
        beside_foot, below_horizon = depth[:, 65, 50], depth[:, 40, 50]  # the grass where the post stands, and far
        post_depth = post[:, 0, 0]
        assert ((post_depth - beside_foot).abs() < (post_depth - below_horizon).abs()).sum() >= 2
        # Against the sky the step falls between pixels 57 and 58, inside a cell: the edge follows the colours.
        sky_side, post_side = depth[:, 25:35, 57], depth[:, 25:35, 58]
        assert torch.allclose(sky_side, depth[:, 25:35, 50], atol=1e-4)
        assert torch.allclose(post_side, post[:, :10, 0], atol=1e-4)
        assert ((sky_side - post_side).abs() > 0.02).all()


def test_two_flat_regions_each_take_one_depth():
    image = torch.empty(2, 3, 80, 120)
    image[:] = torch.tensor([0.8, 0.75, 0.6])[None, :, None, None]  # a wall filling the frame
    image[:, :, 31:61, 45:71] = torch.tensor([0.2, 0.3, 0.6])[None, :, None, None]  # a box in front of it
    depth = region_depth(image, seeded(7))[:, 0]
    box, wall = depth[:, 33:59, 47:69], torch.cat([depth[:, :29].flatten(1), depth[:, 63:].flatten(1)], 1)
    assert (box.flatten(1).std(1) < 1e-4).all() and (wall.std(1) < 1e-4).all()
    assert ((box.flatten(1).mean(1) - wall.mean(1)).abs() > 2e-3).all()  # how far apart depends on the draw
    assert torch.allclose(depth[:, 40, 44], wall[:, 0], atol=1e-4)  # the step falls between two pixels
    assert torch.allclose(depth[:, 40, 45], box[:, 0, 0], atol=1e-4)


def test_a_smooth_gradient_is_not_cut_into_steps():
    """A sky brightening towards the horizon is one region to the depth, though k-means splits its colours."""
    image = flat_scene(batch=4)
    overhead, horizon = torch.tensor([0.1, 0.2, 0.5])[:, None, None], torch.tensor([0.9, 0.92, 0.95])[:, None, None]
    image[:, :, :38] = torch.lerp(overhead, horizon, torch.linspace(0, 1, 38)[None, :, None])  # deep blue to pale
    image[:, :, :, 58:68] = flat_scene(batch=1)[0, :, :, 58:68]  # the post in front again
    depth = region_depth(image, seeded(8))[:, 0]
    sky = depth[:, :36, 5:50]
    assert (sky.flatten(1).amax(1) - sky.flatten(1).amin(1) < 1e-3).all()


def test_a_small_region_takes_the_distance_of_what_surrounds_it():
    image = flat_scene(batch=2)
    image[:, :, 15:67, 20:56] = torch.tensor([0.6, 0.35, 0.3])[None, :, None, None]  # a house standing on the grass
    image[:, :, 30:38, 36:44] = torch.tensor([0.95, 0.9, 0.5])[None, :, None, None]  # a lit window, 0.7% of the photo
    depth = region_depth(image, seeded(9))[:, 0]
    window, wall = depth[:, 32:36, 38:42], depth[:, 45:60, 25:50]
    assert torch.allclose(window, wall[:, :1, :1].expand_as(window), atol=1e-4)
    assert (wall.flatten(1).std(1) < 1e-4).all()


def test_connected_pieces_follow_winding_regions_and_keep_apart_separate_ones():
    labels = torch.zeros(1, 7, 9, dtype=torch.long)
    labels[0, 1:6, 1] = labels[0, 5, 1:8] = labels[0, 1:6, 7] = labels[0, 1, 3:8] = 1  # a band winding three turns
    labels[0, 3, 3:6] = 1  # the same label, not touching the band
    pieces = connected_pieces(*same_label_links(labels))[0]
    island = torch.zeros(7, 9, dtype=torch.bool)
    island[3, 3:6] = True
    band = (labels[0] == 1) & ~island
    assert (pieces[band] == pieces[1, 3]).all() and (pieces[island] == pieces[3, 3]).all()
    assert (pieces[labels[0] == 0] == pieces[0, 0]).all()  # the inside joins the outside through the gap at (1, 2)
    assert len(pieces.unique()) == 3


def test_airlight_is_a_grey_level_sometimes_dim_and_tinted_by_the_far_regions():
    warm = flat_scene(32, 32, 24, post=None)
    warm[:, :, :12] = torch.tensor([1.0, 0.8, 0.5])[:, None, None]  # an evening sky, the farthest region
    airlight = layered_haze(warm, seeded(10), grayscale=torch.zeros(24, dtype=torch.bool)).airlight
    assert airlight[:, 0].mean() > airlight[:, 2].mean() + 0.03
    grey = airlight.mean(1)
    assert 0.3 <= grey.min() and grey.max() <= 1 and (grey > 0.55).sum() > (grey < 0.55).sum()
