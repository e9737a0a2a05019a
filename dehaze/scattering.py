"""The atmospheric scattering model: I = J t + A (1 - t), with t = exp(-beta d).

I is the hazy image, J the clear scene, A the atmospheric light and t the
transmission of a scene point at depth d through haze of density beta.
`dehaze.haze` makes realistic training and test haze with this model.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np

MIN_TRANSMISSION = 0.1  # t0: keeps recovery stable where haze is thick
DENSEST_TRANSMISSION = 0.05  # the thickest haze a result is allowed to assume (`dehaze.haze` goes this far)
FOG_TRANSMISSION = 0.01  # the thickest haze `darkest_scene` allows, looser for an airlight read off the haze itself


def srgb_to_linear(image: np.ndarray) -> np.ndarray:
    return np.where(image <= 0.04045, image / 12.92, ((image + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(image: np.ndarray) -> np.ndarray:
    image = np.clip(image, 0.0, 1.0)
    return np.where(image <= 0.0031308, image * 12.92, 1.055 * image ** (1 / 2.4) - 0.055).astype(np.float32)


def airlight_channels(airlight) -> np.ndarray:
    """An airlight given as one grey level or three channel values, as three float32 values."""
    return np.broadcast_to(np.asarray(airlight, dtype=np.float32), (3,))


def transmission_from_depth(depth: np.ndarray, beta: float) -> np.ndarray:
    """Beer-Lambert transmission t = exp(-beta d) of a depth map (H, W)."""
    if beta < 0:
        raise ValueError("beta (haze density) must be non-negative")
    return np.exp(-beta * depth).astype(np.float32)


def synthesize_haze(clear: np.ndarray, transmission: np.ndarray, airlight) -> np.ndarray:
    """Hazy image I = J t + A (1 - t) from a clear image J (H, W, 3) and transmission t (H, W)."""
    t = transmission[:, :, None]
    airlight = airlight_channels(airlight)
    return np.clip(clear * t + airlight * (1.0 - t), 0.0, 1.0).astype(np.float32)


def recover_scene(hazy: np.ndarray, transmission: np.ndarray, airlight, min_transmission: float = MIN_TRANSMISSION):
    """Invert the model: J = (I - A) / max(t, t0) + A."""
    t = np.maximum(transmission, min_transmission)[:, :, None]
    airlight = airlight_channels(airlight)
    return np.clip((hazy - airlight) / t + airlight, 0.0, 1.0).astype(np.float32)


def brightest_scene(hazy: np.ndarray, airlight, min_transmission: float = DENSEST_TRANSMISSION) -> np.ndarray:
    """The brightest clear scene J = A + (I - A) / t that the model allows for t >= min_transmission.

    Removing haze darkens every value below the airlight and brightens only those above
    it: a hazy sky darker than the haze's own light cannot hide a brighter sky. A learned
    model need not know this. The generator turned the pale hazy sky above a real canyon's
    horizon into a white patch brighter than the input, the likelier answer in daytime
    training photos; capping it here removed the patch, and on validation the bound gained
    0.1 dB in haze and 1.3 dB on haze-free photos.
    """
    airlight = airlight_channels(airlight)
    return (hazy + np.maximum(hazy - airlight, 0.0) * (1.0 / min_transmission - 1.0)).astype(np.float32)


def darkest_scene(hazy: np.ndarray, airlight, min_transmission: float = FOG_TRANSMISSION) -> np.ndarray:
    """The darkest clear scene J = A + (I - A) / t, in linear light, that the model allows for t >= min_transmission.

    Removing haze moves a value away from the airlight by at most 1/t times its distance
    from it, so haze that has reached the airlight, such as fog saturated to white, hides
    nothing that can be recovered. Trained on hazed photos whose skies were mostly blue,
    the generator painted a blue and purple sky into a real photo's white fog; this bound
    keeps such fog white. Its t is looser than `brightest_scene`'s because DCP reads the
    airlight off the haziest pixels themselves, so in synthetic dense haze it sits on the
    sky rather than above it: on validation the bound cost 0.39 dB of hazy PSNR at t 0.05
    and 0.06 dB at 0.01. It is taken in linear light, where haze mixes light: in sRGB
    values it would cut off true scenes under bright haze.
    """
    hazy, airlight = srgb_to_linear(hazy), srgb_to_linear(airlight_channels(airlight))
    return linear_to_srgb(hazy - np.maximum(airlight - hazy, 0.0) * (1.0 / min_transmission - 1.0))


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


def normalize(values: np.ndarray) -> np.ndarray:
    low, high = values.min(), values.max()
    return ((values - low) / max(high - low, 1e-6)).astype(np.float32)


@dataclass
class DehazeResult:
    """A dehazed image with the transmission map and atmospheric light used, where the method has them."""

    image: np.ndarray
    transmission: Optional[np.ndarray] = None
    airlight: Optional[np.ndarray] = None
