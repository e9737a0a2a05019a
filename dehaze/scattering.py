"""The atmospheric scattering model: I = J t + A (1 - t), with t = exp(-beta d).

I is the hazy image, J the clear scene, A the atmospheric light and t the
transmission of a scene point at depth d through haze of density beta.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .image_io import resize

MIN_TRANSMISSION = 0.1  # t0: keeps recovery stable where haze is thick
BETA_RANGE = (0.5, 1.5)  # haze density, as in MSCNN's training data
AIRLIGHT_RANGE = (0.7, 1.0)
NEAR, FAR = 0.3, 1.5  # relative depth [0, 1] is mapped to this scene depth: t spans about 0.1 to 0.86


def transmission_from_depth(depth: np.ndarray, beta: float) -> np.ndarray:
    """Beer-Lambert transmission t = exp(-beta d) of a depth map (H, W)."""
    if beta < 0:
        raise ValueError("beta (haze density) must be non-negative")
    return np.exp(-beta * depth).astype(np.float32)


def synthesize_haze(clear: np.ndarray, transmission: np.ndarray, airlight) -> np.ndarray:
    """Hazy image I = J t + A (1 - t) from a clear image J (H, W, 3) and transmission t (H, W)."""
    t = transmission[:, :, None]
    airlight = np.broadcast_to(np.asarray(airlight, dtype=np.float32), (3,))
    return np.clip(clear * t + airlight * (1.0 - t), 0.0, 1.0).astype(np.float32)


def recover_scene(hazy: np.ndarray, transmission: np.ndarray, airlight, min_transmission: float = MIN_TRANSMISSION):
    """Invert the model: J = (I - A) / max(t, t0) + A."""
    t = np.maximum(transmission, min_transmission)[:, :, None]
    airlight = np.broadcast_to(np.asarray(airlight, dtype=np.float32), (3,))
    return np.clip((hazy - airlight) / t + airlight, 0.0, 1.0).astype(np.float32)


def random_haze(clear: np.ndarray, rng: np.random.Generator, depth: Optional[np.ndarray] = None):
    """Haze a clear image with random density and grey airlight; returns (hazy, transmission, beta, airlight).

    `depth` is relative depth in [0, 1]; where it is None a random depth prior stands in.
    """
    height, width = clear.shape[:2]
    if depth is None:
        depth = random_depth(height, width, rng)
    beta, airlight = rng.uniform(*BETA_RANGE), rng.uniform(*AIRLIGHT_RANGE)
    transmission = transmission_from_depth(NEAR + (FAR - NEAR) * depth, beta)
    return synthesize_haze(clear, transmission, airlight), transmission, beta, airlight


def depth_from_disparity(disparity: np.ndarray) -> np.ndarray:
    """Relative depth in [0, 1] from a stereo disparity map (depth is proportional to 1/disparity).

    Pixels without a disparity (NaN, inf or <= 0) get the median depth.
    """
    valid = np.isfinite(disparity) & (disparity > 0)
    if not valid.any():
        raise ValueError("the disparity map has no valid pixel")
    depth = np.zeros(disparity.shape, np.float64)
    depth[valid] = 1.0 / np.maximum(disparity[valid], np.percentile(disparity[valid], 1))
    depth[~valid] = np.median(depth[valid])
    return normalize(depth)


def random_depth(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A plausible relative depth map in [0, 1] for a photo whose real depth is unknown.

    Combines the outdoor prior that depth grows towards the top of the frame (the
    horizon) with a smooth random field for the layout we cannot know.
    """
    rows = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None] * np.ones((1, width), np.float32)
    horizon = rng.uniform(0.2, 0.8)
    ground = np.clip(rows / max(horizon, 1e-3), 0.0, 1.0) ** rng.uniform(0.5, 2.0)
    field = smooth_random_field(height, width, rng)
    weight = rng.uniform(0.0, 1.0)
    return normalize(weight * ground + (1.0 - weight) * field)


def smooth_random_field(height: int, width: int, rng: np.random.Generator, octaves: int = 3) -> np.ndarray:
    """Sum of upsampled random grids at a few scales: a smooth field in [0, 1]."""
    field = np.zeros((height, width), np.float32)
    for octave in range(octaves):
        cells = 2 ** (octave + 1)
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        field += resize(grid, width, height) / 2**octave
    return normalize(field)


def normalize(values: np.ndarray) -> np.ndarray:
    low, high = values.min(), values.max()
    return ((values - low) / max(high - low, 1e-6)).astype(np.float32)


@dataclass
class DehazeResult:
    """A dehazed image with the transmission map and atmospheric light used, where the method has them."""

    image: np.ndarray
    transmission: Optional[np.ndarray] = None
    airlight: Optional[np.ndarray] = None
