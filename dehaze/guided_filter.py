"""The guided filter (He, Sun and Tang, 2010), vectorized with summed-area tables.

The filter models the output as a local affine function of the guide,
q = a * I + b in every window. `affine_coefficients` exposes (a, b) so the same
model can lift a result computed at low resolution back to full resolution.
"""

import numpy as np

from .image_io import resize


def box_filter(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)x(2r+1) window, windows clipped at the border. O(1) per pixel.

    The running sums are accumulated in float64: in float32 they lose the low digits of
    window means towards the bottom right of large images, and variances turn negative.
    """
    height, width = image.shape[:2]
    padded = np.zeros((height + 1, width + 1) + image.shape[2:], dtype=np.float64)
    padded[1:, 1:] = image.cumsum(0, dtype=np.float64).cumsum(1)
    rows, cols = np.arange(height), np.arange(width)
    top, bottom = np.clip(rows - radius, 0, height), np.clip(rows + radius + 1, 0, height)
    left, right = np.clip(cols - radius, 0, width), np.clip(cols + radius + 1, 0, width)
    total = (
        padded[bottom][:, right] - padded[top][:, right] - padded[bottom][:, left] + padded[top][:, left]
    )
    count = np.outer(bottom - top, right - left)
    if image.ndim == 3:
        count = count[:, :, None]
    return (total / count).astype(np.float32)


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int = 40, eps: float = 1e-3) -> np.ndarray:
    """Edge-preserving smoothing of a single-channel `source` steered by a gray `guide`."""
    a, b = affine_coefficients(guide, source, radius, eps)
    return a * guide + b


def affine_coefficients(guide: np.ndarray, source: np.ndarray, radius: int, eps: float):
    """Window-averaged (a, b) of the local model source ~ a * guide + b (all arrays (H, W) or (H, W, C))."""
    mean_guide = box_filter(guide, radius)
    mean_source = box_filter(source, radius)
    covariance = box_filter(guide * source, radius) - mean_guide * mean_source
    variance = box_filter(guide * guide, radius) - mean_guide * mean_guide
    a = covariance / (variance + eps)
    b = mean_source - a * mean_guide
    return box_filter(a, radius), box_filter(b, radius)


def lift_to_full_resolution(
    full_input: np.ndarray, small_input: np.ndarray, small_output: np.ndarray, radius: int = 4, eps: float = 1e-4
) -> np.ndarray:
    """Apply to `full_input` the per-channel local affine map that takes `small_input` to `small_output`.

    Dehazing is locally affine in the hazy image (J = I / t - A (1 - t) / t), so fitting
    that map at the working size and upsampling its coefficients keeps full-resolution
    detail at the cost of a low-resolution network pass.
    """
    a, b = affine_coefficients(small_input, small_output, radius, eps)
    height, width = full_input.shape[:2]
    a_full, b_full = resize_unclipped(a, width, height), resize_unclipped(b, width, height)
    return np.clip(a_full * full_input + b_full, 0.0, 1.0).astype(np.float32)


def resize_unclipped(coefficients: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize coefficient maps, which unlike images are not bounded to [0, 1]."""
    low, high = coefficients.min(), coefficients.max()
    span = max(high - low, 1e-12)
    return resize((coefficients - low) / span, width, height) * span + low
