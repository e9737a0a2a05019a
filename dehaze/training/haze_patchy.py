"""A second haze synthesizer, patchy and batched in torch: domain randomization for training.

The dehazing network overfits to the haze of `haze.py`, the first synthesizer. This
one was written on its own, from the same scattering model I = J t + A (1 - t) in
linear light, but with different cues at every stage, so that a network trained on
both learns what haze is rather than how one program draws it:

- Depth (`scene_depth`): a tilted ground plane under a rolled horizon, a random
  vanishing point (streets, corridors, valleys), height in the image, and an
  appearance cue (far things are brighter and show less fine detail, as if out of
  focus), mixed with random weights and a random fractal field, then aligned to the
  photo's edges by a guided filter. `haze.py` finds the sky and uses the colour
  attenuation prior instead.
- Density (`haze_density`): non-homogeneous, beta(x, y) = beta0 (1 + fractal noise),
  so haze comes in drifting patches and banks as in NH-HAZE's real scenes, sometimes
  thinning with height (valley fog), sometimes homogeneous. `haze.py` has one beta per photo.
- Level: each sample's MEAN transmission is drawn ("dense" 0.12-0.30, "light"
  0.45-0.85, "clear" above 0.95 everywhere) and the density scaled to reach it
  (`scale_to_mean_transmission`), rather than drawing beta and accepting what follows.
- Airlight (`scene_airlight`): a grey level blended with the colour of the photo's own
  brightest region, slightly tinted, sometimes dim (dusk fog).
- Camera (`camera`): Poisson-Gaussian noise in linear light, where the sensor counts
  photons, sometimes a slight blur, 8-bit rounding, and JPEG simulated in torch
  (`jpeg_simulation`) rather than by an encoder on the CPU.

Everything runs on the input's device, a batch at a time, so a GPU can make the
haze next to the network instead of CPU data workers making it one photo at a time.
Written from the physics and the JPEG standard; no code was taken from other projects.
"""

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F

from ..gan import linear_to_srgb, srgb_to_linear
from ..guided_filter import guided_filter

LEVELS = ("clear", "light", "dense")
LEVEL_PROBABILITIES = (0.1, 0.45, 0.45)
MEAN_TRANSMISSION_RANGES = {"clear": (0.97, 1.0), "light": (0.45, 0.85), "dense": (0.12, 0.30)}
MAX_OPTICAL_DEPTH = {"clear": 0.05, "light": 3.0, "dense": 4.6}  # t never below 0.95, 0.05, 0.01
GRAYSCALE_PROBABILITY = 0.08
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # as `haze.py` and JPEG weigh the channels

PATCHY_PROBABILITY = 0.75  # the rest is homogeneous haze
HEIGHT_FOG_PROBABILITY = 0.3
NOISE_SIDE = 128  # fractal noise is drawn at this size, then warped to the image's
DIM_AIRLIGHT_PROBABILITY = 0.15
AIRLIGHT_GREY = (0.6, 1.0)
DIM_AIRLIGHT_GREY = (0.3, 0.6)

BLUR_PROBABILITY = 0.3
BLUR_SIGMA = (0.3, 1.0)  # pixels
READ_NOISE = (0.0, 0.002)  # std in linear light
SHOT_NOISE = (0.0, 0.0015)  # variance per unit of linear light
JPEG_PROBABILITY = 0.85
JPEG_QUALITY = (50, 95)

# The example tables of the JPEG standard (ITU T.81, Annex K), which the IJG library scales by quality.
LUMINANCE_TABLE = (
    (16, 11, 10, 16, 24, 40, 51, 61), (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56), (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77), (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101), (72, 92, 95, 98, 112, 100, 103, 99))
CHROMINANCE_TABLE = (
    (17, 18, 24, 47, 99, 99, 99, 99), (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99), (47, 66, 99, 99, 99, 99, 99, 99)) + ((99,) * 8,) * 4
RGB_TO_YCBCR = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))  # JFIF
YCBCR_TO_RGB = ((1.0, 0.0, 1.402), (1.0, -0.344136, -0.714136), (1.0, 1.772, 0.0))


@dataclass
class CameraSettings:
    """What the camera did to each sample of a batch; a zero means the stage was skipped."""

    blur_sigma: torch.Tensor  # (B,) pixels
    read_noise: torch.Tensor  # (B,) std in linear light
    shot_noise: torch.Tensor  # (B,) variance per unit of linear light
    jpeg_quality: torch.Tensor  # (B,) IJG quality; 0: saved as 8-bit without compression

    def to(self, device) -> "CameraSettings":
        return CameraSettings(self.blur_sigma.to(device), self.read_noise.to(device), self.shot_noise.to(device),
                              self.jpeg_quality.to(device))


@dataclass
class PatchyHaze:
    """A batch of hazy photos and what made them.

    `clear` is the input as hazed: grey for grayscale samples, so it is their target.
    `clean_hazy` is the haze before the camera, `hazy` what the camera wrote; for
    "clear" samples a target that keeps the camera's noise (`hazy` itself) teaches a
    model to leave haze-free photos alone, as `haze.py` found.
    """

    hazy: torch.Tensor  # (B, 3, H, W) sRGB
    clean_hazy: torch.Tensor  # (B, 3, H, W) sRGB
    clear: torch.Tensor  # (B, 3, H, W) sRGB
    transmission: torch.Tensor  # (B, 1, H, W)
    airlight: torch.Tensor  # (B, 3) sRGB
    noise_sigma: torch.Tensor  # (B,) std of hazy - clean_hazy: the camera's noise, blur and compression
    level: List[str]
    grayscale: torch.Tensor  # (B,) bool
    camera: CameraSettings


def patchy_haze(clear: torch.Tensor, generator: Optional[torch.Generator] = None,
                levels: Optional[Sequence[str]] = None, grayscale: Optional[torch.Tensor] = None,
                camera_settings: Optional[CameraSettings] = None,
                level_probabilities: Sequence[float] = LEVEL_PROBABILITIES) -> PatchyHaze:
    """Haze a batch of clear sRGB photos (B, 3, H, W) in [0, 1] on their own device, in float32.

    `levels` ("clear", "light" or "dense", one per sample, or one for all; else drawn with
    `level_probabilities`), `grayscale` (B,) bool and `camera_settings` are drawn with
    `generator` unless given; the same generator state gives the same batch.
    """
    clear, levels, grayscale = drawn_batch(clear, generator, levels, grayscale, level_probabilities)
    optical_depth = scene_depth(clear, generator) * haze_density(clear, generator)
    transmission = scale_to_mean_transmission(optical_depth, levels, generator)
    return photographed(clear, transmission, scene_airlight(clear, generator), levels, grayscale, camera_settings,
                        generator)


def drawn_batch(clear: torch.Tensor, generator, levels: Optional[Sequence[str]], grayscale: Optional[torch.Tensor],
                level_probabilities: Sequence[float]):
    """The batch in float32 (8-bit rounding needs its precision), each sample's level and whether it is grey
    (drawn with `generator` unless given, in that order), and the grey samples' photos made grey."""
    clear, batch, device = clear.float(), clear.shape[0], clear.device
    if levels is None:
        levels = draw_levels(batch, level_probabilities, generator, device)
    else:
        levels = checked_levels(levels, batch)
    if grayscale is None:
        grayscale = uniform(0, 1, (batch,), generator, device) < GRAYSCALE_PROBABILITY
    grayscale = torch.as_tensor(grayscale, device=device)
    return torch.where(grayscale[:, None, None, None], luminance(clear).expand_as(clear), clear), levels, grayscale


def photographed(clear: torch.Tensor, transmission: torch.Tensor, airlight: torch.Tensor, levels: List[str],
                 grayscale: torch.Tensor, camera_settings: Optional[CameraSettings], generator) -> PatchyHaze:
    """The haze of `clear` through `transmission` (one map, or one per channel) and `airlight`, as a camera
    writes it (`camera_settings` drawn unless given); grey samples get a grey airlight and one sensor channel."""
    batch, device = clear.shape[0], clear.device
    airlight = torch.where(grayscale[:, None], airlight.mean(1, keepdim=True).expand_as(airlight), airlight)
    hazy_light = scatter(clear, transmission, airlight)
    clean_hazy = linear_to_srgb(hazy_light)
    settings = camera_settings.to(device) if camera_settings else random_camera_settings(batch, generator, device)
    hazy = camera(hazy_light, settings, generator)
    grey_hazy = torch.round(luminance(hazy) * 255) / 255  # one sensor channel: no colour noise, no JPEG chroma
    hazy = torch.where(grayscale[:, None, None, None], grey_hazy.expand_as(hazy), hazy)
    noise_sigma = (hazy - clean_hazy).flatten(1).std(dim=1)
    return PatchyHaze(hazy, clean_hazy, clear, transmission, airlight, noise_sigma, levels, grayscale, settings)


def uniform(low: float, high: float, shape, generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator, device=device)


def draw_levels(batch: int, probabilities: Sequence[float], generator, device) -> List[str]:
    probabilities = torch.tensor(probabilities, dtype=torch.float32, device=device)
    drawn = torch.multinomial(probabilities, batch, replacement=True, generator=generator)
    return [LEVELS[index] for index in drawn.tolist()]


def checked_levels(levels, batch: int) -> List[str]:
    levels = [levels] * batch if isinstance(levels, str) else list(levels)
    if len(levels) != batch or not set(levels) <= set(LEVELS):
        raise ValueError(f"levels must be {batch} of {LEVELS}, got {levels}")
    return levels


def luminance(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) luma of sRGB images, with JPEG's weights."""
    weights = torch.tensor(LUMA_WEIGHTS, device=images.device, dtype=images.dtype)
    return torch.einsum("bchw,c->bhw", images, weights)[:, None]


def per_sample(values: torch.Tensor) -> torch.Tensor:
    """(B,) values shaped to broadcast over (B, C, H, W)."""
    return values[:, None, None, None]


def normalized(images: torch.Tensor) -> torch.Tensor:
    """Each sample stretched to [0, 1]."""
    flat = images.flatten(1)
    low, high = flat.min(1).values, flat.max(1).values
    return (images - per_sample(low)) / per_sample((high - low).clamp(min=1e-6))


def pixel_grid(images: torch.Tensor):
    """Column and row coordinates of pixel centres, (1, 1, 1, W) and (1, 1, H, 1), both in [0, 1]."""
    height, width = images.shape[-2:]
    columns = (torch.arange(width, device=images.device, dtype=images.dtype) + 0.5) / width
    rows = (torch.arange(height, device=images.device, dtype=images.dtype) + 0.5) / height
    return columns.view(1, 1, 1, width), rows.view(1, 1, height, 1)


def fractal_noise(like: torch.Tensor, generator, octaves: int, coarsest_cells: int = 2) -> torch.Tensor:
    """Smooth random field (B, 1, H, W) in [-1, 1]: upsampled random grids, finer ones weaker.

    Each sample gets its own roughness, horizontal stretch (fog lies in banks) and
    rotation (banks drift at an angle), applied by warping the field to the image.
    """
    batch, device = like.shape[0], like.device
    roughness = uniform(0.35, 0.7, (batch,), generator, device)
    field = torch.zeros(batch, 1, NOISE_SIDE, NOISE_SIDE, device=device)
    for octave in range(octaves):
        cells = coarsest_cells * 2 ** octave
        grid = torch.randn(batch, 1, cells + 1, cells + 1, generator=generator, device=device)
        upsampled = F.interpolate(grid, size=(NOISE_SIDE, NOISE_SIDE), mode="bicubic", align_corners=True)
        field += per_sample(roughness ** octave) * upsampled
    stretch = uniform(1.0, 3.0, (batch,), generator, device)
    angle = uniform(-0.4, 0.4, (batch,), generator, device)
    shift = uniform(-0.5, 0.5, (batch, 2), generator, device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos / stretch, -sin, shift[:, 0]], 1),
                         torch.stack([sin / stretch, cos, shift[:, 1]], 1)], 1) * 0.7  # a zoomed-in view
    sampling = F.affine_grid(theta, (batch, 1, *like.shape[-2:]), align_corners=False)
    field = F.grid_sample(field, sampling, mode="bilinear", padding_mode="reflection", align_corners=False)
    field = field - field.flatten(1).mean(1).view(batch, 1, 1, 1)
    return field / per_sample(field.flatten(1).abs().max(1).values.clamp(min=1e-6))


def ground_plane_depth(images: torch.Tensor, generator) -> torch.Tensor:
    """Depth of a ground plane under a random, possibly rolled horizon: 1 / distance below it.

    A camera over flat ground sees inverse depth grow linearly with the distance
    below the horizon line, whatever the line's height and roll; at and above it lies infinity (1).
    """
    batch, device = images.shape[0], images.device
    columns, rows = pixel_grid(images)
    horizon = per_sample(uniform(-0.2, 0.6, (batch,), generator, device))
    roll = per_sample(uniform(-0.25, 0.25, (batch,), generator, device))
    pivot = per_sample(uniform(0.2, 0.8, (batch,), generator, device))
    nearest = per_sample(uniform(0.05, 0.3, (batch,), generator, device))  # at 1 image height below the horizon
    below = (rows - horizon) * torch.cos(roll) - (columns - pivot) * torch.sin(roll)
    return (nearest / below.clamp(min=1e-6)).clamp(max=1.0)


def vanishing_point_depth(images: torch.Tensor, generator) -> torch.Tensor:
    """Depth growing towards a random vanishing point, as down a street, corridor or valley: 1 / distance to it."""
    batch, device = images.shape[0], images.device
    height, width = images.shape[-2:]
    columns, rows = pixel_grid(images)
    point_column = per_sample(uniform(0.2, 0.8, (batch,), generator, device))
    point_row = per_sample(uniform(0.2, 0.6, (batch,), generator, device))
    nearest = per_sample(uniform(0.05, 0.25, (batch,), generator, device))
    distance = torch.sqrt(((columns - point_column) * width / height) ** 2 + (rows - point_row) ** 2)
    return (nearest / distance.clamp(min=1e-6)).clamp(max=1.0)


def appearance_depth(luma: torch.Tensor) -> torch.Tensor:
    """Far is bright and featureless: distance shows sky, and detail too fine to resolve, as if out of focus.

    Brightness and the lack of contrast inside cells of a few pixels, each stretched to
    [0, 1], averaged and smoothed by a guided filter so the cue follows objects rather
    than texture. Worked out on the cells, a sixteenth of the pixels or fewer: the cue
    is smooth, and the depth's edges are aligned at full resolution afterwards.
    """
    height, width = luma.shape[-2:]
    cell = max(2, min(height, width) // 64)
    mean = F.avg_pool2d(luma, cell, ceil_mode=True)
    contrast = (F.avg_pool2d(luma * luma, cell, ceil_mode=True) - mean * mean).clamp(min=0).sqrt()
    cue = 0.5 * normalized(mean) + 0.5 * (1 - normalized(contrast))
    cue = guided_filter(mean, cue, radius=max(2, min(mean.shape[-2:]) // 16), eps=1e-2)
    return F.interpolate(cue, size=(height, width), mode="bilinear", align_corners=False)


def scene_depth(clear: torch.Tensor, generator) -> torch.Tensor:
    """Relative depth (B, 1, H, W) in (0, 1]: a random mix of geometric and appearance cues.

    Weights are drawn per sample (the ground plane usually leads), the mix is aligned
    to the photo's edges by a guided filter, and the nearest point keeps some depth so
    that dense haze reaches everything.
    """
    batch, device = clear.shape[0], clear.device
    luma = luminance(clear)
    _, rows = pixel_grid(clear)
    cues = torch.stack([ground_plane_depth(clear, generator), vanishing_point_depth(clear, generator),
                        (1 - rows).expand_as(luma), appearance_depth(luma),
                        0.5 + 0.5 * fractal_noise(clear, generator, octaves=3)], dim=1)
    leaning = torch.tensor([3.0, 1.0, 1.0, 1.5, 0.7], device=device)
    weights = uniform(0, 1, (batch, 5), generator, device) * leaning
    weights = weights / weights.sum(1, keepdim=True)
    mixed = normalized((cues * weights[:, :, None, None, None]).sum(1))
    aligned = guided_filter(luma, mixed, radius=max(2, min(clear.shape[-2:]) // 48), eps=1e-3).clamp(0, 1)
    nearest = per_sample(uniform(0.03, 0.2, (batch,), generator, device))
    return nearest + (1 - nearest) * aligned


def haze_density(clear: torch.Tensor, generator) -> torch.Tensor:
    """Relative density beta(x, y) / beta0 (B, 1, H, W): patchy, sometimes thinning with height, else uniform.

    Real haze is rarely homogeneous (NH-HAZE): patches drift through the view and the
    same depth can be clear in one place and fogged in another, a cue that one
    density per photo never teaches.
    """
    batch, device = clear.shape[0], clear.device
    patchiness = uniform(0.3, 0.9, (batch,), generator, device)
    patchiness = patchiness * (uniform(0, 1, (batch,), generator, device) < PATCHY_PROBABILITY)
    density = 1 + per_sample(patchiness) * fractal_noise(clear, generator, octaves=5)
    _, rows = pixel_grid(clear)
    falloff = uniform(0.5, 2.0, (batch,), generator, device)
    falloff = falloff * (uniform(0, 1, (batch,), generator, device) < HEIGHT_FOG_PROBABILITY)
    return density * torch.exp(-per_sample(falloff) * (1 - rows))  # fog pools low: thinner towards the top


def scale_to_mean_transmission(optical_depth: torch.Tensor, levels: List[str], generator) -> torch.Tensor:
    """Transmission exp(-min(k tau, tau_max)) with k found per sample to meet a mean drawn for its level.

    tau_max keeps "clear" samples above t = 0.95 and leaves some light through the
    densest patches. k is solved for on 4x4 cell means of tau first, then refined on
    every pixel: the mean transmission is convex in tau, so the cells' k lies below the
    pixels' and Newton's method carries on from there without overshooting.
    """
    batch, device = optical_depth.shape[0], optical_depth.device
    low, high = (torch.tensor([MEAN_TRANSMISSION_RANGES[level][end] for level in levels], device=device)
                 for end in (0, 1))
    target = (low + (high - low) * torch.rand(batch, generator=generator, device=device))[:, None]
    ceiling = torch.tensor([MAX_OPTICAL_DEPTH[level] for level in levels], device=device)[:, None]
    scale = torch.zeros(batch, 1, device=device)
    cells = F.avg_pool2d(optical_depth, 4, ceil_mode=True)
    scale = newton_scale(cells.flatten(2), target, ceiling, scale, iterations=12)
    scale = newton_scale(optical_depth.flatten(2), target, ceiling, scale, iterations=5)
    return torch.exp(-(per_sample(scale.view(batch)) * optical_depth).clamp(max=per_sample(ceiling.view(batch))))


def newton_scale(tau: torch.Tensor, target: torch.Tensor, ceiling: torch.Tensor, scale: torch.Tensor,
                 iterations: int, channel_weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Newton steps on k (B, 1) for mean(exp(-min(k tau, ceiling))) = target; from below the root.

    `tau` is (B, C, N): C channels (one for a grey haze) of N pixels, their transmissions
    weighed by `channel_weights` (C,), summing to 1. The mean is convex and decreasing in
    k, so each tangent meets the target short of the root.
    """
    weights = (torch.ones(1, device=tau.device) if channel_weights is None else channel_weights)[None, :, None]
    scale, target, ceiling = scale[:, :, None], target[:, :, None], ceiling[:, :, None]
    for _ in range(iterations):
        scaled = scale * tau
        transmission = torch.exp(-scaled.clamp(max=ceiling))
        slope = (weights * tau * transmission * (scaled < ceiling)).sum(1, keepdim=True).mean(2, keepdim=True)
        excess = (weights * transmission).sum(1, keepdim=True).mean(2, keepdim=True) - target
        scale = scale + excess.clamp(min=0) / slope.clamp(min=1e-12)
    return scale[:, :, 0]


def scene_airlight(clear: torch.Tensor, generator) -> torch.Tensor:
    """(B, 3) sRGB airlight: a grey level carrying the hue of the photo's brightest 1%, slightly tinted.

    Haze is lit by the same sky that lit the scene, so its colour follows the photo's
    brightest region (sky, sunlit cloud, a lamp at dusk) to a degree; the grey level is
    sometimes dim, as in fog at dusk.
    """
    batch, device = clear.shape[0], clear.device
    luma = luminance(clear).flatten(1)
    brightest = luma.topk(max(1, luma.shape[1] // 100), dim=1).indices
    colours = clear.flatten(2).gather(2, brightest[:, None].expand(-1, 3, -1)).mean(2)
    hue = (colours / colours.mean(1, keepdim=True).clamp(min=1e-3)).clamp(0.75, 1.25)
    dim = uniform(0, 1, (batch,), generator, device) < DIM_AIRLIGHT_PROBABILITY
    grey = torch.where(dim, uniform(*DIM_AIRLIGHT_GREY, (batch,), generator, device),
                       uniform(*AIRLIGHT_GREY, (batch,), generator, device))
    hue_share = uniform(0.0, 0.5, (batch, 1), generator, device)
    tint = 1 + uniform(-0.04, 0.04, (batch, 3), generator, device)
    return (grey[:, None] * torch.lerp(torch.ones_like(hue), hue, hue_share) * tint).clamp(0.0, 1.0)


def scatter(clear: torch.Tensor, transmission: torch.Tensor, airlight: torch.Tensor) -> torch.Tensor:
    """I = J t + A (1 - t) of sRGB `clear` and `airlight`, in linear light: light adds up there, not in sRGB values."""
    airlight_linear = srgb_to_linear(airlight.clamp(0.0, 1.0))[:, :, None, None]
    return torch.lerp(airlight_linear, srgb_to_linear(clear.clamp(0.0, 1.0)), transmission)


def random_camera_settings(batch: int, generator=None, device=None) -> CameraSettings:
    blurred = uniform(0, 1, (batch,), generator, device) < BLUR_PROBABILITY
    blur_sigma = uniform(*BLUR_SIGMA, (batch,), generator, device) * blurred
    read_noise = uniform(*READ_NOISE, (batch,), generator, device)
    shot_noise = uniform(*SHOT_NOISE, (batch,), generator, device)
    compressed = uniform(0, 1, (batch,), generator, device) < JPEG_PROBABILITY
    quality = torch.randint(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1, (batch,), generator=generator, device=device)
    return CameraSettings(blur_sigma, read_noise, shot_noise, quality * compressed)


def camera(light: torch.Tensor, settings: CameraSettings, generator) -> torch.Tensor:
    """The sRGB file a camera writes of linear `light`: slight blur, sensor noise, then JPEG or 8-bit rounding.

    Lens blur and noise act on light, before the camera's tone curve; compression on the encoded values.
    """
    light = gaussian_blur(light, settings.blur_sigma)
    images = linear_to_srgb(sensor_noise(light, settings.read_noise, settings.shot_noise, generator))
    written = torch.round(images.clamp(0, 1) * 255) / 255
    compressed = (settings.jpeg_quality > 0).nonzero().flatten()
    if len(compressed):
        written[compressed] = jpeg_simulation(images[compressed], settings.jpeg_quality[compressed])
    return written


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """Separable Gaussian blur with one sigma per sample (0: untouched): a lens slightly out of focus or shaken."""
    blurred = (sigma > 0).nonzero().flatten()
    if not len(blurred):
        return images
    batch, channels, height, width = images[blurred].shape
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    taps = torch.exp(-offsets ** 2 / (2 * sigma[blurred, None].to(images.dtype) ** 2))
    taps = (taps / taps.sum(1, keepdim=True)).repeat_interleave(channels, dim=0)  # one kernel per channel
    planes = F.pad(images[blurred].reshape(1, batch * channels, height, width), (radius,) * 4, mode="reflect")
    planes = F.conv2d(planes, taps[:, None, None, :], groups=batch * channels)
    planes = F.conv2d(planes, taps[:, None, :, None], groups=batch * channels)
    result = images.clone()
    result[blurred] = planes.reshape(batch, channels, height, width)
    return result


def sensor_noise(light: torch.Tensor, read: torch.Tensor, shot: torch.Tensor, generator) -> torch.Tensor:
    """Poisson-Gaussian noise on linear light: variance read^2 + shot * signal, from electronics and photon counts."""
    std = torch.sqrt(per_sample(read) ** 2 + per_sample(shot) * light.clamp(min=0))
    return light + std * torch.randn(light.shape, generator=generator, device=light.device, dtype=light.dtype)


def jpeg_quantization_tables(quality: torch.Tensor) -> torch.Tensor:
    """(B, 2, 8, 8) luminance and chrominance tables scaled to each IJG quality (1-100) as libjpeg scales them."""
    quality = quality.float().clamp(1, 100)
    percent = torch.where(quality < 50, 5000 / quality, 200 - 2 * quality)
    base = torch.tensor([LUMINANCE_TABLE, CHROMINANCE_TABLE], dtype=torch.float32, device=quality.device)
    return torch.floor((base * percent[:, None, None, None] + 50) / 100).clamp(1, 255)


def dct_matrix(device, dtype) -> torch.Tensor:
    """The orthonormal 8-point DCT-II, C[u, x]: JPEG's 2-D transform of a block X is C X C^T."""
    frequency = torch.arange(8, device=device, dtype=dtype)[:, None]
    position = torch.arange(8, device=device, dtype=dtype)[None, :]
    matrix = torch.cos((2 * position + 1) * frequency * math.pi / 16) * 0.5
    matrix[0] = matrix[0] / math.sqrt(2)
    return matrix


def quantize_blocks(planes: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """Each plane (B, C, H, W), H and W multiples of 8, through 8x8 DCT, quantization by (B, 8, 8) tables and back."""
    batch, channels, height, width = planes.shape
    blocks = planes.reshape(batch, channels, height // 8, 8, width // 8, 8).transpose(3, 4)
    dct = dct_matrix(planes.device, planes.dtype)
    step = tables[:, None, None, None]
    coefficients = torch.round(dct @ blocks @ dct.T / step) * step
    restored = dct.T @ coefficients @ dct
    return restored.transpose(3, 4).reshape(batch, channels, height, width)


def padded_to_multiple(planes: torch.Tensor, multiple: int) -> torch.Tensor:
    """Edge pixels repeated to a size that is a multiple of `multiple`, as encoders fill partial blocks."""
    height, width = planes.shape[-2:]
    return F.pad(planes, (0, -width % multiple, 0, -height % multiple), mode="replicate")


def jpeg_simulation(images: torch.Tensor, quality) -> torch.Tensor:
    """Encode and decode sRGB images (B, 3, H, W) as a baseline JPEG at IJG `quality` (int or (B,)).

    8-bit input, JFIF YCbCr, chroma averaged over 2x2 pixels (4:2:0), 8x8 block DCT
    quantized by the standard tables, then the decoder's side: bilinear chroma
    upsampling (libjpeg's "fancy" upsampling weighs 3/4 and 1/4 alike) and 8-bit output.
    """
    batch, _, height, width = images.shape
    quality = torch.as_tensor(quality, device=images.device).expand(batch)
    tables = jpeg_quantization_tables(quality).to(images.dtype)
    conversion, inverse = (torch.tensor(matrix, device=images.device, dtype=images.dtype)
                           for matrix in (RGB_TO_YCBCR, YCBCR_TO_RGB))
    rgb = torch.round(images.clamp(0, 1) * 255)
    ycbcr = torch.round(torch.einsum("kc,bchw->bkhw", conversion, rgb))  # chroma centred on 0, as the DCT wants it
    luma = quantize_blocks(padded_to_multiple(ycbcr[:, :1] - 128, 8), tables[:, 0])[..., :height, :width]
    chroma = torch.round(F.avg_pool2d(padded_to_multiple(ycbcr[:, 1:], 2), 2))
    chroma_height, chroma_width = chroma.shape[-2:]
    chroma = quantize_blocks(padded_to_multiple(chroma, 8), tables[:, 1])[..., :chroma_height, :chroma_width]
    luma, chroma = torch.round(luma).clamp(-128, 127), torch.round(chroma).clamp(-128, 127)
    chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)[..., :height, :width]
    decoded = torch.einsum("kc,bchw->bkhw", inverse, torch.cat([luma + 128, chroma], 1))
    return torch.round(decoded).clamp(0, 255) / 255
