"""One entry point for every method, at any resolution with bounded memory.

Methods run on at most `working_size`**2 pixels; for larger images the local
affine map from hazy to dehazed found at that size is lifted to full resolution
(see `guided_filter.lift_to_full_resolution`), unless running at full size costs
less. The same affine map, read physically, applies part of the dehazing
(`strength`, see `guided_filter.haze_strength_map`), and is applied to the image's
structure only, so that JPEG blocks and noise are not amplified with the haze's
contrast (`guided_filter.apply_affine_map`). Grey photos come out grey.
"""

from numbers import Real

import numpy as np
import torch
import torch.nn.functional as F

from .dcp import dark_channel, dehaze_dcp, estimate_airlight, estimate_transmission, refine_transmission
from .gan import ScatteringGenerator
from .guided_filter import (
    affine_coefficients, apply_affine_map, default_device, lift_to_full_resolution, resize_tensor, strip_height,
    to_array, to_tensor,
)
from .image_io import validate_image
from .mscnn import dehaze_mscnn, dehaze_mscnn_batch
from .scattering import MIN_TRANSMISSION, DehazeResult, brightest_scene, darkest_scene
from .weights import load_model

METHODS = ("gan", "dcp", "mscnn")
WORKING_SIZE = 512  # methods run on at most 512 x 512 pixels (0.26 MP), whatever the aspect ratio
# Seconds per megapixel on the 2-core CPU, measured at the working size: each method (the GAN
# with the fit of its affine map), and the downscaling to the working size per megapixel of the
# full image. The map is applied at full size either way, so its cost does not decide.
METHOD_SECONDS_PER_MP = {"dcp": 0.03, "mscnn": 0.45, "gan": 3.0}
DOWNSCALE_SECONDS_PER_MP = 0.007


def dehaze_gan(image: np.ndarray, generator) -> DehazeResult:
    """Run the generator on an (H, W, 3) image in [0, 1], reflect-padding to a multiple of 4.

    A generator with more input than output channels gets DCP's estimate beside the hazy image.
    """
    return dehaze_gan_batch([image], generator)[0]


def dehaze_gan_batch(images: list, generator, airlights=None) -> list:
    """`dehaze_gan` for (H, W, 3) images of one size, in one pass of the generator.

    A `ScatteringGenerator` composes its scene from a transmission map and an airlight, so
    the scattering model bounds it by construction. The free-pixel `ResnetGenerator`'s
    output is bounded by `scattering.brightest_scene` and `darkest_scene` at DCP's
    airlight: it may not brighten haze that is darker than the haze's own light, nor paint
    a scene into haze that has reached that light. `airlights`, where given, replace DCP's
    estimates there (a video's, averaged over frames: the bounds magnify any change of it).
    """
    device = next(generator.parameters()).device
    batch = torch.from_numpy(np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))).to(device)
    if isinstance(generator, ScatteringGenerator):
        with torch.no_grad():
            scenes, transmissions, airlights = generator(batch)
        return [DehazeResult(scene.permute(1, 2, 0).cpu().numpy()) for scene in scenes]
    height, width = images[0].shape[:2]
    airlights = airlights or [None] * len(images)
    estimates = [dehaze_dcp(image, airlight=airlight) for image, airlight in zip(images, airlights)]
    if generator.in_channels > generator.channels:  # DCP's estimate beside the hazy image
        priors = torch.from_numpy(np.stack([e.image for e in estimates]).transpose(0, 3, 1, 2)).to(device)
        batch = torch.cat([batch, priors], dim=1)
    batch = F.pad(batch * 2 - 1, (0, -width % 4, 0, -height % 4), mode="reflect")
    with torch.no_grad():
        outputs = generator(batch)[:, :, :height, :width]
    outputs = [((o + 1) / 2).clamp(0, 1).permute(1, 2, 0).cpu().numpy() for o in outputs]
    return [DehazeResult(np.clip(output, darkest_scene(image, estimate.airlight), brightest_scene(image, estimate.airlight)))
            for output, image, estimate in zip(outputs, images, estimates)]


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
    """Whether downscaling and running at the working size costs less than running at full size."""
    per_pixel = METHOD_SECONDS_PER_MP[method]
    return DOWNSCALE_SECONDS_PER_MP * full_pixels + per_pixel * working_pixels < per_pixel * full_pixels


def check_strength(strength) -> float:
    if isinstance(strength, bool) or not isinstance(strength, Real) or not 0 <= strength <= 1:
        raise ValueError(f"strength must be a number from 0 (input unchanged) to 1 (full dehazing), got {strength!r}")
    return float(strength)


def run_network_batch(images: list, method: str) -> list:
    """`run_method` for several (H, W, 3) images of one size, with one pass of the network for all."""
    return {"gan": dehaze_gan_batch, "mscnn": dehaze_mscnn_batch}[method](images, load_model(method))


def dehaze(image, method: str = "gan", working_size: int = WORKING_SIZE, strength: float = 1.0) -> DehazeResult:
    """Dehaze any image `validate_image` accepts; the result has the input's full resolution.

    `strength` from 0 (the input unchanged) to 1 (the method's full result) scales the
    density of the haze that is removed, per pixel, through the lift's affine map.
    """
    return dehaze_same_size([image], method, working_size, strength)[0]


def dehaze_same_size(images: list, method: str = "gan", working_size: int = WORKING_SIZE,
                     strength: float = 1.0) -> list:
    """`dehaze` for images that share one size; on a GPU the networks see them as one batch."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}")
    strength = check_strength(strength)
    images = [validate_image(image) for image in images]
    height, width = images[0].shape[:2]
    if any(image.shape[:2] != (height, width) for image in images):
        raise ValueError("dehaze_same_size needs images of one size; call dehaze for each image instead")
    small_height, small_width = working_shape(height, width, working_size)
    fulls = [to_tensor(image, default_device()) for image in images]
    lifted = lift_pays(method, height * width, small_height * small_width)
    smalls = [resize_tensor(full, small_height, small_width) for full in fulls] if lifted else fulls
    arrays = [to_array(small) for small in smalls] if lifted else images
    # Batches fill a GPU; on the 2-core CPU a batch of four ran 1.2-2x slower than one image at a time.
    if len(arrays) > 1 and method != "dcp" and default_device().type == "cuda":
        results = run_network_batch(arrays, method)
    else:
        results = [run_method(array, method) for array in arrays]
    # Through the lift even at full size: it keeps compression noise from being amplified (see apply_affine_map)
    return [lift_result(full, small, result, strength) for full, small, result in zip(fulls, smalls, results)]


def is_grayscale(image: torch.Tensor) -> bool:
    """Whether a (3, H, W) image's channels are equal to within 8-bit rounding; strip by strip, as colour shows early."""
    rows = strip_height(image.shape[-1])
    return all(bool((strip.amax(0) - strip.amin(0)).max() <= 1.0 / 255) for strip in image.split(rows, dim=1))


def recovery_map(transmission: np.ndarray, airlight: np.ndarray, device):
    """(a, b) of the scattering model's inversion J = a I + b: a = 1 / max(t, t0), b = A (1 - a)."""
    slope = 1.0 / torch.as_tensor(transmission, device=device).clamp(min=MIN_TRANSMISSION)[None]
    offset = torch.as_tensor(airlight, device=device).view(3, 1, 1) * (1.0 - slope)
    return slope.expand_as(offset), offset


def lift_result(full: torch.Tensor, small: torch.Tensor, result: DehazeResult, strength: float) -> DehazeResult:
    """A result at the working size brought to the full image's size, with `strength` of its dehazing."""
    height, width = full.shape[-2:]
    if result.transmission is None:  # the GAN: fit the local affine map its output defines
        dehazed = lift_to_full_resolution(full, small, to_tensor(result.image, full.device), strength=strength)
    else:  # DCP and MSCNN: the map is known, J = (I - A) / t + A, so nothing needs fitting
        dehazed = apply_affine_map(full, *recovery_map(result.transmission, result.airlight, full.device), strength)
    if is_grayscale(full):  # a grey photo has no colour to recover: whatever colour came out is an artefact
        dehazed = dehazed.mean(0, keepdim=True).expand_as(dehazed)
    transmission = result.transmission
    if transmission is not None:
        transmission = torch.as_tensor(transmission, device=full.device)[None, None] ** strength
        transmission = F.interpolate(transmission, size=(height, width), mode="bilinear", align_corners=False)
        transmission = transmission[0, 0].clamp(0.0, 1.0).cpu().numpy()
    return DehazeResult(to_array(dehazed), transmission, result.airlight)


# The map J = a I + b at the working size as a value of its own, for callers that keep it
# from one image to the next (`dehaze.video` carries it over a clip's frames).

FIT_RADIUS, FIT_EPS = 4, 1e-4  # the GAN's map is fitted as lift_to_full_resolution fits it for lift_result


def working_map(small: torch.Tensor, method: str, settle_airlight=None) -> tuple:
    """(a, b) of the map J = a I + b from hazy to dehazed that `method` finds for a (3, h, w) image.

    DCP and MSCNN build it from a transmission and an airlight (`recovery_map`); the GAN's
    is fitted between its input and its output. `settle_airlight`, where given, takes the
    image's own airlight estimate and returns the one to use instead (a video's, averaged
    over its frames): DCP measures the transmission against it and the free-pixel GAN is
    bounded at it; a `ScatteringGenerator` estimates its own airlight inside the network.
    """
    settle_airlight = settle_airlight or (lambda airlight: airlight)
    if method == "mscnn":
        result = run_method(to_array(small), method)
        airlight = settle_airlight(torch.as_tensor(result.airlight, device=small.device))
        return recovery_map(result.transmission, airlight, small.device)
    generator = load_model("gan") if method == "gan" else None
    airlights = None
    if not isinstance(generator, ScatteringGenerator):
        airlights = [settle_airlight(estimate_airlight(small, dark_channel(small)))]
    if method == "dcp":
        transmission = refine_transmission(small, estimate_transmission(small, airlights[0]))
        return recovery_map(transmission, airlights[0], small.device)
    output = dehaze_gan_batch([to_array(small)], generator, airlights)[0].image
    return affine_coefficients(small, to_tensor(output, small.device), FIT_RADIUS, FIT_EPS)


def apply_map(full: torch.Tensor, a: torch.Tensor, b: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """`working_map`'s (a, b) on the (3, H, W) full-size image, with `strength` of its dehazing, as `dehaze` applies it."""
    dehazed = apply_affine_map(full, a, b, strength)
    if is_grayscale(full):  # as in lift_result
        dehazed = dehazed.mean(0, keepdim=True).expand_as(dehazed)
    return dehazed
