"""Haze that looks like haze: training and evaluation data synthesized from clear photos.

A clear photo J becomes a hazy photo I in three stages, each following what a
real hazy photo went through:

1. Depth that follows the scene (`scene_depth`): sky found and put at infinity,
   a ground plane that recedes towards the horizon, the colour attenuation prior
   (Zhu et al. 2015: haze-free far regions are brighter and less saturated),
   all aligned to the photo's edges by a guided filter, so depth steps where
   objects end rather than in random blotches.
2. Scattering in linear light, I = J t + A (1 - t) with t = exp(-beta d): light
   adds up in linear units, not in sRGB's gamma-encoded values. The airlight A is
   grey or slightly tinted (blue daylight, yellow smog), transmission reaches
   about 0.05 in dense haze, and some samples are left haze-free (t near 1) so a
   model learns to leave clear photos alone.
3. What a camera does to the hazy photo only: sensor noise, slight blur, 8-bit
   rounding and JPEG with 4:2:0 chroma subsampling at a random quality.

Some samples are grayscale, so a model learns that grey in means grey out.
"""

import io
from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image

from ..guided_filter import guided_filter
from ..image_io import fit_within, resize, to_uint8
from ..scattering import linear_to_srgb, normalize, srgb_to_linear, transmission_from_depth

LEVELS = ("clear", "light", "dense")
LEVEL_PROBABILITIES = (0.1, 0.45, 0.45)
BETA_RANGES = {"clear": (0.0, 0.05), "light": (0.3, 1.2), "dense": (1.2, 3.0)}  # t at infinity: 1, 0.74-0.30, 0.30-0.05
AIRLIGHT_RANGE = (0.65, 1.0)  # sRGB grey level of the airlight
MAX_TINT = 0.08
JPEG_QUALITY = (60, 95)
GRAYSCALE_PROBABILITY = 0.08
DEPTH_SIDE = 192
DARKER_STOPS = (0.5, 3.0)  # exposure taken off a photo made to stand for dusk, shade or night
DIM_STOPS = (1.0, 4.0)  # exposure taken off a whole hazy scene, airlight included: dim fog


def exposed(image: np.ndarray, factor: float) -> np.ndarray:
    """An sRGB image (or colour) with its exposure scaled by `factor` in linear light, as a camera would."""
    return linear_to_srgb(srgb_to_linear(image) * np.float32(factor))


def darker_exposure(clear: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo exposed 0.5 to 3 stops darker, in linear light: dusk, shade and night scenes.

    Most training photos are daylight scenes, so where dense haze has erased the far
    scene the likelier answer was a bright sky; on dark scenes under bright airlight the
    generator left haze there (the top of a night sky: clear 0.17, hazy 0.90, output 0.98).
    """
    return exposed(clear, 2.0 ** -rng.uniform(*DARKER_STOPS))


def luminance(image: np.ndarray) -> np.ndarray:
    return (image @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)


def sky_mask(clear: np.ndarray) -> np.ndarray:
    """Bright, smooth, bluish-or-grey pixels connected to the top edge through more of the same."""
    gray = luminance(clear)
    value, low = clear.max(axis=2), clear.min(axis=2)
    saturation = (value - low) / np.maximum(value, 1e-6)
    gradient = np.zeros_like(gray)
    gradient[:-1] += np.abs(np.diff(gray, axis=0))
    gradient[:, :-1] += np.abs(np.diff(gray, axis=1))
    smooth = guided_filter(gray, gradient, radius=2, eps=1.0) < 0.02  # eps 1: a plain local mean
    bluish_or_grey = (clear[:, :, 2] >= clear[:, :, 0]) | (saturation < 0.2)
    candidate = (value > 0.45) & smooth & bluish_or_grey
    return np.cumprod(candidate, axis=0).astype(bool)  # each column's run from the top


def horizon_row(sky: np.ndarray, rng: np.random.Generator) -> float:
    """Row where the sky meets the land, as a fraction of the height; a random one where no sky shows."""
    sky_rows = sky.sum(axis=0)
    if (sky_rows > 0).mean() > 0.3:
        return float(np.median(sky_rows[sky_rows > 0])) / sky.shape[0]
    return float(rng.uniform(-0.2, 0.5))  # above the frame: photos looking down at the ground


def scene_depth(clear: np.ndarray, rng: np.random.Generator, side: int = DEPTH_SIDE) -> np.ndarray:
    """Relative depth in [0, 1] (1: the sky, at infinity) of a photo whose real depth is unknown.

    Mixes a ground plane (distance grows as 1 / rows below the horizon), the colour
    attenuation prior and a little random variation with random weights, then lets
    a guided filter align the depth's edges to the photo's. The layout is found on a
    copy of at most `side` pixels (it is smooth), the edges at full resolution.
    """
    small = fit_within(clear, side)
    depth = resize(coarse_depth(small, rng), clear.shape[1], clear.shape[0])
    return np.clip(guided_filter(luminance(clear), depth, radius=4, eps=1e-3), 0.0, 1.0).astype(np.float32)


def coarse_depth(clear: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = clear.shape[:2]
    gray = luminance(clear)
    sky = sky_mask(clear)
    horizon = horizon_row(sky, rng) * height
    rows = np.arange(height, dtype=np.float32)[:, None]
    nearest = rng.uniform(0.02, 0.3)  # depth of the bottom row
    ground = np.clip(nearest * (height - horizon) / np.maximum(rows - horizon, 1e-3), 0.0, 1.0)
    ground = np.where(rows > horizon, ground, 1.0) * np.ones((1, width), np.float32)
    value, low = clear.max(axis=2), clear.min(axis=2)
    attenuation = 0.959710 * value - 0.780245 * (value - low) / np.maximum(value, 1e-6)  # Zhu et al.'s linear model
    attenuation = normalize(guided_filter(gray, attenuation, radius=max(4, height // 30), eps=1.0))
    weights = rng.dirichlet((4.0, 1.5, 0.5))
    variation = normalize(resize(rng.random((4, 4)).astype(np.float32), width, height))
    depth = weights[0] * ground + weights[1] * attenuation + weights[2] * variation
    depth = normalize(depth) * rng.uniform(0.6, 0.95)  # land stays nearer than the sky
    depth[sky] = 1.0
    radius = max(4, min(height, width) // 16)
    return np.clip(guided_filter(gray, depth, radius=radius, eps=1e-3), 0.0, 1.0).astype(np.float32)


def random_airlight(rng: np.random.Generator) -> np.ndarray:
    """An sRGB airlight colour: grey half of the time, else slightly blue or slightly yellow."""
    grey = rng.uniform(*AIRLIGHT_RANGE)
    tint, strength = rng.choice(["grey", "blue", "yellow"], p=[0.5, 0.25, 0.25]), rng.uniform(0, MAX_TINT)
    factors = {"grey": (1, 1, 1), "blue": (1 - strength, 1 - strength / 3, 1), "yellow": (1, 1 - strength / 4, 1 - strength)}
    return np.clip(grey * np.array(factors[tint], np.float32), 0.0, 1.0)


def scatter(clear: np.ndarray, transmission: np.ndarray, airlight: np.ndarray) -> np.ndarray:
    """I = J t + A (1 - t), computed in linear light and returned in sRGB."""
    t = transmission[:, :, None]
    linear = srgb_to_linear(clear) * t + srgb_to_linear(airlight) * (1.0 - t)
    return linear_to_srgb(linear)


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as a camera or a website would: 8-bit, 4:2:0 chroma subsampling."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="JPEG", quality=int(quality), subsampling=2)
    return np.asarray(Image.open(buffer).convert("RGB"), np.float32) / 255.0


def camera(image: np.ndarray, rng: np.random.Generator, jpeg_quality: Optional[int]) -> np.ndarray:
    """Sensor noise (read + shot), slight blur sometimes, then 8-bit rounding or JPEG."""
    from scipy.ndimage import gaussian_filter  # training and evaluation only

    if rng.random() < 0.3:
        image = gaussian_filter(image, sigma=(rng.uniform(0.3, 1.0),) * 2 + (0,))
    read, shot = rng.uniform(0, 0.01), rng.uniform(0, 0.0004)
    image = image + rng.normal(size=image.shape).astype(np.float32) * np.sqrt(read**2 + shot * np.clip(image, 0, 1))
    if jpeg_quality is None:
        return np.round(np.clip(image, 0, 1) * 255).astype(np.float32) / 255.0
    return jpeg_round_trip(image, jpeg_quality)


@dataclass
class HazySample:
    """A hazy photo, its clear target and what made it.

    `clean_hazy` is the haze before the camera (noise, blur, JPEG) and `noise` the standard
    deviation of what the camera added: together they tell where haze has left less of
    the scene than the camera's errors (`dehaze.training.targets`).
    """

    hazy: np.ndarray
    clear: np.ndarray
    transmission: np.ndarray
    airlight: np.ndarray
    beta: float
    level: str
    jpeg_quality: Optional[int]
    clean_hazy: Optional[np.ndarray] = None
    noise: Optional[float] = None


def random_haze(clear: np.ndarray, rng: np.random.Generator, depth: Optional[np.ndarray] = None,
                level: Optional[str] = None, grayscale: Optional[bool] = None,
                level_probabilities=LEVEL_PROBABILITIES, exposure: float = 1.0) -> HazySample:
    """Haze a clear sRGB photo (H, W, 3) in [0, 1]; `depth` in [0, 1] is used where the real depth is known.

    `level` ("clear", "light" or "dense") and `grayscale` are drawn at random unless given.
    `exposure` scales the whole scene in linear light, airlight included: fog at dusk or
    under a dark sky, where `darker_exposure` makes a dark scene under bright haze. The
    airlight is otherwise never darker than 0.65, and on a dim real fog photo (airlight
    about 0.3) the generator invented a dark wall with a straight top edge; a 3-minute
    GPU run with 15% of such samples did not remove it (see the model card).
    """
    level = level or str(rng.choice(LEVELS, p=level_probabilities))
    grayscale = rng.random() < GRAYSCALE_PROBABILITY if grayscale is None else grayscale
    if grayscale:
        clear = np.repeat(luminance(clear)[:, :, None], 3, axis=2)
    depth = scene_depth(clear, rng) if depth is None else depth  # read off the scene as it was lit
    beta = rng.uniform(*BETA_RANGES[level])
    transmission = transmission_from_depth(depth, beta)
    airlight = np.full(3, random_airlight(rng).mean(), np.float32) if grayscale else random_airlight(rng)
    if exposure != 1.0:
        clear, airlight = exposed(clear, exposure), exposed(airlight, exposure)
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)) if rng.random() < 0.85 else None
    clean_hazy = scatter(clear, transmission, airlight)
    hazy = camera(clean_hazy, rng, quality)
    if grayscale:  # JPEG's chroma rounding must not leave colour in a grey photo
        hazy = np.repeat(luminance(hazy)[:, :, None], 3, axis=2)
    # A haze-free photo should come back as it was given, its noise and compression included:
    # a target without them taught the generator to alter clean photos' texture.
    target = hazy if level == "clear" else clear.astype(np.float32)
    noise = float(np.std(hazy - clean_hazy))
    return HazySample(hazy, target, transmission, airlight, float(beta), level, quality, clean_hazy, noise)
