"""Training losses: content (perceptual VGG19 conv3_3, or pixel + SSIM) and WGAN-GP.

The perceptual loss needs ImageNet VGG19 weights, which cannot be downloaded
offline. They are looked for at $DEHAZE_VGG19_WEIGHTS, then in torch's hub cache
(`vgg19-dcbb9e9d.pth`, as torchvision saves it). Without them the content loss
is L1 + 0.5 * (1 - SSIM) on pixels, which optimizes the metrics we report.
"""

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .metrics import ssim_torch

GRADIENT_PENALTY_WEIGHT = 10.0
VGG19_FILE = "vgg19-dcbb9e9d.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def find_vgg19_weights():
    candidates = [os.environ.get("DEHAZE_VGG19_WEIGHTS"), Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


class PerceptualLoss(nn.Module):
    """MSE between VGG19 conv3_3 features (before ReLU) of images in [0, 1], as in DeblurGAN."""

    def __init__(self, weights_path):
        super().__init__()
        from torchvision.models import vgg19

        vgg = vgg19()
        vgg.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
        self.features = vgg.features[:15].eval().requires_grad_(False)  # up to conv3_3
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, prediction, target):
        normalize = lambda x: (x - self.mean) / self.std
        return F.mse_loss(self.features(normalize(prediction)), self.features(normalize(target)))


class PixelSSIMLoss(nn.Module):
    """L1 + 0.5 * (1 - SSIM) of images in [0, 1]."""

    def forward(self, prediction, target):
        return F.l1_loss(prediction, target) + 0.5 * (1.0 - ssim_torch(prediction, target))


def content_loss() -> nn.Module:
    """The perceptual loss when VGG19 ImageNet weights are on disk, else pixel + SSIM."""
    weights = find_vgg19_weights()
    return PerceptualLoss(weights) if weights else PixelSSIMLoss()


def gradient_penalty(critic, hazy, real, fake, weight: float = GRADIENT_PENALTY_WEIGHT):
    """WGAN-GP (Gulrajani et al. 2017): weight * E[(||grad critic(x_hat)||_2 - 1)^2].

    x_hat mixes each real/fake pair with its own epsilon; the norm is taken per
    sample over all of its pixels. A patch critic's score of a sample is the mean
    of its patch scores.
    """
    epsilon = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (epsilon * real + (1 - epsilon) * fake.detach()).requires_grad_(True)
    scores = critic(hazy, mixed).flatten(1).mean(1)
    (gradients,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = gradients.flatten(1).norm(2, dim=1)
    return weight * ((norms - 1) ** 2).mean()


def critic_loss(critic, hazy, real, fake):
    """Wasserstein critic loss with gradient penalty; the critic learns to score real above fake."""
    fake = fake.detach()
    return critic(hazy, fake).mean() - critic(hazy, real).mean() + gradient_penalty(critic, hazy, real, fake)


def generator_adversarial_loss(critic, hazy, fake):
    return -critic(hazy, fake).mean()
