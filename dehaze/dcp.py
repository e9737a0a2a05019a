"""Dark Channel Prior dehazing (He, Sun and Tang, CVPR 2009 / TPAMI 2011).

In most haze-free outdoor patches some pixel is dark in some channel, so the
dark channel of a hazy image measures the haze: t = 1 - omega * dark(I / A).
The blocky raw transmission is refined with a guided filter.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .guided_filter import guided_filter
from .scattering import DehazeResult, recover_scene

PATCH_SIZE = 15
OMEGA = 0.95
BRIGHTEST_FRACTION = 0.001
GUIDED_EPS = 1e-3


def min_filter(image: np.ndarray, size: int) -> np.ndarray:
    """Separable minimum over size x size windows, edges padded by replication."""
    half = size // 2
    padded = np.pad(image, half, mode="edge")
    rows = sliding_window_view(padded, size, axis=0).min(axis=-1)
    return sliding_window_view(rows, size, axis=1).min(axis=-1)


def dark_channel(image: np.ndarray, patch_size: int = PATCH_SIZE) -> np.ndarray:
    """min over a patch of min over colour channels, for an (H, W, 3) image."""
    return min_filter(image.min(axis=2), patch_size)


def estimate_airlight(image: np.ndarray, dark: np.ndarray, fraction: float = BRIGHTEST_FRACTION) -> np.ndarray:
    """Among the brightest `fraction` of dark-channel pixels, the colour of the brightest input pixel."""
    count = max(1, int(dark.size * fraction))
    candidates = np.argpartition(dark.ravel(), -count)[-count:]
    colours = image.reshape(-1, 3)[candidates]
    return colours[colours.sum(axis=1).argmax()].astype(np.float32)


def estimate_transmission(image: np.ndarray, airlight: np.ndarray, omega: float = OMEGA, patch_size: int = PATCH_SIZE):
    """Raw (unrefined) transmission 1 - omega * dark(I / A)."""
    normalized = image / np.maximum(airlight, 1e-6)
    return (1.0 - omega * dark_channel(normalized, patch_size)).astype(np.float32)


def refine_transmission(image: np.ndarray, transmission: np.ndarray, radius=None, eps: float = GUIDED_EPS):
    """Guided-filter refinement with the grayscale input as guide; radius defaults to 1/10 of the short side."""
    if radius is None:
        radius = max(4, min(image.shape[:2]) // 10)
    gray = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(guided_filter(gray, transmission, radius, eps), 0.0, 1.0)


def dehaze_dcp(image: np.ndarray, omega: float = OMEGA, patch_size: int = PATCH_SIZE, min_transmission: float = 0.1):
    """Dehaze an (H, W, 3) float image in [0, 1]; returns the image, refined transmission and airlight."""
    airlight = estimate_airlight(image, dark_channel(image, patch_size))
    raw = estimate_transmission(image, airlight, omega, patch_size)
    transmission = refine_transmission(image, raw)
    recovered = recover_scene(image, transmission, airlight, min_transmission)
    return DehazeResult(recovered, transmission, airlight)
