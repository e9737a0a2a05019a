"""A third haze synthesizer, of objects standing at their own distances: domain randomization for training.

`haze.py` and `haze_patchy.py` read depth off smooth cues (a ground plane, the colour
attenuation prior, brightness and detail, random fields) that a guided filter then
bends to the photo's edges, and scatter with one transmission for all colours. A
network trained on them alone can learn how those two programs draw haze. This one
was written apart, from I_c = J_c t_c + A_c (1 - t_c) in linear light, with other cues:

- Depth (`region_depth`): the photo is cut into regions of one colour (k-means on
  colour, connected pieces, joined again where no edge parts them), and each region
  stands at ONE distance: that of the ground where its lowest point rests, as a tree
  or a house does. Only regions shaped like ground (flat and wide) recede row by
  row. So depth steps at object boundaries and is flat across an upright object,
  where smooth cues tilt it; the boundaries come from the regions' colours at full
  resolution, not from a guided filter. The horizon is read off the regions too: a
  backdrop (a large region filling the top of the frame but not reaching its bottom:
  the sky, a far ridge) rests at its skyline, with the horizon just below it, so it
  usually lies at infinity; without one the horizon is random.
- Extinction (`spectral_ratios`): wavelength-dependent, beta_c ~ lambda_c ** -alpha
  (Angstrom's law), so distant things turn bluish-grey and lose their blue first, as
  in haze of small particles; alpha stays small (blue at most 1.14 times green's
  extinction in light haze, 1.05 in dense fog, whose droplets scatter all colours
  alike): a single-t model cannot undo it exactly. The others give every channel the
  same transmission.
- Density: homogeneous along each line of sight: the scene's layout alone shapes the
  haze, unlike `haze_patchy`'s drifting patches.
- Level: the luminance-weighted mean transmission is drawn per level (the ranges of
  `haze_patchy`) and the extinction scaled to reach it (`scale_to_mean_transmission`
  here, weighted over colours); "clear" samples keep t >= 0.97 in every channel.
- Airlight (`layered_airlight`): a grey level, sometimes dim, carrying part of the hue
  of the region the depth puts farthest, where a real photo shows the haze's colour.
- Camera: `haze_patchy`'s, as the camera is not where the domains should differ.

`PatchyHaze.transmission` is one map, the luminance-weighted mean of the three
channels' (Rec. 709 weights, in linear light): what a single-t model such as
`dehaze.gan.ScatteringGenerator` should aim for. It is exact when alpha is 0 (grey
samples and a share of the others); where alpha > 0, undoing the haze with it leaves
colour errors of 0.02-0.03 on average in sRGB (p95 0.10 in light haze, 0.14 in dense)
on the validation photos: set `GREY_EXTINCTION_PROBABILITY` to 1 if a model should not
meet them. `layered_haze_parts` returns the channels' maps.
Written from the physics; no code was taken from other projects.
"""

from dataclasses import dataclass, replace
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F

from .haze_patchy import (
    LEVEL_PROBABILITIES, MEAN_TRANSMISSION_RANGES, CameraSettings, PatchyHaze, drawn_batch, newton_scale, per_sample,
    photographed, pixel_grid, uniform,
)

LINEAR_LUMINANCE = (0.2126, 0.7152, 0.0722)  # Rec. 709: the weights of linear R, G, B in luminance
WAVELENGTHS = (610.0, 550.0, 465.0)  # nm, where a camera's red, green and blue filters pass most
MAX_ANGSTROM = {"clear": 0.8, "light": 0.8, "dense": 0.3}  # blue 1.14 and 1.05 times green at most; fog scatters all alike
GREY_EXTINCTION_PROBABILITY = 0.3
MAX_OPTICAL_DEPTH = {"clear": 0.03, "light": 3.0, "dense": 4.6}  # per channel: t never below 0.97, 0.05, 0.01

CELLS_ACROSS = 48  # regions are found on a grid of about this many cells along the shorter side
MAX_REGIONS = 12  # colour clusters per photo at most; each sample draws how many from 4
KMEANS_STEPS = 5
SHARE_OF_APART, OFF_TREND = 0.6, 0.35  # what makes a boundary between two pieces no edge (`gradual_boundary_links`)
COLOUR_WIDTH = 0.04  # in `colour_features` units: regions this far apart in colour are told apart
SMALL_REGION = 0.012  # share of the cells below which a region takes its surroundings' distance
BACKDROP_AREA, BACKDROP_LOWEST = 0.05, 0.75  # a top region this large, its skyline this high, is the backdrop

DIM_AIRLIGHT_PROBABILITY = 0.15
AIRLIGHT_GREY = (0.55, 1.0)
DIM_AIRLIGHT_GREY = (0.35, 0.55)
FARTHEST_SHARE = 0.05  # the farthest pixels whose colour tints the airlight


@dataclass
class LayeredHaze:
    """`haze` as the training loop takes it, and what made it: depth, each channel's transmission, alpha."""

    haze: PatchyHaze
    depth: torch.Tensor  # (B, 1, H, W) relative distance in (0, 1], 1: the backdrop at infinity
    channel_transmission: torch.Tensor  # (B, 3, H, W): the haze is exactly J_c t_c + A_c (1 - t_c) in linear light
    angstrom: torch.Tensor  # (B,) Angstrom exponent alpha; 0: grey extinction, `haze.transmission` exact


def layered_haze(clear: torch.Tensor, generator: Optional[torch.Generator] = None,
                 levels: Optional[Sequence[str]] = None, grayscale: Optional[torch.Tensor] = None,
                 camera_settings: Optional[CameraSettings] = None,
                 level_probabilities: Sequence[float] = LEVEL_PROBABILITIES) -> PatchyHaze:
    """Haze a batch of clear sRGB photos (B, 3, H, W) in [0, 1] on their own device, as `patchy_haze` does.

    `levels`, `grayscale` and `camera_settings` are drawn with `generator` unless given;
    the same generator state gives the same batch.
    """
    return layered_haze_parts(clear, generator, levels, grayscale, camera_settings, level_probabilities).haze


def layered_haze_parts(clear: torch.Tensor, generator: Optional[torch.Generator] = None,
                       levels: Optional[Sequence[str]] = None, grayscale: Optional[torch.Tensor] = None,
                       camera_settings: Optional[CameraSettings] = None,
                       level_probabilities: Sequence[float] = LEVEL_PROBABILITIES) -> LayeredHaze:
    """`layered_haze` with its depth and per-channel transmission, for tests and inspection."""
    clear, levels, grayscale = drawn_batch(clear, generator, levels, grayscale, level_probabilities)
    batch, device = clear.shape[0], clear.device
    depth = region_depth(clear, generator)
    angstrom = uniform(0, 1, (batch,), generator, device) * torch.tensor(
        [MAX_ANGSTROM[level] for level in levels], device=device)
    grey_extinction = grayscale | (uniform(0, 1, (batch,), generator, device) < GREY_EXTINCTION_PROBABILITY)
    angstrom = torch.where(grey_extinction, torch.zeros_like(angstrom), angstrom)  # grey in, grey out
    channels = scale_to_mean_transmission(depth, spectral_ratios(angstrom), levels, generator)
    haze = photographed(clear, channels, layered_airlight(clear, depth, generator), levels, grayscale,
                        camera_settings, generator)
    weights = torch.tensor(LINEAR_LUMINANCE, device=device)
    transmission = torch.einsum("bchw,c->bhw", channels, weights)[:, None]  # the one map a single-t model aims for
    return LayeredHaze(replace(haze, transmission=transmission), depth, channels, angstrom)


def colour_features(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, ...) sRGB to lightness and two opponent colours, so that k-means weighs hue as much as brightness."""
    red, green, blue = images.unbind(1)
    return torch.stack([(red + green + blue) / 3, 0.75 * (red - blue), 0.5 * (2 * green - red - blue)], 1)


def colour_clusters(features: torch.Tensor, generator) -> torch.Tensor:
    """(B, N) index of each of N cells' colour cluster: k-means on (B, N, 3) features, 4 to 12 clusters a sample.

    Seeded from a random cell, then each time from the cell farthest in colour from
    the seeds so far, so that the distinct colours of a photo are found rather than
    its commonest colour many times.
    """
    batch, cells, _ = features.shape
    device = features.device
    counts = torch.randint(4, MAX_REGIONS + 1, (batch, 1), generator=generator, device=device)
    unused = torch.arange(MAX_REGIONS, device=device)[None, None] >= counts[:, None]  # (B, 1, K)
    first = torch.randint(cells, (batch, 1), generator=generator, device=device)
    centres = [features.gather(1, first[:, :, None].expand(-1, -1, 3))]
    nearest = (features - centres[0]).square().sum(-1)
    for _ in range(MAX_REGIONS - 1):
        seed = nearest.argmax(1, keepdim=True)
        centres.append(features.gather(1, seed[:, :, None].expand(-1, -1, 3)))
        nearest = torch.minimum(nearest, (features - centres[-1]).square().sum(-1))
    centres = torch.cat(centres, 1)  # (B, K, 3)
    for step in range(KMEANS_STEPS + 1):
        distances = centres.square().sum(-1)[:, None] - 2 * features @ centres.transpose(1, 2)  # less |f|^2, alike
        distances = distances.masked_fill(unused, float("inf"))
        assigned = distances.argmin(-1)
        if step == KMEANS_STEPS:
            return assigned
        members = F.one_hot(assigned, MAX_REGIONS).to(features.dtype)  # (B, N, K)
        sizes = members.sum(1)[:, :, None]
        centres = torch.where(sizes > 0, members.transpose(1, 2) @ features / sizes.clamp(min=1), centres)


def majority_smoothed(labels: torch.Tensor, rounds: int = 2) -> torch.Tensor:
    """(B, h, w) cluster labels, each cell given the commonest label of its 3x3 neighbourhood: no lone specks."""
    for _ in range(rounds):
        votes = F.avg_pool2d(F.one_hot(labels, MAX_REGIONS).permute(0, 3, 1, 2).float(), 3, stride=1, padding=1)
        labels = votes.argmax(1)
    return labels


def same_label_links(labels: torch.Tensor):
    """Whether each cell joins its right and its lower neighbour, (B, h, w - 1) and (B, h - 1, w): same label."""
    return labels[:, :, 1:] == labels[:, :, :-1], labels[:, 1:] == labels[:, :-1]


def gradual_boundary_links(pieces: torch.Tensor, features: torch.Tensor, colour: torch.Tensor):
    """`same_label_links` of `pieces`, plus the links across every boundary that shows no edge.

    k-means cuts smooth gradients (a sky darkening overhead, a vignette) into bands
    where the photo has no boundary, and a depth step there would be haze drawing an
    edge the scene lacks. Two touching pieces, of mean colours `colour`, are joined
    when, on average over their shared boundary, the colour step over the 3 cells
    across it (an edge may fall inside one) is either
    - less than `SHARE_OF_APART` of the difference of their mean colours: the colour
      changes on the way through the pieces, not at the boundary (wide bands, and
      noisy ones); or
    - off the trend of the 3 cells before or after it by less than `OFF_TREND` of
      itself: the colour runs on across the boundary as it did beside it (narrow bands).
    An edge steps by all its height and off any trend; texture steps at random.
    Averaged over a whole boundary, one faint spot in a real edge does not join the two sides.
    """
    batch, height, width = pieces.shape
    cells = height * width
    offset = torch.arange(batch, device=pieces.device).view(batch, 1, 1) * cells * cells
    neighbours, pairs, measures = [], [], []
    for axis, dim in ((3, 2), (2, 1)):  # right neighbours, then lower ones
        length = pieces.shape[dim]
        padded = F.pad(features, (5, 5, 0, 0) if axis == 3 else (0, 0, 5, 5), mode="replicate")
        before, start, end, after = (padded.narrow(axis, 5 + shift, length - 1) for shift in (-4, -1, 2, 5))
        across = end - start  # from the cell before cell j to the one after cell j + 1
        off_trend = torch.minimum((across - (start - before)).square().sum(1), (across - (after - end)).square().sum(1))
        apart = colour.narrow(axis, 1, length - 1) - colour.narrow(axis, 0, length - 1)
        measures.append(torch.stack([across.square().sum(1).sqrt(), apart.square().sum(1).sqrt(), off_trend.sqrt()]))
        first, second = pieces.narrow(dim, 0, length - 1), pieces.narrow(dim, 1, length - 1)
        neighbours.append((first, second))
        pairs.append(offset + torch.minimum(first, second) * cells + torch.maximum(first, second))
    boundaries = [first != second for first, second in neighbours]
    keys, inverse = torch.unique(torch.cat([pair[boundary] for pair, boundary in zip(pairs, boundaries)]),
                                 return_inverse=True)
    measured = torch.cat([measure[:, boundary] for measure, boundary in zip(measures, boundaries)], 1)
    across, apart, off_trend = torch.zeros(3, len(keys), device=pieces.device).index_add_(1, inverse, measured)
    gradual = ((across < SHARE_OF_APART * apart) | (off_trend < OFF_TREND * across))[inverse]
    links, start = [], 0
    for (first, second), boundary in zip(neighbours, boundaries):
        link = first == second
        link[boundary] = gradual[start:start + int(boundary.sum())]
        start += int(boundary.sum())
        links.append(link)
    return links


def connected_pieces(right: torch.Tensor, down: torch.Tensor, max_rounds: int = 32) -> torch.Tensor:
    """(B, h, w) id of each cell's piece, cells joined to the right and below as `right` and `down` say.

    The id is the piece's largest flat cell index.

    Each round gives every run of joined cells along a row, then along a column, its
    largest id, then jumps along the ids (a cell's id names a cell of the same piece,
    whose own id is at least as large): a piece is joined in about as many rounds as
    it has turns, not cells. Pieces left unjoined after `max_rounds` only split a region.
    """
    batch, height = right.shape[:2]
    width = down.shape[2]
    cells = height * width
    ids = torch.arange(cells, device=right.device).expand(batch, -1)
    runs = [run_index(right), run_index(down.transpose(1, 2)).view(batch, width, height).transpose(1, 2)]
    runs = [(run.reshape(-1), int(run.max()) + 1) for run in runs]
    for _ in range(max_rounds):
        joined = ids.reshape(-1)
        for run, count in runs:
            largest = torch.full((count,), -1, device=right.device, dtype=joined.dtype)
            joined = largest.scatter_reduce(0, run, joined, "amax").gather(0, run)
        joined = joined.view(batch, cells)
        joined = joined.gather(1, joined.gather(1, joined))
        if torch.equal(joined, ids):
            break
        ids = joined
    return ids.view(batch, height, width)


def run_index(joined: torch.Tensor) -> torch.Tensor:
    """(B, h, w) number of each cell's run along its row, from (B, h, w - 1) joins to the right, counted batch-wide."""
    starts = F.pad((~joined).long(), (1, 0), value=1)
    return starts.flatten().cumsum(0).view(starts.shape) - 1


def region_statistics(pieces: torch.Tensor, values: torch.Tensor, reduce: str) -> torch.Tensor:
    """(B, C, h, w) `values` reduced ("sum" or "amax") over each cell's piece and handed back to every cell."""
    batch, channels = values.shape[:2]
    cells = pieces.shape[1] * pieces.shape[2]
    index = (pieces.reshape(batch, 1, cells) + torch.arange(batch, device=pieces.device)[:, None, None] * cells)
    index = index.expand(-1, channels, -1).transpose(0, 1).reshape(channels, -1)
    flat = values.transpose(0, 1).reshape(channels, -1)
    reduced = torch.zeros_like(flat).scatter_reduce(1, index, flat, reduce, include_self=False)
    return reduced.gather(1, index).view(channels, batch, *pieces.shape[1:]).transpose(0, 1)


def mean_lower_edge(pieces: torch.Tensor, cell: int, height: int) -> torch.Tensor:
    """(B, 1, h, w): for each cell, its piece's lowest row averaged over the columns it spans: a skyline's height.

    A sky's lowest point may dip to the frame's bottom where a slope leaves it; its skyline lies higher.
    """
    batch, rows_low, columns_low = pieces.shape
    cells = rows_low * columns_low
    bottom = (((torch.arange(rows_low, device=pieces.device) + 1) * cell).clamp(max=height) / height)
    key = (pieces + torch.arange(batch, device=pieces.device).view(batch, 1, 1) * cells) * columns_low
    key = (key + torch.arange(columns_low, device=pieces.device)).flatten()
    lowest = torch.full((batch * cells * columns_low,), -1.0, device=pieces.device).scatter_reduce(
        0, key, bottom.view(1, rows_low, 1).expand(batch, -1, columns_low).flatten(), "amax")
    lowest = lowest.view(batch, cells, columns_low)
    spanned = lowest >= 0
    mean = (lowest * spanned).sum(2) / spanned.sum(2).clamp(min=1)
    return mean.gather(1, pieces.flatten(1)).view(batch, 1, rows_low, columns_low)


def ground_distance(contact: torch.Tensor, horizon: torch.Tensor, nearest: torch.Tensor) -> torch.Tensor:
    """Relative distance of ground seen at row `contact` (0 top, 1 bottom): nearest at the bottom, 1 at the horizon.

    Over flat ground, distance falls as 1 / (rows below the horizon); at and above it lies infinity, here 1.
    """
    below = contact - per_sample(horizon)
    return torch.where(below > 0, per_sample(nearest * (1 - horizon)) / below.clamp(min=1e-6), 1.0).clamp(max=1.0)


def region_depth(clear: torch.Tensor, generator) -> torch.Tensor:
    """Relative distance (B, 1, H, W) in (0, 1]: each region at the distance of the ground where it rests.

    On a grid of cells the photo is cut into regions of one colour (k-means, then
    connected pieces, joined again where no edge parts them); each gets a contact row,
    where it would touch the ground: its lowest row if it stands upright (not wider
    than tall, or reaching the top of the frame), its own rows if it lies flat (2.5
    times wider than tall, or spanning the width at the bottom of the frame), a mix in
    between. Regions smaller than `SMALL_REGION` (a window, a bird, a tuft of grass)
    take their surroundings' contact instead of resting on their own. Each region's
    distance is then bent by its own random power, since objects resting at one row
    stand at somewhat different distances. Each pixel takes the regions of the four
    cells around it as far as their colour matches its own (`full_resolution_blend`),
    so the depth steps where the photo's colours do. A backdrop (a large region reaching
    the top of the frame but not its bottom, its skyline in the upper three quarters)
    rests at its skyline instead of its lowest dip, and the horizon lies just at or
    below the highest skyline, so the sky is mostly at infinity, sometimes merely far.
    Whatever rests at or above the horizon is at infinity.
    """
    batch, _, height, width = clear.shape
    device = clear.device
    cell = max(1, round(min(height, width) / CELLS_ACROSS))
    small = F.avg_pool2d(clear, cell, ceil_mode=True)
    rows_low, columns_low = small.shape[-2:]
    features = colour_features(small)
    labels = colour_clusters(features.flatten(2).transpose(1, 2), generator).view(batch, rows_low, columns_low)
    pieces = connected_pieces(*same_label_links(majority_smoothed(labels)))
    ones = torch.ones(batch, 1, rows_low, columns_low, device=device)
    mean_features = region_statistics(pieces, features, "sum") / region_statistics(pieces, ones, "sum")
    pieces = connected_pieces(*gradual_boundary_links(pieces, features, mean_features))

    row_index = torch.arange(rows_low, device=device).view(1, 1, rows_low, 1)
    column_index = torch.arange(columns_low, device=device).view(1, 1, 1, columns_low)
    highest = -region_statistics(pieces, -row_index * cell / height * ones, "amax")  # each region's bounds
    lowest = region_statistics(pieces, ((row_index + 1) * cell).clamp(max=height) / height * ones, "amax")
    leftmost = -region_statistics(pieces, -column_index * cell / width * ones, "amax")
    rightmost = region_statistics(pieces, ((column_index + 1) * cell).clamp(max=width) / width * ones, "amax")
    count = region_statistics(pieces, ones, "sum")
    area = count / (rows_low * columns_low)
    colour = region_statistics(pieces, small, "sum") / count

    spread = (rightmost - leftmost) * width / ((lowest - highest) * height)
    floor_wide = (lowest > 0.999) & (rightmost - leftmost > 0.75)  # the ground under the camera
    flat = (((spread - 1) / 1.5).clamp(0, 1) + floor_wide.float()).clamp(max=1)
    flat = flat * (highest > 0)  # what reaches the top of the frame stands (sky, trees, walls), it does not lie
    skyline = mean_lower_edge(pieces, cell, height)
    backdrop = (highest < 1e-6) & (lowest < 0.999) & (area >= BACKDROP_AREA) & (skyline <= BACKDROP_LOWEST)
    contact_row = torch.where(backdrop, skyline, lowest)  # a backdrop's foot is its skyline, not its lowest dip
    horizon = torch.where(backdrop.flatten(1).any(1),
                          (skyline * backdrop).flatten(1).amax(1) + uniform(-0.03, 0.1, (batch,), generator, device),
                          uniform(-0.4, 0.25, (batch,), generator, device))
    draws = torch.randn(batch, rows_low * columns_low, generator=generator, device=device)
    draws = draws.gather(1, pieces.flatten(1)).view(batch, 1, rows_low, columns_low)  # one per region: its id's
    bend = per_sample(uniform(0.0, 0.3, (batch,), generator, device)) * draws  # log of the region's power
    own = torch.cat([flat, contact_row, bend], 1)
    large = (area >= SMALL_REGION).to(own.dtype)
    radius = max(2, min(rows_low, columns_low) // 12)
    around = F.avg_pool2d(torch.cat([own * large, large], 1), 2 * radius + 1, stride=1, padding=radius)
    taken = (large == 0) & (around[:, 3:] > 0)  # small, with large regions near: rests where they do
    contact_params = torch.where(taken, around[:, :3] / around[:, 3:].clamp(min=1e-6), own)

    nearest = uniform(0.04, 0.3, (batch,), generator, device)
    floor = uniform(0.03, 0.2, (batch,), generator, device)  # so that dense haze reaches the nearest things

    params = torch.cat([colour, contact_params], 1)  # (B, 6, h, w): colour, flatness, contact row, bend
    chosen = full_resolution_blend(clear, params, cell)
    _, rows = pixel_grid(clear)
    flat, contact_row, bend = chosen.unbind(1)
    contact = (flat * rows[:, 0] + (1 - flat) * contact_row)[:, None]
    distance = ground_distance(contact, horizon, nearest) ** torch.exp(bend)[:, None]
    return per_sample(floor) + (1 - per_sample(floor)) * distance


def full_resolution_blend(clear: torch.Tensor, params: torch.Tensor, cell: int) -> torch.Tensor:
    """(B, C - 3, H, W): the cells' `params` (B, C, h, w), colour first, blended at each pixel by colour likeness.

    The four cells whose centres surround the pixel each weigh in by nearness (bilinear
    weights) and by how near the pixel's colour their region's mean colour lies (a
    Gaussian of width `COLOUR_WIDTH`): across a colour edge the other side's region
    drops out, so the depth steps there to the pixel; where colours cannot tell the
    regions apart, the step is spread over a cell instead of following the cells' staircase.
    """
    batch, _, height, width = clear.shape
    rows_low, columns_low = params.shape[-2:]
    table = torch.cat([colour_features(params[:, :3]), params[:, 3:]], 1).flatten(2)  # (B, C, h * w)
    pixels = colour_features(clear)
    corners = []
    for length, cells in ((height, rows_low), (width, columns_low)):
        position = ((torch.arange(length, device=clear.device) + 0.5) / cell - 0.5).clamp(0, cells - 1)
        before = position.floor().clamp(max=max(cells - 2, 0))
        share = position - before  # bilinear weight of the cell after
        corners.append(((before.long(), 1 - share), ((before.long() + 1).clamp(max=cells - 1), share)))
    distances, candidates, nearness = [], [], []
    for row, row_weight in corners[0]:
        for column, column_weight in corners[1]:
            index = (row[:, None] * columns_low + column[None, :]).flatten()
            candidate = table.gather(2, index.expand(batch, table.shape[1], -1)).view(batch, -1, height, width)
            distances.append((candidate[:, :3] - pixels).square().sum(1, keepdim=True))
            candidates.append(candidate[:, 3:])
            nearness.append(row_weight[:, None] * column_weight[None, :])
    closest = torch.minimum(torch.minimum(distances[0], distances[1]), torch.minimum(distances[2], distances[3]))
    total, weights = 0.0, 0.0
    for distance, candidate, near in zip(distances, candidates, nearness):
        likeness = ((closest - distance) / (2 * COLOUR_WIDTH ** 2)).clamp(min=-30)  # no denormals: slow on CPUs
        weight = (near + 1e-3) * torch.exp(likeness)
        total, weights = total + weight * candidate, weights + weight
    return total / weights


def spectral_ratios(angstrom: torch.Tensor) -> torch.Tensor:
    """(B, 3) extinction of red, green and blue relative to green: (lambda_c / lambda_green) ** -alpha, Angstrom's."""
    wavelengths = torch.tensor(WAVELENGTHS, device=angstrom.device)
    return (wavelengths / wavelengths[1])[None] ** -angstrom[:, None]


def scale_to_mean_transmission(depth: torch.Tensor, ratios: torch.Tensor, levels: List[str],
                               generator) -> torch.Tensor:
    """(B, 3, H, W) transmission exp(-min(k r_c d, tau_max)), k solved per sample for a drawn luminance mean.

    As `haze_patchy.scale_to_mean_transmission`, but the mean is of the channels'
    transmissions weighted by their share of luminance; it is still convex and
    decreasing in k, so Newton's method from k = 0 approaches the root from below.
    """
    batch, device = depth.shape[0], depth.device
    low, high = (torch.tensor([MEAN_TRANSMISSION_RANGES[level][end] for level in levels], device=device)
                 for end in (0, 1))
    target = (low + (high - low) * torch.rand(batch, generator=generator, device=device))[:, None]
    ceiling = torch.tensor([MAX_OPTICAL_DEPTH[level] for level in levels], device=device)[:, None]
    weights = torch.tensor(LINEAR_LUMINANCE, device=device)
    scale = torch.zeros(batch, 1, device=device)
    for tau, iterations in ((F.avg_pool2d(depth, 4, ceil_mode=True), 12), (depth, 1)):
        scale = newton_scale(ratios[:, :, None] * tau.flatten(2), target, ceiling, scale, iterations, weights)
    optical_depth = per_sample(scale.view(batch)) * ratios[:, :, None, None] * depth
    return torch.exp(-torch.minimum(optical_depth, per_sample(ceiling.view(batch))))


def layered_airlight(clear: torch.Tensor, depth: torch.Tensor, generator) -> torch.Tensor:
    """(B, 3) sRGB airlight: a grey level carrying part of the hue of the farthest regions, slightly tinted.

    At the far end of a view one sees the haze's own colour, lit by the same sky (or
    sun, or street lights) as the scene, so the hue of the pixels the depth puts
    farthest is shared with the airlight, to a random degree; the grey level is
    sometimes dim, as in fog at dusk.
    """
    batch, device = clear.shape[0], clear.device
    farthest = depth.flatten(1).topk(max(1, int(FARTHEST_SHARE * depth[0].numel())), dim=1).indices
    colours = clear.flatten(2).gather(2, farthest[:, None].expand(-1, 3, -1)).mean(2)
    hue = (colours / colours.mean(1, keepdim=True).clamp(min=1e-3)).clamp(0.8, 1.2)
    dim = uniform(0, 1, (batch,), generator, device) < DIM_AIRLIGHT_PROBABILITY
    grey = torch.where(dim, uniform(*DIM_AIRLIGHT_GREY, (batch,), generator, device),
                       uniform(*AIRLIGHT_GREY, (batch,), generator, device))
    hue_share = uniform(0.0, 0.6, (batch, 1), generator, device)
    tint = 1 + uniform(-0.03, 0.03, (batch, 3), generator, device)
    return (grey[:, None] * torch.lerp(torch.ones_like(hue), hue, hue_share) * tint).clamp(0.0, 1.0)
