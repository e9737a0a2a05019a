"""One entry point for every method, at any resolution with bounded memory.

Methods run at a working size (long side at most `working_size` pixels); for
larger images the local affine map from hazy to dehazed found at that size is
lifted to full resolution (see `guided_filter.lift_to_full_resolution`).
"""

import numpy as np
import torch
import torch.nn.functional as F

from .dcp import dehaze_dcp
from .guided_filter import lift_to_full_resolution
from .image_io import fit_within, resize, validate_image
from .mscnn import dehaze_mscnn
from .scattering import DehazeResult
from .weights import load_model

METHODS = ("gan", "dcp", "mscnn")
WORKING_SIZE = 512


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


def dehaze(image, method: str = "gan", working_size: int = WORKING_SIZE) -> DehazeResult:
    """Dehaze any image `validate_image` accepts; the result has the input's full resolution."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}")
    image = validate_image(image)
    small = fit_within(image, working_size)
    result = run_method(small, method)
    if small.shape == image.shape:
        return result
    height, width = image.shape[:2]
    transmission = None if result.transmission is None else resize(result.transmission, width, height)
    return DehazeResult(lift_to_full_resolution(image, small, result.image), transmission, result.airlight)
