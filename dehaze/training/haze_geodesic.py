"""A fourth haze synthesizer, of occluding contours and fog in three dimensions: domain randomization for training.

`haze.py`, `haze_patchy.py` and `haze_layered.py` all put a ground plane under a
horizon (found from the sky, drawn at random, or met by regions resting on it), mix
in cues of appearance (the colour attenuation prior, brightness and lost detail) or
colour regions, and spread the haze over the picture: one beta per photo, a 2-D
noise field times depth, or grey or spectral extinction along homogeneous lines of
sight. This one was written apart, from I = J t + A (1 - t) in linear light and
t = exp(-integral of beta along the ray), with other cues at every stage:

- Depth (`interposition_depth`): occlusion. Going from the viewer's feet (the
  bottom of the frame) to a point, every occluding contour crossed leads to
  something farther; going from the far end of the view (the top of the frame) to
  it, every contour crossed leads to something nearer. Both are geodesic distances
  over the photo, steps across colour edges costing their contrast
  (`geodesic_distance`); their difference orders the scene. So a ridge behind a
  hill, or the sky behind a roof, steps back where the photo's contour runs, while
  an object surrounded by one surface (a boat on the sea, a swan on a pond) is
  entered and left across the same boundary and stands where that surface does.
  The order becomes distance geometrically, as ranges of hills recede. The depth
  uses no ground plane, horizon, sky detector, appearance prior, region or guided filter.
- Density (`optical_depth`): a fog in 3-D around a pinhole camera (`camera_rays`) of
  random field of view and pitch, integrated in closed form along each pixel's ray up to the
  surface the depth puts it on: a uniform background haze; sometimes a fog layer
  capped by an inversion (beta a sigmoid of height: valley fog seen from above,
  ground fog seen from within, smog under a lid), which upward rays leave, so the
  sky clears with elevation; sometimes flattened Gaussian puffs of fog at their own
  distances, which veil what lies behind them and not what stands in front.
  `haze_patchy`'s patches are drawn on the picture, not placed in the scene.
  Depth and haze are worked out on cells of 2 x 2 pixels, then interpolated.
- Level: the mean transmission of each sample is drawn as `haze_patchy` draws it and
  the density scaled to reach it (`haze_patchy.scale_to_mean_transmission`).
- Airlight (`illuminant_airlight`): fog droplets scatter all colours alike, so fog
  takes the colour of the light falling on it: the photo's illuminant, estimated by
  the grey-edge hypothesis (differences between surfaces average to grey under
  white light, whatever the surfaces' own colours), at the brightness of the
  photo's brightest surfaces. The others tint a grey level with the hue of the
  brightest or the farthest pixels, or draw it at random; a flat blue sky or green
  field does not colour this one.
- Camera: `haze_patchy`'s, as the camera is not where the domains should differ.

Extinction is grey, so `PatchyHaze.transmission` is the exact single map.
Written from the physics; no code was taken from other projects.
"""

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from ..gan import linear_to_srgb, srgb_to_linear
from .haze_patchy import (
    LEVEL_PROBABILITIES, CameraSettings, PatchyHaze, drawn_batch, gaussian_blur, luminance, normalized, per_sample,
    photographed, pixel_grid, scale_to_mean_transmission, uniform,
)

CELL = 2  # pixels per side of the cells contours are traced on
CONTOUR_BLUR = 1.0  # cells: the Gaussian that merges texture and noise into surfaces before contours are traced
CONTRAST_FLOOR = 0.02  # sRGB colour distance between neighbouring cells that is still one surface
RECESSION = (0.3, 1.5)  # what climbing the frame's height costs by itself, in units of colour contrast
SIDEWAYS = 0.25  # a step across costs this share of a step up: across the view a surface recedes slowly
ROUNDS = 4  # passes up, across and down: a path finds its way around this many turns
NEAREST = (0.03, 0.3)  # distance of the nearest point, the farthest being 1: log-uniform

FIELD_OF_VIEW = (0.7, 1.2)  # rad, vertical: 40 to 70 degrees
PITCH = (-0.2, 0.3)  # rad, elevation of the view's centre
LAYER_PROBABILITY = 0.4
LAYER_TOP = (-0.15, 0.2)  # height of the inversion over the camera, the farthest distance being 1
LAYER_SOFTNESS = (0.005, 0.08)  # half the height over which the layer's density falls from 73% to 27%
LAYER_DENSITY = (2.0, 10.0)  # the layer's extinction, the background haze's being 1
PUFF_PROBABILITY = 0.65
PUFFS = (3, 10)  # how many puffs a patchy sample holds
PUFF_DISTANCE = (0.03, 1.0)  # of the puffs' centres: log-uniform
PUFF_ANGULAR_RADIUS = (0.05, 0.3)  # rad, horizontally
PUFF_FLATNESS = (0.3, 1.0)  # vertical radius over horizontal: fog lies in banks
PUFF_DENSITY = (1.0, 8.0)  # extinction at a puff's centre, the background haze's being 1

EDGE_FLOOR = 0.01  # linear light, summed over the channels: a step between cells below this is noise, twice it an edge
ILLUMINANT_CHROMA = (0.8, 1.2)  # the estimate's channels over their mean are kept within these
ILLUMINANT_SHARE = (0.3, 0.8)  # how much of the estimated colour the airlight takes
WHITE_QUANTILE = 0.99  # of sRGB luma: the photo's brightest surfaces, which show the light's level
AIRLIGHT_EXPOSURE = (0.6, 1.3)  # the fog's brightness over theirs, in linear light
DIMMEST_AIRLIGHT = 0.05  # linear light (sRGB 0.25): fog is seen because something lights it


@dataclass
class GeodesicHaze:
    """`haze` as the training loop takes it, and what made it."""

    haze: PatchyHaze
    depth: torch.Tensor  # (B, 1, H, W) distance along each pixel's ray, 1: the farthest
    optical_depth: torch.Tensor  # (B, 1, H, W) before scaling to the drawn mean transmission
    patchy: torch.Tensor  # (B,) bool: a fog layer or puffs; else homogeneous haze


def geodesic_haze(clear: torch.Tensor, generator: Optional[torch.Generator] = None,
                  levels: Optional[Sequence[str]] = None, grayscale: Optional[torch.Tensor] = None,
                  camera_settings: Optional[CameraSettings] = None,
                  level_probabilities: Sequence[float] = LEVEL_PROBABILITIES) -> PatchyHaze:
    """Haze a batch of clear sRGB photos (B, 3, H, W) in [0, 1] on their own device, as `patchy_haze` does.

    `levels`, `grayscale` and `camera_settings` are drawn with `generator` unless given;
    the same generator state gives the same batch.
    """
    return geodesic_haze_parts(clear, generator, levels, grayscale, camera_settings, level_probabilities).haze


def geodesic_haze_parts(clear: torch.Tensor, generator: Optional[torch.Generator] = None,
                        levels: Optional[Sequence[str]] = None, grayscale: Optional[torch.Tensor] = None,
                        camera_settings: Optional[CameraSettings] = None,
                        level_probabilities: Sequence[float] = LEVEL_PROBABILITIES) -> GeodesicHaze:
    """`geodesic_haze` with its depth and optical depth, for tests and inspection."""
    clear, levels, grayscale = drawn_batch(clear, generator, levels, grayscale, level_probabilities)
    cells = F.avg_pool2d(clear, CELL, ceil_mode=True)  # depth and haze are smooth but at contours: cells suffice
    depth = interposition_depth(cells, generator)
    tau, patchy = optical_depth(depth, generator)
    depth, tau = (F.interpolate(cue, size=clear.shape[-2:], mode="bilinear", align_corners=False)
                  for cue in (depth, tau))
    transmission = scale_to_mean_transmission(tau, levels, generator)
    haze = photographed(clear, transmission, illuminant_airlight(cells, generator), levels, grayscale,
                        camera_settings, generator)
    return GeodesicHaze(haze, depth, tau, patchy)


def line_pass(distance: torch.Tensor, steps: torch.Tensor, dim: int, backwards: bool) -> torch.Tensor:
    """The shortest distances along every line of `dim`, reaching each cell from either side.

    `steps` holds the cost between neighbours (one fewer along `dim`). Along a line the
    best way to cell x from any earlier cell k costs d[k] + P[x] - P[k], P the running
    sum of steps, so the minimum over k is P[x] + the running minimum of d - P: a whole
    line in two cumulative operations, no loop over cells.
    """
    if backwards:
        distance, steps = distance.flip(dim), steps.flip(dim)
    padding = (0, 0, 1, 0) if dim == 2 else (1, 0)
    path = F.pad(steps.cumsum(dim), padding)
    reached = path + (distance - path).cummin(dim).values
    return reached.flip(dim) if backwards else reached


def geodesic_distance(vertical: torch.Tensor, horizontal: torch.Tensor, from_top: bool) -> torch.Tensor:
    """(B, 1, h, w) cost of the cheapest path from the top row (or the bottom one) to each cell.

    `vertical` (B, 1, h - 1, w) and `horizontal` (B, 1, h, w - 1) are the costs of steps
    between neighbours. Each round runs exact passes away from the start, across both
    ways and back, so paths may turn `ROUNDS` times or more.
    """
    batch, height, width = horizontal.shape[0], vertical.shape[2] + 1, horizontal.shape[3] + 1
    distance = torch.full((batch, 1, height, width), float("inf"), device=vertical.device, dtype=vertical.dtype)
    distance[:, :, 0 if from_top else -1] = 0
    for _ in range(ROUNDS):
        distance = line_pass(distance, vertical, 2, backwards=not from_top)
        distance = line_pass(distance, horizontal, 3, backwards=False)
        distance = line_pass(distance, horizontal, 3, backwards=True)
        distance = line_pass(distance, vertical, 2, backwards=from_top)
    return distance


def interposition_depth(images: torch.Tensor, generator) -> torch.Tensor:
    """Distance (B, 1, h, w) in (0, 1] along each pixel's ray, ordered by the occluding contours crossed to reach it.

    `images` are sRGB (B, 3, h, w), cells of the photo. Blurred so that texture and noise
    merge into surfaces, a step between neighbours costs their colour contrast above
    `CONTRAST_FLOOR`, plus a little for climbing (surfaces recede upwards: ground, walls,
    hillsides seen from below them) and less for going across. The order is the cost
    from the viewer's feet less the cost from the far top: a contour crossed on one way
    and not the other puts its two sides at different distances, one crossed on both
    ways (around a surrounded object) cancels. Stretched to [0, 1], the order is the
    exponent of the distance from the nearest point (drawn) to the farthest, 1.
    """
    batch, device = images.shape[0], images.device
    blurred = gaussian_blur(images, torch.full((batch,), CONTOUR_BLUR, device=device))
    climb = per_sample(uniform(*RECESSION, (batch,), generator, device)) / images.shape[2]
    vertical = F.relu(contrast(blurred[:, :, 1:], blurred[:, :, :-1]) - CONTRAST_FLOOR) + climb
    horizontal = F.relu(contrast(blurred[..., 1:], blurred[..., :-1]) - CONTRAST_FLOOR) + SIDEWAYS * climb
    order = normalized(geodesic_distance(vertical, horizontal, from_top=False)
                       - geodesic_distance(vertical, horizontal, from_top=True))
    nearest = torch.exp(uniform(*(math.log(end) for end in NEAREST), (batch,), generator, device))
    return per_sample(nearest) ** (1 - order)


def contrast(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """(B, 1, ...) Euclidean distance between the colours of (B, 3, ...) images."""
    return (first - second).square().sum(1, keepdim=True).sqrt()


def camera_rays(columns: torch.Tensor, rows: torch.Tensor, aspect: float, focal: torch.Tensor,
                pitch: torch.Tensor) -> torch.Tensor:
    """Unit directions (B, 3, ...) right, up and forward in a level world, through image points (columns, rows).

    `columns` and `rows` lie in [0, 1] across the frame and broadcast against (B, ...);
    `focal` (B,) is in image heights; the camera is tilted up by `pitch` (B,) rad.
    """
    shape = (-1,) + (1,) * (max(columns.dim(), rows.dim()) - 1)
    focal, pitch = focal.view(shape), pitch.view(shape)
    right, up = (columns - 0.5) * aspect, 0.5 - rows
    cos, sin = torch.cos(pitch), torch.sin(pitch)
    direction = torch.stack(torch.broadcast_tensors(right, up * cos + focal * sin, focal * cos - up * sin), 1)
    return direction / direction.norm(dim=1, keepdim=True)


def layer_optical_depth(up: torch.Tensor, distance: torch.Tensor, top: torch.Tensor,
                        softness: torch.Tensor) -> torch.Tensor:
    """Integral of sigmoid((top - height) / softness) along rays of upward component `up`, to `distance`.

    Height along the ray is s * up, so the integral is exactly distance times the secant
    slope of softplus between (top) / softness and (top - distance * up) / softness; a
    level ray (no slope to speak of) takes the sigmoid at the middle.
    """
    start, end = top / softness, (top - distance * up) / softness
    span = start - end
    level = span.abs() < 1e-3
    secant = (F.softplus(start) - F.softplus(end)) / torch.where(level, torch.ones_like(span), span)
    return distance * torch.where(level, torch.sigmoid((start + end) / 2), secant)


def puff_optical_depth(rays: torch.Tensor, distance: torch.Tensor, centres: torch.Tensor, radius: torch.Tensor,
                       flatness: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) sum over puffs of the integral of peak exp(-r^2 / 2 radius^2) along each ray, to `distance`.

    Puffs (B, K): `centres` (B, K, 3) right, up, forward, `radius` across, `flatness` the
    vertical radius over it. Dividing heights by `flatness` makes a puff round; with a
    ray's direction v and a centre c so stretched, |s v - c|^2 = a (s - m)^2 + q with
    a = |v|^2, m = v.c / a and q = |c|^2 - a m^2, so the integral from 0 to the surface
    is a difference of error functions: a puff beyond the surface adds nothing, one in
    front of it veils it whole.
    """
    stretch = flatness ** -2  # what stretching heights does to their squares
    a = 1 + rays[:, 1:2] ** 2 * (stretch - 1)[:, :, None, None]  # (B, K, H, W); the rays are unit vectors
    weighted = centres * torch.stack([torch.ones_like(stretch), stretch, torch.ones_like(stretch)], 2)
    along = (weighted @ rays.flatten(2)).view(a.shape) / a
    miss = ((centres * weighted).sum(2)[:, :, None, None] - a * along ** 2).clamp(min=0)
    width = radius[:, :, None, None] * math.sqrt(2)
    root = torch.sqrt(a)
    crossed = torch.erf(root * (distance - along) / width) + torch.erf(root * along / width)
    closest = peak[:, :, None, None] * torch.exp(-miss / width ** 2)  # the density where the ray passes nearest
    integral = closest * (math.sqrt(math.pi) / 2) * width / root * crossed
    return integral.sum(1, keepdim=True)


def optical_depth(depth: torch.Tensor, generator):
    """(B, 1, H, W) extinction integrated along each ray to the surface, and (B,) whether it is patchy.

    A pinhole camera of drawn field of view and pitch looks into a uniform haze of
    extinction 1 (per unit of the farthest distance), sometimes with a fog layer under
    an inversion and sometimes with puffs of fog placed at their own distances in
    the view; the result is scaled to the drawn mean transmission afterwards.
    """
    batch, device = depth.shape[0], depth.device
    height, width = depth.shape[-2:]
    columns, rows = pixel_grid(depth)
    focal = 0.5 / torch.tan(uniform(*FIELD_OF_VIEW, (batch,), generator, device) / 2)
    pitch = uniform(*PITCH, (batch,), generator, device)
    rays = camera_rays(columns[:, 0], rows[:, 0], width / height, focal, pitch)  # (B, 3, H, W)

    layered = uniform(0, 1, (batch,), generator, device) < LAYER_PROBABILITY
    top = per_sample(uniform(*LAYER_TOP, (batch,), generator, device))
    softness = per_sample(uniform(*LAYER_SOFTNESS, (batch,), generator, device))
    layer_density = uniform(*LAYER_DENSITY, (batch,), generator, device) * layered
    layer = per_sample(layer_density) * layer_optical_depth(rays[:, 1:2], depth, top, softness)

    slots = PUFFS[1]  # puffs drawn for every sample; the first `counts` of a patchy one are there
    puffy = uniform(0, 1, (batch,), generator, device) < PUFF_PROBABILITY
    counts = torch.randint(PUFFS[0], slots + 1, (batch, 1), generator=generator, device=device)
    present = (torch.arange(slots, device=device)[None] < counts) & puffy[:, None]
    where = uniform(-0.1, 1.1, (batch, 2, slots), generator, device)  # image position of each centre
    centre_rays = camera_rays(where[:, 0], where[:, 1], width / height, focal, pitch).transpose(1, 2)
    log_near, log_far = (math.log(end) for end in PUFF_DISTANCE)
    reach = torch.exp(uniform(log_near, log_far, (batch, slots), generator, device))
    radius = reach * uniform(*PUFF_ANGULAR_RADIUS, (batch, slots), generator, device)
    flatness = uniform(*PUFF_FLATNESS, (batch, slots), generator, device)
    peak = uniform(*PUFF_DENSITY, (batch, slots), generator, device) * present
    puffs = puff_optical_depth(rays, depth, centre_rays * reach[:, :, None], radius, flatness, peak)
    return depth + layer + puffs, layered | puffy


def illuminant_airlight(cells: torch.Tensor, generator) -> torch.Tensor:
    """(B, 3) sRGB airlight: the colour of the light on the scene, at the level of its brightest surfaces.

    Droplets scatter all colours alike, so fog shows the light falling on it. That light's
    colour is estimated by the grey-edge hypothesis: in linear light, the differences
    between neighbouring surfaces average to grey under white light, whatever the
    surfaces' colours, so their mean colour is the light's. Here each step between
    neighbouring `cells` (sRGB (B, 3, h, w) means of a few pixels, between which noise
    does not pass) that stands out of the noise votes once, with its colour's direction:
    a large flat area, such as a blue sky or a green field, adds only its border's votes
    however bright or strong that border is. The airlight takes a drawn share of that
    colour, at a drawn exposure of the photo's brightest surfaces.
    """
    batch, device = cells.shape[0], cells.device
    linear = srgb_to_linear(cells)
    edges = torch.cat([(linear[:, :, 1:] - linear[:, :, :-1]).flatten(2),
                       (linear[..., 1:] - linear[..., :-1]).flatten(2)], 2).abs()  # (B, 3, N)
    strength = edges.sum(1, keepdim=True)
    votes = (strength / EDGE_FLOOR - 1).clamp(0, 1)
    colour = (votes * edges / strength.clamp(min=1e-12)).sum(2) + 1e-6  # no edges: grey
    chroma = (colour / colour.mean(1, keepdim=True)).clamp(*ILLUMINANT_CHROMA)
    share = uniform(*ILLUMINANT_SHARE, (batch, 1), generator, device)
    white = torch.quantile(luminance(cells).flatten(1), WHITE_QUANTILE, dim=1)
    level = srgb_to_linear(white) * uniform(*AIRLIGHT_EXPOSURE, (batch,), generator, device)
    level = level.clamp(DIMMEST_AIRLIGHT, 1.0)
    return linear_to_srgb(level[:, None] * torch.lerp(torch.ones_like(chroma), chroma, share)).clamp(0.0, 1.0)
