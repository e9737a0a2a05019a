"""MSCNN: single image dehazing via multi-scale CNNs (Ren et al., ECCV 2016).

A coarse-scale net predicts a holistic transmission map; a fine-scale net
refines it, taking the coarse map as an extra channel after its first layer.
Every convolution is followed by ReLU, 2x2 max pooling and upsampling back to
the input size; a linear combination (1x1 conv) and a sigmoid give t in (0, 1).
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .scattering import DehazeResult, recover_scene

DARKEST_FRACTION = 0.001


class ScaleLayer(nn.Module):
    """conv - ReLU - 2x2 max pool - upsample to the input size."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x):
        pooled = F.max_pool2d(F.relu(self.conv(x)), 2, ceil_mode=True)
        return F.interpolate(pooled, size=x.shape[-2:], mode="nearest")


class MSCNN(nn.Module):
    """Coarse net (11/9/7 kernels, 5/5/10 maps) and fine net (7/5/3 kernels, 4(+1)/5/10 maps)."""

    def __init__(self):
        super().__init__()
        self.coarse = nn.Sequential(ScaleLayer(3, 5, 11), ScaleLayer(5, 5, 9), ScaleLayer(5, 10, 7))
        self.coarse_head = nn.Conv2d(10, 1, 1)
        self.fine_first = ScaleLayer(3, 4, 7)
        self.fine_rest = nn.Sequential(ScaleLayer(5, 5, 5), ScaleLayer(5, 10, 3))
        self.fine_head = nn.Conv2d(10, 1, 1)

    def forward(self, hazy):
        """Returns (fine, coarse) transmission maps, each (B, 1, H, W)."""
        coarse = torch.sigmoid(self.coarse_head(self.coarse(hazy)))
        fine = self.fine_rest(torch.cat([self.fine_first(hazy), coarse], dim=1))
        return torch.sigmoid(self.fine_head(fine)), coarse


def estimate_airlight_from_transmission(image: np.ndarray, transmission: np.ndarray, fraction=DARKEST_FRACTION):
    """As in MSCNN: among the `fraction` of pixels with the lowest transmission, the brightest colour."""
    count = max(1, int(transmission.size * fraction))
    candidates = np.argpartition(transmission.ravel(), count - 1)[:count]
    colours = image.reshape(-1, 3)[candidates]
    return colours[colours.sum(axis=1).argmax()].astype(np.float32)


def dehaze_mscnn(image: np.ndarray, model: MSCNN) -> DehazeResult:
    """Dehaze an (H, W, 3) float image in [0, 1] with a trained MSCNN."""
    return dehaze_mscnn_batch([image], model)[0]


def dehaze_mscnn_batch(images: list, model: MSCNN) -> list:
    """`dehaze_mscnn` for (H, W, 3) images of one size, in one pass of the network."""
    device = next(model.parameters()).device
    with torch.no_grad():
        batch = torch.from_numpy(np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))).to(device)
        transmissions = model(batch)[0][:, 0].float().cpu().numpy()
    airlights = [estimate_airlight_from_transmission(i, t) for i, t in zip(images, transmissions)]
    return [DehazeResult(recover_scene(i, t, a), t, a) for i, t, a in zip(images, transmissions, airlights)]
