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


def image_statistics(images: torch.Tensor, max_pixels: int = 1 << 16) -> torch.Tensor:
    """Each channel's mean, standard deviation and 1st, 50th and 99th percentiles: (B, 5 C)."""
    flat = images.flatten(2)
    flat = flat[:, :, :: max(1, flat.shape[2] // max_pixels)]  # quantiles of a strided sample, at any size
    quantiles = torch.quantile(flat, torch.tensor([0.01, 0.5, 0.99], device=images.device, dtype=images.dtype), dim=2)
    return torch.cat([flat.mean(2), flat.std(2), *quantiles], dim=1)


class GlobalCalibration(nn.Module):
    """A per-channel gain and offset for the whole output, predicted from whole-image statistics.

    Measured on the validation photos, the generator's dense-haze output had the right
    structure but the wrong global levels: a per-channel affine map fitted to the clear
    photo (6 numbers per image) took its dense-haze PSNR from 16.4 to 23.5 dB. The
    levels depend on the airlight and the density of the haze, which a convolution sees
    only locally, and the generator learned one average brightening of DCP's estimate
    (too bright by 0.15 where the airlight is above 0.85). This head reads the input's,
    DCP's and the output's intensity statistics and the mean bottleneck features, and
    corrects the levels. Its last layer starts at zero, so it starts as the identity,
    and it can be fitted on its own with the generator frozen (`dehaze.calibrate`).
    """

    def __init__(self, channels: int, features: int, hidden: int = 64):
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(features))
        self.register_buffer("feature_scale", torch.ones(features))
        self.mlp = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(True), nn.Linear(hidden, 2 * channels))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def gain_and_offset(self, features):
        """(B, channels) each: the map y -> gain y + offset, in the generator's [-1, 1] range."""
        gain, offset = self.mlp((features - self.feature_mean) / self.feature_scale).chunk(2, dim=1)
        return 1 + gain, offset

    def forward(self, features, output):
        gain, offset = self.gain_and_offset(features)
        return gain[:, :, None, None] * output + offset[:, :, None, None]


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
    features instead (see `GlobalContext`); with `calibration` the output's levels are
    corrected from whole-image statistics (see `GlobalCalibration`). Input height and
    width must be multiples of 4.
    """

    def __init__(self, channels: int = 3, ngf: int = 64, n_blocks: int = 9, in_channels: int = 3,
                 global_context: bool = False, calibration: bool = False):
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
        self.bottleneck_end = len(layers)
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
        self.calibration = None
        if calibration:
            self.calibration = GlobalCalibration(channels, self.calibration_features(ngf))

    def calibration_features(self, ngf: int) -> int:
        return ngf * 4 + 5 * (self.in_channels + self.channels)

    def forward(self, x):
        if self.calibration is None:
            return torch.clamp(x[:, -self.channels :] + self.model(x), -1.0, 1.0)
        output, features = self.forward_with_features(x)
        return torch.clamp(self.calibration(features, output), -1.0, 1.0)

    def forward_with_features(self, x):
        """The uncalibrated output and what `GlobalCalibration` reads: mean bottleneck features, statistics."""
        bottleneck = self.model[: self.bottleneck_end](x)
        output = torch.clamp(x[:, -self.channels :] + self.model[self.bottleneck_end :](bottleneck), -1.0, 1.0)
        features = torch.cat([bottleneck.mean(dim=(2, 3)), image_statistics(x), image_statistics(output)], dim=1)
        return output, features


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
