"""The conditional GAN: DeblurGAN-style ResNet generators and a PatchGAN critic.

Follows the ResNet generator and PatchGAN discriminator of pix2pix/CycleGAN
(Isola et al. 2017, Zhu et al. 2017) as used by DeblurGAN (Kupyn et al. 2018).
Two generators share that trunk:

- `ScatteringGenerator` predicts what the atmospheric scattering model needs, a
  smooth transmission map and the airlight, and composes the clear scene from them
  (as DCPDN, Zhang and Patel 2018, puts the model inside a GAN). It can deepen
  contrast the input has; it cannot paint a shape into flat fog.
- `ResnetGenerator` predicts free pixels: a residual that a global skip adds to its
  input. On real fog it painted skies, clouds and blotches (see the model card).

The critic scores overlapping patches of (hazy, candidate) pairs.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .guided_filter import affine_coefficients


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


def srgb_to_linear(image: torch.Tensor) -> torch.Tensor:
    """sRGB values in [0, 1] to linear light, differentiable (torch's twin of `scattering.srgb_to_linear`)."""
    return torch.where(image <= 0.04045, image / 12.92, ((image.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(image: torch.Tensor) -> torch.Tensor:
    """Linear light to sRGB values in [0, 1], differentiable; the slope at 0 stays finite."""
    image = image.clamp(0.0, 1.0)
    return torch.where(image <= 0.0031308, image * 12.92, 1.055 * image.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def compose_scene(hazy: torch.Tensor, transmission: torch.Tensor, airlight: torch.Tensor) -> torch.Tensor:
    """J = (I - A) / t + A in linear light, as haze mixes light; (B, 3, H, W) sRGB in and out, airlight (B, 3)."""
    airlight = srgb_to_linear(airlight)[:, :, None, None]
    return linear_to_srgb((srgb_to_linear(hazy) - airlight) / transmission + airlight)


def dark_channel_prior(image: torch.Tensor, patch: int, bright_share: float):
    """(transmission, airlight) of the Dark Channel Prior on a (B, 3, H, W) sRGB batch, a starting point to correct.

    The prior is taken in linear light, where the scattering model that `compose_scene`
    inverts holds: t from sRGB values removed far too much haze there (an untrained
    generator scored 8.7 dB on a hazy image of 11.3). The airlight (sRGB) is the mean
    colour of the brightest `bright_share` of the dark channel, each averaged over its
    patch: He et al.'s single brightest pixel made the estimate jump with invisible noise,
    and even single pixels chosen by the dark channel lean towards their noise's colour,
    which dividing by a small t turns into a tinted sky.
    """
    linear = srgb_to_linear(image)
    dark = -F.max_pool2d(-linear.amin(dim=1, keepdim=True), patch, stride=1, padding=patch // 2)
    count = max(1, int(dark[0].numel() * bright_share))
    brightest = dark.flatten(1).topk(count, dim=1).indices
    airlight = torch.gather(patch_mean(linear, patch).flatten(2), 2, brightest[:, None].expand(-1, 3, -1)).mean(dim=2)
    normalized = linear / airlight.clamp(min=0.01)[:, :, None, None]
    dark_normalized = -F.max_pool2d(-normalized.amin(dim=1, keepdim=True), patch, stride=1, padding=patch // 2)
    return (1.0 - 0.95 * dark_normalized).clamp(0.0, 1.0), linear_to_srgb(airlight)


def patch_mean(image: torch.Tensor, patch: int) -> torch.Tensor:
    """Mean of each pixel's `patch` x `patch` neighbourhood, the same size as the image."""
    return F.avg_pool2d(image, patch, stride=1, padding=patch // 2, count_include_pad=False)


def airlight_ceiling(image: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, 3) linear light: the brightest the (B, 3, H, W) sRGB image gets, averaged over a patch as the prior's airlight.

    Where haze is dense the haziest region shows the airlight itself, so an airlight above
    it asks I - A to be negative over the fog, and dividing that by a small t turns fog dark.
    It is never below `dark_channel_prior`'s airlight of the same patch.
    """
    return patch_mean(srgb_to_linear(image), patch).amax(dim=(2, 3))


def guided_upsample(low: torch.Tensor, guide: torch.Tensor, radius: int = 4, eps: float = 1e-3) -> torch.Tensor:
    """Bring a (B, 1, h, w) map to the (B, 1, H, W) guide's size with edges where the guide has them.

    He and Sun's fast guided filter: the local affine coefficients of map ~ guide are
    fitted at the map's size and upsampled; only q = a guide + b runs at full size. A
    transmission map predicted at a quarter of the size so keeps depth edges sharp
    instead of leaving halos around objects against the sky.
    """
    small_guide = F.interpolate(guide, size=low.shape[-2:], mode="area")
    a, b = affine_coefficients(small_guide, low, radius, eps)
    a, b = F.interpolate(torch.cat([a, b], dim=1), size=guide.shape[-2:], mode="bilinear", align_corners=False).chunk(2, 1)
    return a * guide + b


class ScatteringGenerator(nn.Module):
    """Transmission map and airlight from a ResNet trunk; the clear scene composed by the scattering model.

    The free-pixel generator learned on synthetic pairs to turn any faint tint in bright
    fog into the clear photo's blue sky, and on real fog, where that tint is noise, JPEG
    chroma or the fog's own colour, it painted sky patches, clouds and blotches. Here the
    network's outputs are physical: a transmission t in [min_transmission, 1] per pixel,
    predicted at a quarter of the input's size (it is smooth) and lifted by a guided filter,
    and an airlight A per image, the Dark Channel Prior's scaled by at most `max_airlight_scale`.
    The scene is J = (I - A) / t + A in linear light, plus a per-image colour cast of at most
    `max_cast`, too small and too global to draw a shape. Flat fog (I near A) stays flat.
    The shipped weights trained with t at 0.1 or more, tenfold being the most contrast
    `evaluate`'s invented-structure score allows (at 0.05 more training drew real mist out
    past it), and run at 0.12: in dark output sRGB's curve makes a tenfold linear gain more.

    The airlight keeps the prior's colour and never exceeds the brightest light in the
    image (`airlight_ceiling`). An earlier version corrected each channel freely: on fog
    it learned an airlight above the fog (0.966 against 0.91) and a bluer one, and divided
    by t of 0.1 that difference became a dark, saturated sky. Scaled this way, fog I ~ A
    can only come out brighter or darker, never in another colour.

    `ceiling_share` raises the airlight that share of the way from the prior's towards
    the ceiling. The prior averages the haziest 1% of the image, which lies below the
    airlight wherever no region is haze-opaque, and an airlight too low leaves haze: on the
    density sweep the prior's was 0.76-0.84 where the haze's was 0.85, and the true one
    would have added 0.6-1.9 dB. Raised all the way it overshoots where bright objects
    outshine a dim haze (held-out validation fell 0.9 dB); a quarter of the way helped on
    every validation measure (see the model card).

    The trunk sees the hazy image at half size with the prior's transmission, and works
    at an eighth of the size: about a fifth of the free-pixel generator's cost. Its heads
    start at zero, so an untrained generator returns the Dark Channel Prior's scene.
    """

    def __init__(self, ngf: int = 32, n_blocks: int = 6, min_transmission: float = 0.05, max_cast: float = 0.03,
                 max_airlight_scale: float = 0.25, ceiling_share: float = 0.0):
        super().__init__()
        self.min_transmission, self.max_cast, self.max_airlight_scale = min_transmission, max_cast, max_airlight_scale
        self.ceiling_share = ceiling_share
        self.trunk = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(4, ngf, kernel_size=7), nn.ReLU(True),
            nn.Conv2d(ngf, ngf * 2, kernel_size=3, stride=2, padding=1), nn.ReLU(True),
            nn.Conv2d(ngf * 2, ngf * 4, kernel_size=3, stride=2, padding=1), nn.ReLU(True),
            *[ResnetBlock(ngf * 4, global_context=True) for _ in range(n_blocks)],
        )
        self.transmission_head = nn.Sequential(
            nn.ConvTranspose2d(ngf * 4, ngf * 2, kernel_size=3, stride=2, padding=1, output_padding=1), nn.ReLU(True),
            nn.Conv2d(ngf * 2, 1, kernel_size=3, padding=1),
        )
        self.scene_head = nn.Sequential(nn.Linear(ngf * 4, ngf * 4), nn.ReLU(True), nn.Linear(ngf * 4, 4))
        for head in (self.transmission_head[-1], self.scene_head[-1]):
            nn.init.zeros_(head.weight)  # start from the prior: zero corrections
            nn.init.zeros_(head.bias)

    def forward(self, hazy: torch.Tensor):
        """(scene, transmission, airlight) for a (B, 3, H, W) hazy batch in [0, 1] sRGB, any H and W."""
        height, width = hazy.shape[-2:]
        small = F.interpolate(hazy, size=(max(8, round(height / 8) * 4), max(8, round(width / 8) * 4)), mode="area")
        prior, prior_airlight = dark_channel_prior(small, patch=7, bright_share=0.01)
        features = self.trunk(torch.cat([small, prior], dim=1) * 2 - 1)
        level, cast = torch.tanh(self.scene_head(features.mean(dim=(2, 3)))).split([1, 3], dim=1)
        prior_linear = srgb_to_linear(prior_airlight).clamp(min=1e-3)
        highest = (airlight_ceiling(small, patch=7) / prior_linear).amin(dim=1, keepdim=True)
        raised = 1 + self.ceiling_share * (highest - 1)
        airlight = linear_to_srgb(prior_linear * torch.minimum(raised * (1 + self.max_airlight_scale * level), highest))
        low = self.transmission_head(features)
        span = 1.0 - self.min_transmission
        start = ((F.avg_pool2d(prior, 2) - self.min_transmission) / span).clamp(0.02, 0.98)
        transmission = self.min_transmission + span * torch.sigmoid(torch.logit(start) + low)
        gray = (hazy * hazy.new_tensor([0.299, 0.587, 0.114])[:, None, None]).sum(dim=1, keepdim=True)
        transmission = guided_upsample(transmission, gray).clamp(self.min_transmission, 1.0)
        scene = compose_scene(hazy, transmission, airlight) + self.max_cast * cast[:, :, None, None]
        return scene.clamp(0.0, 1.0), transmission, airlight
