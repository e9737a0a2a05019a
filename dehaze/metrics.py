"""Image quality metrics: PSNR and SSIM (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5).

SSIM is written in torch so the training loss and the evaluation share one definition.
"""

import numpy as np
import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def psnr(prediction: np.ndarray, target: np.ndarray, mask=None) -> float:
    """Peak signal-to-noise ratio in dB of two float images in [0, 1]; with an (H, W) bool `mask`, over its pixels only
    (NaN where it holds none)."""
    squared = (np.asarray(prediction, np.float64) - np.asarray(target, np.float64)) ** 2
    if mask is not None:
        mask = np.asarray(mask, bool)
        if not mask.any():
            return float("nan")
        squared = squared[mask]
    mse = float(np.mean(squared))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def ssim(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean structural similarity of two (H, W, 3) float images in [0, 1]."""
    to_tensor = lambda image: torch.from_numpy(np.ascontiguousarray(image, np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        return float(ssim_torch(to_tensor(prediction), to_tensor(target)))


def gaussian_window(channels: int, size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    kernel_1d = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel_1d /= kernel_1d.sum()
    return torch.outer(kernel_1d, kernel_1d).expand(channels, 1, size, size).contiguous()


def ssim_torch(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of (B, C, H, W) tensors in [0, 1], differentiable."""
    channels = prediction.shape[1]
    window = gaussian_window(channels).to(prediction)
    blur = lambda x: F.conv2d(x, window, groups=channels)
    mu_p, mu_t = blur(prediction), blur(target)
    var_p = blur(prediction * prediction) - mu_p**2
    var_t = blur(target * target) - mu_t**2
    covariance = blur(prediction * target) - mu_p * mu_t
    numerator = (2 * mu_p * mu_t + SSIM_C1) * (2 * covariance + SSIM_C2)
    denominator = (mu_p**2 + mu_t**2 + SSIM_C1) * (var_p + var_t + SSIM_C2)
    return (numerator / denominator).mean()


def score(prediction: np.ndarray, target: np.ndarray) -> dict:
    """PSNR and SSIM of a prediction against its ground truth (same shape)."""
    if prediction.shape != target.shape:
        raise ValueError(f"ground truth is {target.shape[1]}x{target.shape[0]} but the image is "
                         f"{prediction.shape[1]}x{prediction.shape[0]}")
    return {"psnr": psnr(prediction, target), "ssim": ssim(prediction, target)}
