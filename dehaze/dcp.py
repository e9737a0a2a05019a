"""Dark Channel Prior dehazing (He, Sun and Tang, CVPR 2009 / TPAMI 2011).

In most haze-free outdoor patches some pixel is dark in some channel, so the
dark channel of a hazy image measures the haze: t = 1 - omega * dark(I / A).
The blocky raw transmission is refined with a (fast) guided filter.

Images here are (3, H, W) torch tensors on any device; `dehaze_dcp` also takes
and returns numpy arrays (H, W, 3), as every method does.
"""

import torch
import torch.nn.functional as F

from .guided_filter import affine_coefficients, guided_filter, to_array, to_tensor, window_reduce
from .scattering import MIN_TRANSMISSION, DehazeResult

PATCH_SIZE = 15
OMEGA = 0.95
BRIGHTEST_FRACTION = 0.001
AIRLIGHT_TIE = 2 / 255  # dark channels this far below the brightest fraction's threshold still count a little
AIRLIGHT_SOFTNESS = 0.005  # brightness scale on which brighter candidates weigh more...
AIRLIGHT_PREFERENCE = 5.0  # ...up to exp(5) = 148 times a candidate of the mean brightness
GUIDED_EPS = 1e-3
FAST_GUIDED_SCALE = 4
GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def min_filter(image: torch.Tensor, size: int) -> torch.Tensor:
    """Minimum over size x size windows of the last two axes, edges padded by replication."""
    half = size // 2
    padded = F.pad(image[None], (half, half, half, half), mode="replicate")[0]
    return window_reduce(window_reduce(padded, size, -1, torch.minimum), size, -2, torch.minimum)


def dark_channel(image: torch.Tensor, patch_size: int = PATCH_SIZE) -> torch.Tensor:
    """min over a patch of min over colour channels, for a (3, H, W) image."""
    return min_filter(image.amin(dim=0), patch_size)


def estimate_airlight(image: torch.Tensor, dark: torch.Tensor, fraction: float = BRIGHTEST_FRACTION) -> torch.Tensor:
    """The haze's colour: the input colours of the `fraction` of pixels with the highest dark channel, the brighter
    weighing more.

    He et al. take the single brightest of those candidates. Which one that is hinges on noise
    the eye cannot see: candidates of almost equal brightness differ in colour, and pixels at
    the fraction's edge come and go. Noise of sigma 1e-4 moved half of an example photo's DCP
    output by more than 0.02, and the former GAN's scattering bounds magnify a change of the airlight
    up to 99 times. So every candidate counts here, weighted smoothly:

    - by how far its dark channel clears a level AIRLIGHT_TIE below the fraction's threshold
      (one that far below weighs nothing). 8-bit dark channels come in steps of 1/255 and
      tie over whole flat regions; the noise must not choose which of the tied pixels count;
    - by its brightness, exp((b - mean) / AIRLIGHT_SOFTNESS), but at most AIRLIGHT_PREFERENCE
      times the candidates' mean. Without that bound (the version before), a bright pixel
      just at the fraction's edge outweighed all the rest, and invisible noise still moved
      the output of 3 of 62 real photos by up to 0.14 (and of 3 of 56 validation images).

    Validation photos, DCP: 16.33 dB (light 17.11, dense 15.56); the version before 16.32
    (16.99 / 15.64). Held-out synthesizer: 15.90 (17.15 / 14.65); before 15.81 (17.08 / 14.54).
    """
    count = min(max(1, int(dark.numel() * fraction)), dark.numel() - 1)
    threshold = dark.flatten().topk(count + 1).values[-1]
    weights = (dark.flatten() - threshold + AIRLIGHT_TIE).clamp(min=0.0)
    candidates = weights > 0
    colours, weights = image.flatten(1)[:, candidates], weights[candidates]
    brightness = colours.mean(dim=0)
    mean = (weights * brightness).sum() / weights.sum()
    weights = weights * torch.exp(((brightness - mean) / AIRLIGHT_SOFTNESS).clamp(max=AIRLIGHT_PREFERENCE))
    return colours @ weights / weights.sum()


def estimate_transmission(image: torch.Tensor, airlight: torch.Tensor, omega: float = OMEGA,
                          patch_size: int = PATCH_SIZE) -> torch.Tensor:
    """Raw (unrefined) transmission 1 - omega * dark(I / A)."""
    normalized = image / airlight.clamp(min=1e-6)[:, None, None]
    return 1.0 - omega * dark_channel(normalized, patch_size)


def refine_transmission(image: torch.Tensor, transmission: torch.Tensor, radius=None, eps: float = GUIDED_EPS):
    """Guided-filter refinement with the grayscale input as guide; radius defaults to 1/10 of the short side.

    As in He and Sun's fast guided filter (2015), the local coefficients (a, b) are fitted
    on a copy FAST_GUIDED_SCALE times smaller and upsampled; only q = a I + b runs at full
    size. They are box means over a tenth of the image, so nothing of them is lost, and
    the full-size filter's window sums were half of DCP's time.
    """
    if radius is None:
        radius = max(4, min(image.shape[-2:]) // 10)
    gray = torch.tensordot(image.new_tensor(GRAY_WEIGHTS), image, dims=1)
    if radius < 4 * FAST_GUIDED_SCALE:
        return guided_filter(gray, transmission, radius, eps).clamp(0.0, 1.0)
    small_gray, small_transmission = F.avg_pool2d(torch.stack([gray, transmission])[None], FAST_GUIDED_SCALE,
                                                  ceil_mode=True)[0]
    a, b = affine_coefficients(small_gray, small_transmission, radius // FAST_GUIDED_SCALE, eps)
    a, b = F.interpolate(torch.stack([a, b])[None], size=gray.shape, mode="bilinear", align_corners=False)[0]
    return (a * gray + b).clamp(0.0, 1.0)


def dehaze_dcp(image, omega: float = OMEGA, patch_size: int = PATCH_SIZE, min_transmission: float = MIN_TRANSMISSION,
               airlight=None):
    """Dehaze an (H, W, 3) float array in [0, 1] (or a (3, H, W) tensor, answered in tensors).

    Returns the image, refined transmission and airlight. Arrays are processed on
    `default_device()`, tensors where they are. A given `airlight` (three values; a
    video's, averaged over its frames) is used instead of the image's own estimate.
    """
    tensor = image if isinstance(image, torch.Tensor) else to_tensor(image)
    if airlight is None:
        airlight = estimate_airlight(tensor, dark_channel(tensor, patch_size))
    airlight = torch.as_tensor(airlight, dtype=tensor.dtype, device=tensor.device)
    transmission = refine_transmission(tensor, estimate_transmission(tensor, airlight, omega, patch_size))
    colour = airlight[:, None, None]
    recovered = ((tensor - colour) / transmission.clamp(min=min_transmission) + colour).clamp(0.0, 1.0)
    if isinstance(image, torch.Tensor):
        return DehazeResult(recovered, transmission, airlight)
    return DehazeResult(to_array(recovered), transmission.cpu().numpy(), airlight.cpu().numpy())
