"""The conditional GAN: a DeblurGAN-style ResNet generator and a PatchGAN critic.

Follows the ResNet generator and PatchGAN discriminator of pix2pix/CycleGAN
(Isola et al. 2017, Zhu et al. 2017) as used by DeblurGAN (Kupyn et al. 2018):
the generator predicts a residual that a global skip adds to its input, and the
critic scores overlapping patches of (hazy, candidate) pairs.
"""

import torch
import torch.nn as nn


class GlobalContext(nn.Module):
    """Per-channel scale and shift computed from the whole image's mean features (FiLM).

    How much haze to remove depends on the airlight and the haze's density, which are
    properties of the whole scene; nine ResBlocks at quarter resolution see about 170 px
    around a pixel. Measured on the validation photos, the generator's errors in dense
    haze were almost all low-frequency (a global brightness bias of up to 0.3), the kind
    of error a view of the whole image can correct. Like FFA-Net's channel attention,
    but additive around 1 and starting at the identity, so trained weights without it
    keep their behaviour when it is added.
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(True),
            nn.Linear(channels // reduction, 2 * channels),
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, x):
        scale, shift = self.mlp(x.mean(dim=(2, 3))).chunk(2, dim=1)
        return x * (1 + scale[:, :, None, None]) + shift[:, :, None, None]


class ResnetBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 [- global context], added to the input."""

    def __init__(self, channels: int, global_context: bool = False):
        super().__init__()
        layers = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, kernel_size=3),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, kernel_size=3),
        ]
        self.block = nn.Sequential(*layers, *([GlobalContext(channels)] if global_context else []))

    def forward(self, x):
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """7x7 stem, 2 stride-2 encoders, n ResnetBlocks, 2 decoders, 7x7 head with tanh, global skip.

    Works in [-1, 1]: output = clamp(base + tanh(net(input)), -1, 1), where base is the
    input's last `channels` channels. With in_channels=6 the input is a hazy image
    followed by a physical estimate of the clear scene (DCP's), which the network
    corrects; with in_channels=3 it is the hazy image alone. The head starts at zero,
    so an untrained generator returns its base and training learns only corrections.

    Unlike DeblurGAN it has no normalization layers. Instance norm cancels any affine change
    of the input's intensities, and haze of uniform density is one (I = t J + A (1 - t)):
    an instance-normalized generator gets the same features for every haze density.
    With `global_context` each ResBlock's residual is modulated by the whole image's
    features instead (see `GlobalContext`). Input height and width must be multiples of 4.
    """

    def __init__(self, channels: int = 3, ngf: int = 64, n_blocks: int = 9, in_channels: int = 3,
                 global_context: bool = False):
        super().__init__()
        self.channels, self.in_channels = channels, in_channels
        layers = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, kernel_size=7),
            nn.ReLU(True),
        ]
        for i in range(2):  # encoders
            width = ngf * 2**i
            layers += [
                nn.Conv2d(width, width * 2, kernel_size=3, stride=2, padding=1),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, global_context) for _ in range(n_blocks)]
        for i in range(2):  # decoders
            width = ngf * 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(width, width // 2, kernel_size=3, stride=2, padding=1, output_padding=1),
                nn.ReLU(True),
            ]
        head = nn.Conv2d(ngf, channels, kernel_size=7)
        nn.init.zeros_(head.weight)  # the residual starts at zero: an untrained generator returns its base
        nn.init.zeros_(head.bias)
        layers += [nn.ReflectionPad2d(3), head, nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return torch.clamp(x[:, -self.channels :] + self.model(x), -1.0, 1.0)


class PatchCritic(nn.Module):
    """PatchGAN critic (70x70 receptive field for n_layers=3) with no sigmoid, for WGAN-GP.

    Takes the hazy image and a candidate clear image concatenated on channels. Uses
    instance norm, not batch norm, so the gradient penalty stays per-sample.
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers = [nn.Conv2d(in_channels, ndf, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n in range(1, n_layers + 1):
            next_width = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(width, next_width, kernel_size=4, stride=stride, padding=1),
                nn.InstanceNorm2d(next_width, affine=True),
                nn.LeakyReLU(0.2, True),
            ]
            width = next_width
        layers += [nn.Conv2d(width, 1, kernel_size=4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, hazy, candidate):
        return self.model(torch.cat([hazy, candidate], dim=1))
