"""Honest training targets: where haze has erased the scene, the target keeps the haze.

In a synthetic pair the far scene behind dense haze keeps a faint trace of the clear
photo (t |J - A| of a few thousandths), and the clear photo asks the generator to
amplify that trace 10-20x into a blue sky. In real fog there is no such trace: the
tint is sensor noise, JPEG chroma or the fog's own colour, and amplifying it paints
sky patches and blotches. So the target removes haze only as far as what is left of
the scene stands above the camera's noise; the transmission a generator should learn
then depends on that margin, not on depth alone.

The sky is never recoverable: in haze it is the airlight itself, light scattered by
the haze, with no scene behind it. Asked for the clear photo's blue sky and clouds
there, a generator learns to deepen whatever texture a real hazy sky has into dark
violet clouds (as the first scattering generator did on real photos); so the
target keeps a hazy sky as the haze shows it.
"""

import torch
import torch.nn.functional as F

from ..gan import linear_to_srgb, srgb_to_linear

NOISE_FLOOR = 2.0 / 255  # 8-bit rounding and the faintest camera noise: no photo is cleaner than this
SIGNAL_WINDOW = 5  # the scene's trace is averaged over 5 x 5 pixels, about the finest detail a smooth t can recover
# A 5 x 5 mean carries less of the camera's error than one pixel: measured on training samples
# (noise and JPEG together), 2.6x less for the patchy synthesizer's, 3.4x for haze.py's
# (medians); JPEG's error, correlated within its blocks, falls less than white noise's 5x.
# 2 is the 10th percentile: the trace is compared with the noise its own averaging leaves.
WINDOW_NOISE_FALL = 2.0


def recoverable_share(clean_hazy: torch.Tensor, airlight: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Per pixel, 0 where the scene's trace |I - A| is within the noise, 1 where it stands 3x above it.

    (B, 3, H, W) haze before the camera, (B, 3) airlight, (B,) noise standard deviation of
    one pixel; returns (B, 1, H, W). The trace is the largest channel's, in sRGB values as
    the noise is, averaged over a window and so compared with the noise of such a mean.
    Compared with one pixel's noise, as first written, the targets kept more than half of
    dense haze (mean t 0.46 where the haze's was 0.21) and the generator learned to.
    """
    trace = (clean_hazy - airlight[:, :, None, None]).abs().amax(dim=1, keepdim=True)
    trace = F.avg_pool2d(trace, SIGNAL_WINDOW, stride=1, padding=SIGNAL_WINDOW // 2, count_include_pad=False)
    window_noise = noise.clamp(min=NOISE_FLOOR) / WINDOW_NOISE_FALL
    margin = trace / window_noise[:, None, None, None]
    return ((margin - 1.0) / 2.0).clamp(0.0, 1.0)


def honest_target(clear, clean_hazy, transmission, airlight, noise, sky=None):
    """(scene, transmission, share) to train towards: the clear photo where the haze left it recoverable, the haze where not.

    With the recoverable share w, the target's transmission is t / (w + (1 - w) t): t where
    w is 1, 1 (nothing removed) where w is 0. In linear light the target scene is then
    A + (w + (1 - w) t) (J - A): the clear photo J, or the haze I = A + t (J - A) itself.
    `sky` (B, 1, H, W), 1 on the clear photo's sky, sets w to 0 there. The share w is returned
    too: where it is 0 the scene's trace is lost, so the transmission there is not known
    (a grey wall under grey haze looks the same through any t) and should not be taught.
    """
    share = recoverable_share(clean_hazy, airlight, noise)
    if sky is not None:
        share = share * (1.0 - sky)
    kept = share + (1.0 - share) * transmission
    linear_airlight = srgb_to_linear(airlight)[:, :, None, None]
    scene = linear_to_srgb(linear_airlight + kept * (srgb_to_linear(clear) - linear_airlight))
    return scene, transmission / kept, share


TRANSMISSION_CELL = 4  # px; each of the generator's t values covers 8 x 8 px before the guided lift sharpens it


def best_transmission(hazy, scene, airlight, transmission, within, cell=TRANSMISSION_CELL):
    """(B, 1, H, W): per `cell` x `cell` block, the t that composes `scene` from `hazy` best at this airlight.

    The least-squares fit of J - A = (I - A) / t in linear light over the block's pixels
    and channels, kept within a factor `within` of the haze's true `transmission`. The
    true t composes the scene only at the true airlight; at the generator's own, which the
    Dark Channel Prior sets 3-10% off the haze's, a t that makes up for the difference is
    worth more: fitted to the clear photo, it reached DCP + 2.7 dB at mean t 0.24 on the
    held-out haze's recoverable pixels where the true t at the same airlight reached + 1.8
    (model card, session 19). Unbounded, the fit is ruled by the airlight's error wherever
    the hazy image lies near the airlight (bright haze, cloudy sky): a generator taught it
    darkened a cloudy sky into a storm (-9 dB on one photo of light haze) and drew a real
    fog's mist out past tenfold (session 20).
    """
    airlight = srgb_to_linear(airlight)[:, :, None, None]
    trace, wanted = srgb_to_linear(hazy) - airlight, srgb_to_linear(scene) - airlight
    covariance = F.avg_pool2d((trace * wanted).sum(dim=1, keepdim=True), cell)
    variance = F.avg_pool2d((trace * trace).sum(dim=1, keepdim=True), cell).clamp(min=1e-8)
    gain = (covariance / variance).clamp(min=1e-3)
    best = F.interpolate(1.0 / gain, size=hazy.shape[-2:], mode="nearest")
    return best.clamp(min=transmission / within, max=(transmission * within).clamp(max=1.0))
