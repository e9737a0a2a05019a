import io

import numpy as np
import pytest
import torch
from PIL import Image

from dehaze.scattering import linear_to_srgb, srgb_to_linear
from dehaze.training.haze_patchy import (
    CameraSettings, appearance_depth, haze_density, jpeg_quantization_tables, jpeg_simulation, luminance,
    patchy_haze, scene_depth,
)


def landscape(batch=4, height=64, width=64, device="cpu"):
    """Pale sky over the top third, textured green ground below with a dark post: a small photo in sRGB."""
    generator = torch.Generator().manual_seed(0)
    image = torch.empty(3, height, width)
    image[:, : height // 3] = torch.tensor([0.55, 0.7, 0.9])[:, None, None]
    ground = torch.tensor([0.25, 0.45, 0.15])[:, None, None] + 0.08 * torch.randn(1, height - height // 3, width,
                                                                                  generator=generator)
    image[:, height // 3 :] = ground
    image[:, height // 5 :, width // 6 : width // 6 + 4] = 0.1
    return image.clamp(0, 1).expand(batch, -1, -1, -1).contiguous().to(device)


def seeded(seed, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


def camera_settings(read_noise, shot_noise, jpeg_quality, blur_sigma=(0.0, 0.0, 0.0, 0.0)):
    return CameraSettings(*(torch.tensor(values, dtype=torch.float32)
                            for values in (blur_sigma, read_noise, shot_noise)), torch.tensor(jpeg_quality))


def test_haze_mixes_clear_scene_and_airlight_in_linear_light():
    haze = patchy_haze(landscape(), seeded(2), levels="light")
    clear, t = haze.clear.permute(0, 2, 3, 1).numpy(), haze.transmission.permute(0, 2, 3, 1).numpy()
    airlight = haze.airlight.numpy()[:, None, None, :]
    expected = linear_to_srgb(srgb_to_linear(clear) * t + srgb_to_linear(airlight) * (1 - t))
    assert np.allclose(haze.clean_hazy.permute(0, 2, 3, 1).numpy(), expected, atol=2e-5)
    mixed_in_srgb = clear * t + airlight * (1 - t)
    assert np.abs(expected - mixed_in_srgb).max() > 0.02  # the two mixings differ: the check above can tell


def test_levels_reach_their_mean_transmissions():
    for seed in range(3):
        haze = patchy_haze(landscape(), seeded(seed), levels=["dense", "dense", "light", "clear"])
        mean = haze.transmission.flatten(1).mean(1)
        assert 0.12 - 1e-4 <= mean[0] <= 0.3 and 0.12 - 1e-4 <= mean[1] <= 0.3
        assert 0.45 - 1e-4 <= mean[2] <= 0.85
        assert haze.transmission[3].min() > 0.95
        dense_contrast, light_contrast = (haze.clean_hazy[i].std() for i in (0, 2))
        assert dense_contrast < light_contrast < landscape()[0].std()


def test_patchy_density_varies_smoothly_across_the_image():
    density = haze_density(landscape(16, 64, 64), seeded(3))
    along_rows = (density.std(dim=3) / density.mean(dim=3)).flatten(1).mean(1)  # height fog alone varies by row
    patchy = along_rows > 0.1
    assert patchy.sum() >= 6 and (density > 0).all()
    neighbour_step = (density[:, :, :, 1:] - density[:, :, :, :-1]).abs().flatten(1).mean(1)
    assert (neighbour_step[patchy] < 0.1 * density[patchy].flatten(1).std(1)).all()  # banks and patches, not speckle


def test_depth_is_farther_up_the_frame_and_in_the_sky():
    depth = scene_depth(landscape(8), seeded(4))
    assert 0 < depth.min() and depth.max() <= 1
    sky, ground = depth[:, 0, :16].flatten(1).mean(1), depth[:, 0, 48:].flatten(1).mean(1)
    assert (sky > ground).sum() >= 7
    appearance = appearance_depth(luminance(landscape(1)))[0, 0]  # the bright, flat sky looks far
    assert appearance[:16].mean() > appearance[48:].mean() + 0.3


def test_airlight_takes_the_hue_of_the_brightest_region():
    warm = landscape(16, 32, 32)
    warm[:, :, :8] = torch.tensor([1.0, 0.8, 0.5])[:, None, None]  # an evening sky
    airlight = patchy_haze(warm, seeded(5), grayscale=torch.zeros(16, dtype=torch.bool)).airlight
    assert airlight[:, 0].mean() > airlight[:, 2].mean() + 0.03
    assert 0.2 <= airlight.min() and airlight.max() <= 1


def test_jpeg_keeps_smooth_images_and_loses_fine_detail_at_low_quality():
    rows, columns = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 40), indexing="ij")
    smooth = torch.stack([0.2 + 0.6 * rows, 0.3 + 0.4 * columns, 0.5 + 0.2 * rows * columns])[None]
    assert (jpeg_simulation(smooth, 90) - smooth).abs().mean() < 2 / 255
    noise = torch.rand(1, 3, 48, 40, generator=seeded(7))
    decoded = jpeg_simulation(noise, 50)
    assert (decoded - noise).abs().mean() > 0.08
    assert decoded.std() < 0.8 * noise.std()  # the quantized high frequencies are gone


def test_jpeg_simulation_matches_a_real_encoder():
    """Pillow's libjpeg at the same quality and 4:2:0: the same errors, up to the encoder's integer arithmetic."""
    photo = landscape(1, 61, 67)[0]
    photo = photo * (0.8 + 0.2 * torch.rand(1, 61, 67, generator=seeded(8)))  # texture in every channel
    pixels = np.round(photo.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    for quality in (50, 90):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality, subsampling=2)
        real = np.asarray(Image.open(buffer).convert("RGB"), np.float32) / 255
        simulated = jpeg_simulation(torch.from_numpy(pixels / 255.0).float().permute(2, 0, 1)[None], quality)
        simulated = simulated[0].permute(1, 2, 0).numpy()
        assert np.abs(simulated - real).mean() < 1 / 255
        real_error, simulated_error = (np.abs(image - pixels / 255.0).mean() for image in (real, simulated))
        assert simulated_error == pytest.approx(real_error, rel=0.15)


def test_quantization_tables_scale_as_libjpeg_does():
    tables = jpeg_quantization_tables(torch.tensor([50, 100, 25]))
    assert tables[0, 0, 0, 0] == 16 and tables[0, 1, 0, 0] == 17  # quality 50: the standard's tables
    assert (tables[1] == 1).all()
    assert tables[2, 0, 0, 0] == 32  # below 50 the tables grow as 50 / quality


def test_same_generator_seed_gives_the_same_batch():
    first, again, other = (patchy_haze(landscape(), seeded(seed)) for seed in (9, 9, 10))
    assert torch.equal(first.hazy, again.hazy) and torch.equal(first.transmission, again.transmission)
    assert first.level == again.level
    assert not torch.equal(first.transmission, other.transmission)
