"""One entry point for every method, at any resolution with bounded memory.

Methods run on at most `working_size`**2 pixels; for larger images the local
affine map from hazy to dehazed found at that size is lifted to full resolution
(see `guided_filter.lift_to_full_resolution`), unless running at full size costs
less. The same affine map, read physically, applies part of the dehazing
(`strength`, see `guided_filter.haze_strength_map`).
"""

from numbers import Real

import numpy as np
import torch
import torch.nn.functional as F

from .dcp import dehaze_dcp
from .guided_filter import default_device, lift_to_full_resolution, resize_tensor, to_array, to_tensor
from .image_io import validate_image
from .mscnn import dehaze_mscnn
from .scattering import DehazeResult
from .weights import load_model

METHODS = ("gan", "dcp", "mscnn")
WORKING_SIZE = 512  # methods run on at most 512 x 512 pixels (0.26 MP), whatever the aspect ratio
# Seconds per megapixel on the 2-core CPU, measured at the working size: each method, the
# lift's fit there, and its downscaling, upsampling and applying per megapixel of the full image.
METHOD_SECONDS_PER_MP = {"dcp": 0.09, "mscnn": 0.55, "gan": 1.7}
LIFT_FIT_SECONDS_PER_MP = 0.09
LIFT_APPLY_SECONDS_PER_MP = 0.05


def dehaze_gan(image: np.ndarray, generator) -> DehazeResult:
    """Run the generator on an (H, W, 3) image in [0, 1], reflect-padding to a multiple of 4.

    A generator with more input than output channels gets DCP's estimate beside the hazy image.
    """
    height, width = image.shape[:2]
    device = next(generator.parameters()).device
    inputs = [image, dehaze_dcp(image).image] if generator.in_channels > generator.channels else [image]
    stacked = np.concatenate(inputs, axis=2).transpose(2, 0, 1)
    batch = torch.from_numpy(np.ascontiguousarray(stacked))[None].to(device) * 2 - 1
    batch = F.pad(batch, (0, -width % 4, 0, -height % 4), mode="reflect")
    with torch.no_grad():
        output = generator(batch)[0, :, :height, :width]
    return DehazeResult(((output + 1) / 2).clamp(0, 1).permute(1, 2, 0).cpu().numpy())


def run_method(image: np.ndarray, method: str) -> DehazeResult:
    if method == "dcp":
        return dehaze_dcp(image)
    if method == "mscnn":
        return dehaze_mscnn(image, load_model("mscnn"))
    if method == "gan":
        return dehaze_gan(image, load_model("gan"))
    raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}")


def working_shape(height: int, width: int, working_size: int):
    """The (height, width) with at most working_size**2 pixels and the same aspect ratio; never larger."""
    scale = min(1.0, (working_size * working_size / (height * width)) ** 0.5)
    return max(1, round(height * scale)), max(1, round(width * scale))


def lift_pays(method: str, full_pixels: int, working_pixels: int) -> bool:
    """Whether running at the working size and lifting costs less than running at full size."""
    per_pixel = METHOD_SECONDS_PER_MP[method]
    lifted = (per_pixel + LIFT_FIT_SECONDS_PER_MP) * working_pixels + LIFT_APPLY_SECONDS_PER_MP * full_pixels
    return lifted < per_pixel * full_pixels


def check_strength(strength) -> float:
    if isinstance(strength, bool) or not isinstance(strength, Real) or not 0 <= strength <= 1:
        raise ValueError(f"strength must be a number from 0 (input unchanged) to 1 (full dehazing), got {strength!r}")
    return float(strength)


def dehaze(image, method: str = "gan", working_size: int = WORKING_SIZE, strength: float = 1.0) -> DehazeResult:
    """Dehaze any image `validate_image` accepts; the result has the input's full resolution.

    `strength` from 0 (the input unchanged) to 1 (the method's full result) scales the
    density of the haze that is removed, per pixel, through the lift's affine map.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}")
    strength = check_strength(strength)
    image = validate_image(image)
    height, width = image.shape[:2]
    small_height, small_width = working_shape(height, width, working_size)
    full = to_tensor(image, default_device())
    if lift_pays(method, height * width, small_height * small_width):
        small = resize_tensor(full, small_height, small_width)
        result = run_method(to_array(small), method)
    else:
        result = run_method(image, method)
        if strength == 1:
            return result
        small = full
    dehazed = lift_to_full_resolution(full, small, to_tensor(result.image, full.device), strength=strength)
    transmission = result.transmission
    if transmission is not None:
        transmission = torch.as_tensor(transmission, device=full.device)[None, None] ** strength
        transmission = F.interpolate(transmission, size=(height, width), mode="bilinear", align_corners=False)
        transmission = transmission[0, 0].clamp(0.0, 1.0).cpu().numpy()
    return DehazeResult(to_array(dehazed), transmission, result.airlight)
