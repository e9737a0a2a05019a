"""Held-out haze: evaluation data from a synthesizer that never takes part in training.

    python -m dehaze.training.haze_heldout CLEAR_FOLDER OUT_FOLDER --seed 7

A model trained on `dehaze.training.haze` learns that synthesizer's habits as well as
haze, so its scores on that haze overstate how it does on real haze. This module is
written separately, with different choices at every stage, and must never feed
training: scores on it measure how well a model generalizes to haze it has not seen.

How it differs from the training haze:

1. Depth from a camera and from layers, not from sky, ground ramp and colour prior:
   a pinhole camera at a random height and tilt over flat ground gives each ray its
   distance to the ground (the horizon is put at the bottom of the sky where one is
   found, above the frame where none is). The photo is cut into layers along its
   clear edges (graph-based segmentation; regions no clear edge parts are joined).
   The sky (smooth, sky-coloured, from the top edge, with its clouds) lies at the far
   limit; the ground (along the bottom edge, or below the horizon) follows the
   camera's ground distance pixel by pixel; every other layer is an object standing
   on what lies beneath its base, at one distance throughout. A guided filter steered
   by the photo's luminance then smooths the distance, so that it steps only at the
   photo's edges and never inside a smooth sky, sea or wall.
2. Two kinds of haze: even haze, and ground fog whose density falls off
   exponentially with height, integrated exactly along each ray, thickened in a few
   Gaussian patches. The density is set by the mean transmission it yields
   (0.5-0.85 light, 0.15-0.35 dense), not drawn directly.
3. The airlight is the colour the photo itself fades to: its farthest pixels,
   pulled toward grey and brightened to 0.55-1, sometimes tinted warm or cool.
4. A different camera: read and shot noise in linear light, blotchy colour noise,
   luminance sharpening, then JPEG through OpenCV at quality 55-95.

Scattering itself is the same physics, I = J t + A (1 - t) in linear light.
Images are sRGB float arrays (H, W, 3) in [0, 1].
"""

import argparse
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np
from scipy import ndimage, optimize, sparse
from scipy.sparse import csgraph
from skimage import segmentation

from ..guided_filter import guided_filter
from ..image_io import fit_within, load_image, resize, save_image, to_uint8
from ..scattering import airlight_channels, linear_to_srgb, srgb_to_linear
from .datasets import list_images
from .haze import HazySample

LEVELS = ("light", "dense")
MEAN_TRANSMISSION = {"light": (0.5, 0.85), "dense": (0.15, 0.35)}
HAZE_KINDS = ("homogeneous", "ground_fog")
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec. 709 weights of sRGB's primaries

DEPTH_SIDE = 256  # depth is worked out on a copy this large, then scaled to the photo
SEGMENT_SCALE = 300  # Felzenszwalb's scale: larger makes fewer, larger regions
SEGMENT_SIGMA = 0.8  # pixels at DEPTH_SIDE: smoothing before segmentation
SMALLEST_LAYER = 0.004  # share of the frame below which a region is texture, not an object
THIN_LAYER = 0.25  # share of a layer's pixels inside it (not on its outline) below which it is a strip along an edge
GROUND_SHARE = 0.25  # share of the bottom edge a layer must cover to be the ground itself
BASE_PERCENTILE = 95  # of an object's columns' lowest rows: its base, past a few stray tails (reflections)
FAR_EDGE_PERCENTILE = 75  # percent of a ground layer's columns whose top lies above its far edge
FAR_EDGE_LOWEST = 0.1  # of the height: a layer on the bottom edge whose far edge is higher fills the frame, a wall
BELOW_HORIZON = 0.6  # share of a layer's pixels below the horizon that makes it ground (the far sea, a plain)
SKY_DARKEST = 0.1  # sky is brighter than this: a night sky over a town 0.15-0.35, blue sky about 0.45
SKY_BRIGHT = 0.5  # a region this bright may be sky whatever its hue (overcast, a sunset glow)
SKY_SMALLEST = 0.03  # share of the frame below which a smooth patch at the top is no sky (a bright wall, bokeh)
SKY_TEXTURE = 0.03  # median local texture (summed over channels) above which a layer is not sky
TEXTURE_SIGMA = 2.0  # pixels at DEPTH_SIDE: the scale below which colour changes count as texture
CLOUD_LUMINANCE = 0.35  # clouds bordering the sky are at least this bright (rain clouds about 0.4)...
CLOUD_SATURATION = 0.3  # ...at most this saturated (greyish)...
CLOUD_TEXTURE = 0.15  # ...at most this textured...
CLOUD_UPPER_SHARE = 0.8  # ...and have this share of their pixels in the upper half of the frame
CLOUD_STEPS = 4  # rounds of clouds joining the sky: a cloud may border the sky only through another cloud
SKYLINE_PERCENTILE = 90  # of the sky's lower edge over columns: the horizon, below all but a few stray sky columns
EDGE_STRENGTH = 0.015  # colour gradient per pixel (at DEPTH_SIDE) along a clear edge between two layers...
EDGE_CONTRAST = 1.5  # ...and its ratio to the texture inside the smoother of the two
SMOOTHING_RADIUS = 0.03  # of the longer side: the guided filter's window radius for the distance
SMOOTHING_EPS = 1e-3  # luminance variance below which the filter smooths the distance across a window

CAMERA_HEIGHT = (1.5, 30.0)  # metres
HORIZON_HIDDEN = (2.0, 15.0)  # degrees the horizon lies above the frame when no sky shows
VERTICAL_FOV = (35.0, 65.0)  # degrees
FAR_HEIGHTS = (25.0, 60.0)  # the farthest distance, in camera heights: beyond it all is sky
FOG_SCALE_HEIGHTS = (0.4, 1.5)  # height over which ground fog thins by e, in camera heights
FOG_PATCHES = (2, 5)
FOG_PATCH_SIZE = (0.1, 0.35)  # Gaussian sigma, as a share of the longer side
FOG_PATCH_DENSITY = (0.5, 2.0)  # extra density at a patch's centre, relative to the fog around it

AIRLIGHT_RANGE = (0.55, 1.0)
FARTHEST_SHARE = 0.1  # the share of pixels whose colour the haze takes on
CHROMA_KEPT = (0.2, 0.5)  # how much of the far colour's hue survives the pull toward grey
BRIGHTENING = (1.0, 1.4)
TINT = (0.02, 0.06)
WARM_PROBABILITY, COOL_PROBABILITY = 0.25, 0.2

NOISE_RANGE = (0.002, 0.02)  # std at mid grey, in linear light
MID_GREY_LINEAR = 0.214  # sRGB 0.5; the sRGB curve's slope there is about 1, so the std is about the same in sRGB
READ_NOISE_SHARE = 0.3  # of the noise variance at mid grey; the rest is shot noise, growing with the signal
COLOUR_NOISE_SHARE = 0.5  # std of the blotchy colour noise relative to `noise`
COLOUR_NOISE_SIZE = 1.5  # pixels
SHARPEN_PROBABILITY = 0.5
SHARPEN_AMOUNT = (0.2, 0.8)
SHARPEN_RADIUS = (0.7, 1.5)
JPEG_QUALITY = (55, 95)

SWEEP_AIRLIGHT = 0.85
SWEEP_NOISE = 0.01
SWEEP_JPEG_QUALITY = 90


@dataclass
class Camera:
    """A pinhole camera over flat ground."""

    height: float  # metres
    tilt: float  # radians below the horizon
    vertical_fov: float  # radians
    far: float  # metres; rays that reach no ground within it end here


@dataclass
class Scene:
    """How far each pixel's ray travels and how steeply it descends, at the depth working size."""

    distance: np.ndarray  # metres, at most camera.far
    descent: np.ndarray  # metres down per metre along the ray (negative looking up)
    camera: Camera


def heldout_haze(clear: np.ndarray, rng: np.random.Generator, level: Optional[str] = None,
                 mean_transmission: Optional[float] = None, airlight=None, noise: Optional[float] = None,
                 jpeg_quality: Union[int, None, str] = "random", kind: Optional[str] = None,
                 sharpen: Optional[bool] = None) -> HazySample:
    """Haze a clear sRGB photo (H, W, 3) in [0, 1] with the held-out synthesizer.

    `level` ("light" or "dense"), the haze `kind` ("homogeneous" or "ground_fog") and
    `sharpen` are drawn unless given. `mean_transmission` fixes the density so the
    transmission map averages exactly this (a density sweep); otherwise it is drawn
    from the level's range. `airlight` (a grey level or RGB, sRGB) and `noise` (std at
    mid grey) replace the drawn ones; `jpeg_quality` is an int, None for no JPEG, or
    "random". `beta` is the optical depth of the haziest pixel: t never drops below exp(-beta).
    `clean_hazy` is the haze before the camera, and `noise` the sensor noise's std at mid grey.
    """
    if level not in (None, *LEVELS):
        raise ValueError(f"level must be one of {LEVELS} or None, not {level!r}")
    if mean_transmission is not None and not 0.0 < mean_transmission < 1.0:
        raise ValueError(f"mean_transmission must lie strictly between 0 and 1, not {mean_transmission}")
    if level is None:
        level = str(rng.choice(LEVELS)) if mean_transmission is None else nearest_level(mean_transmission)
    target = rng.uniform(*MEAN_TRANSMISSION[level]) if mean_transmission is None else mean_transmission
    kind = kind or str(rng.choice(HAZE_KINDS))
    small = fit_within(clear, DEPTH_SIDE)
    scene = scene_geometry(small, rng)
    path = to_size(optical_path(scene, kind, rng), clear.shape[:2])
    beta = density_for_mean_transmission(path, target)
    transmission = np.exp(-beta * path).astype(np.float32)
    airlight = haze_colour(small, scene.distance, rng) if airlight is None else airlight_channels(airlight).copy()
    noise = rng.uniform(*NOISE_RANGE) if noise is None else noise
    sharpen = rng.random() < SHARPEN_PROBABILITY if sharpen is None else sharpen
    jpeg_quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)) if jpeg_quality == "random" else jpeg_quality
    hazy_linear = scatter_in_linear_light(clear, transmission, airlight)
    hazy = camera_output(hazy_linear, rng, noise, sharpen, jpeg_quality)
    return HazySample(hazy=hazy, clear=clear.astype(np.float32), transmission=transmission, airlight=airlight,
                      beta=beta, level=level, jpeg_quality=jpeg_quality, clean_hazy=linear_to_srgb(hazy_linear),
                      noise=noise)


def sweep_haze(clear: np.ndarray, mean_transmission: float, rng: np.random.Generator) -> HazySample:
    """Even haze at a set mean transmission, everything else fixed, so scores can be plotted against density.

    As the density sweep specifies: one grey airlight (0.85), noise 0.01, JPEG 90,
    mean transmission from 0.80 down to 0.24. Sharpening is off so only density varies.
    """
    return heldout_haze(clear, rng, mean_transmission=mean_transmission, airlight=SWEEP_AIRLIGHT, noise=SWEEP_NOISE,
                        jpeg_quality=SWEEP_JPEG_QUALITY, kind="homogeneous", sharpen=False)


def nearest_level(mean_transmission: float) -> str:
    """The level whose range of mean transmission lies nearer, for naming swept haze."""
    between = (MEAN_TRANSMISSION["dense"][1] + MEAN_TRANSMISSION["light"][0]) / 2
    return "light" if mean_transmission >= between else "dense"


def to_size(image: np.ndarray, shape) -> np.ndarray:
    return image if image.shape[:2] == tuple(shape) else resize(image, shape[1], shape[0])


# Depth: a camera over flat ground, and layers that stand on it.


def scene_geometry(image: np.ndarray, rng: np.random.Generator) -> Scene:
    """Each ray's distance: the sky at the far limit, the ground per pixel, objects at the distance of their base."""
    layers = merged_layers(image, edge_regions(image))
    sky = sky_mask(image, layers)
    camera = random_camera(sky, rng)
    descent = ray_descent(sky.shape, camera)
    land = land_layers(image, layers, sky)
    distance = stacked_distance(land, ground_layers(land, descent), ground_distance(descent, camera), camera.far)
    return Scene(edge_aware_smoothed(distance, image, sky, camera.far), descent, camera)


def luminance(image: np.ndarray) -> np.ndarray:
    return image @ LUMA


def layer_means(values: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """The mean of `values` over each label 0..count-1 (0 for a label with no pixels)."""
    return np.bincount(labels.ravel(), values.ravel().astype(np.float64), count) / np.maximum(
        np.bincount(labels.ravel(), minlength=count), 1)


def pixels(image: np.ndarray, at_depth_side: float) -> float:
    """A length given in pixels of a DEPTH_SIDE image, in pixels of this one."""
    return at_depth_side * max(image.shape[:2]) / DEPTH_SIDE


def colour_gradient(image: np.ndarray) -> np.ndarray:
    """Per pixel, the magnitude of the slightly smoothed colour gradient, per pixel of a DEPTH_SIDE image."""
    smooth = ndimage.gaussian_filter(image, (pixels(image, 1.0), pixels(image, 1.0), 0))
    return np.sqrt(sum(np.gradient(smooth, axis=axis) ** 2 for axis in (0, 1)).sum(axis=2)) * pixels(image, 1.0)


def local_texture(image: np.ndarray) -> np.ndarray:
    """Per pixel, how far the colour strays from its Gaussian-smoothed surroundings, averaged nearby.

    Smoothing leaves straight ramps unchanged, so a sky's even gradient, however steep,
    is not texture; leaves, waves, bricks and the edges of objects are.
    """
    sigma = (pixels(image, TEXTURE_SIGMA), pixels(image, TEXTURE_SIGMA), 0)
    residual = np.abs(image - ndimage.gaussian_filter(image, sigma)).sum(axis=2)
    return ndimage.gaussian_filter(residual, sigma[:2])


def edge_regions(image: np.ndarray) -> np.ndarray:
    """Labels (H, W) of regions that graph-based segmentation (Felzenszwalb-Huttenlocher) bounds by colour edges.

    Pieces too small to be objects join a neighbour. A steep smooth gradient may still be
    cut in bands here; `merged_layers` joins regions that no clear edge parts.
    """
    labels = segmentation.felzenszwalb(image, scale=SEGMENT_SCALE, sigma=pixels(image, SEGMENT_SIGMA),
                                       min_size=max(1, int(SMALLEST_LAYER * image.shape[0] * image.shape[1])))
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape)


def merged_layers(image: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Labels (H, W) from 1: the regions joined wherever no clear edge parts them.

    An edge between two regions is clear where the colour gradient along it is strong in
    itself and stands well above the gradient inside the smoother of the two; otherwise
    they are one surface (bands of one sky gradient, two tones of one sea) and a distance
    step between them would cut through a smooth part of the photo.
    """
    gradient = colour_gradient(image)
    size = regions.max() + 1
    inside = layer_means(gradient, regions, size)
    pairs, strength = [], []
    for first, second, a, b in ((regions[:-1], regions[1:], gradient[:-1], gradient[1:]),
                                (regions[:, :-1], regions[:, 1:], gradient[:, :-1], gradient[:, 1:])):
        across = first != second
        pairs.append(np.sort(np.stack([first[across], second[across]]), axis=0))
        strength.append(np.maximum(a[across], b[across]))
    pairs, strength = np.concatenate(pairs, axis=1), np.concatenate(strength)
    keys, which = np.unique(pairs[0] * size + pairs[1], return_inverse=True)
    edge = np.bincount(which, strength, minlength=len(keys)) / np.maximum(np.bincount(which, minlength=len(keys)), 1)
    first, second = keys // size, keys % size
    faint = (edge < EDGE_STRENGTH) | (edge < EDGE_CONTRAST * np.minimum(inside[first], inside[second]))
    joined = sparse.coo_matrix((np.ones(int(faint.sum())), (first[faint], second[faint])), shape=(size, size))
    return csgraph.connected_components(joined, directed=False)[1][regions] + 1


def sky_mask(image: np.ndarray, layers: np.ndarray) -> np.ndarray:
    """Whether each pixel is sky: smooth, sky-coloured layers from the top edge, their clouds, and what they enclose.

    A layer is sky-coloured when most of it is bluish (blue at least red: day, dusk and
    night skies) or bright (overcast, a sunset glow); smooth when its typical texture
    is low, however steep its gradient. Clouds are textured: bright, greyish layers in
    the upper half of the frame that border the sky join it. So does whatever the sky
    and the top and side edges of the frame enclose: what does not reach the bottom
    edge through other land cannot stand on the ground (a cloud, a bird, a kite).
    Layers end at clear edges, so a horizon line keeps the sky out of the sea.
    """
    count = layers.max() + 1
    brightness = luminance(image)
    texture = np.full(count, np.inf)
    present = np.unique(layers)
    texture[present] = ndimage.median(local_texture(image), layers, present)
    coloured = (brightness >= SKY_DARKEST) & ((image[:, :, 2] >= image[:, :, 0]) | (brightness >= SKY_BRIGHT))
    pieces, _ = ndimage.label(((layer_means(coloured, layers, count) >= 0.5) & (texture <= SKY_TEXTURE))[layers])
    sky = np.isin(pieces, pieces[0][pieces[0] > 0])
    if sky.mean() < SKY_SMALLEST:
        return np.zeros_like(sky)
    saturation = (image.max(axis=2) - image.min(axis=2)) / np.maximum(image.max(axis=2), 1e-6)
    upper = np.arange(layers.shape[0])[:, None] < layers.shape[0] / 2
    upper = np.broadcast_to(upper, layers.shape)
    cloud_like = ((layer_means(brightness, layers, count) >= CLOUD_LUMINANCE)
                  & (layer_means(saturation, layers, count) <= CLOUD_SATURATION)
                  & (texture <= CLOUD_TEXTURE) & (layer_means(upper, layers, count) >= CLOUD_UPPER_SHARE))
    for _ in range(CLOUD_STEPS):
        bordering = np.unique(layers[ndimage.binary_dilation(sky) & ~sky])
        joining = bordering[cloud_like[bordering]]
        if not joining.size:
            break
        sky |= np.isin(layers, joining)
        cloud_like[joining] = False
    framed = np.pad(sky, ((1, 0), (1, 1)), constant_values=True)  # open only at the bottom edge
    return ndimage.binary_fill_holes(framed)[1:, 1:-1]


def land_layers(image: np.ndarray, layers: np.ndarray, sky: np.ndarray) -> np.ndarray:
    """Labels (H, W) from 1 of the connected pieces of each layer outside the sky, 0 for the sky.

    Pieces too small to be objects (slivers the sky leaves along the horizon or between
    grass blades) or too thin (the strips of blended colour that segmentation leaves
    along an edge) are no layers of their own: their pixels join the neighbouring piece
    whose colour is nearest, so that a distance step lands on the photo's edge.
    """
    land, count = ndimage.label(~sky)
    pieces = np.where(sky, 0, layers.astype(np.int64) * (count + 1) + land)
    pieces = np.unique(pieces, return_inverse=True)[1].reshape(pieces.shape) + (0 if sky.any() else 1)
    size = pieces.max() + 1
    interior = np.zeros(pieces.shape, bool)
    interior[1:-1, 1:-1] = ((pieces[1:-1, 1:-1] == pieces[:-2, 1:-1]) & (pieces[1:-1, 1:-1] == pieces[2:, 1:-1])
                            & (pieces[1:-1, 1:-1] == pieces[1:-1, :-2]) & (pieces[1:-1, 1:-1] == pieces[1:-1, 2:]))
    area = np.bincount(pieces.ravel(), minlength=size)
    inside = np.bincount(pieces.ravel(), interior.ravel(), size)
    loose = (area < SMALLEST_LAYER * pieces.size) | (inside < THIN_LAYER * area)
    loose = loose[pieces] & ~sky
    if loose.any() and not (loose | sky).all():
        pieces = join_nearest_in_colour(image, pieces, loose)
        pieces = np.unique(pieces, return_inverse=True)[1].reshape(pieces.shape) + (0 if sky.any() else 1)
    return pieces


def join_nearest_in_colour(image: np.ndarray, pieces: np.ndarray, loose: np.ndarray) -> np.ndarray:
    """`pieces` with each loose pixel given the label of a settled neighbour, grown inward a ring at a time.

    Of its settled 4-neighbours' pieces, a loose pixel joins the one whose mean colour is
    nearest its own. What no settled land reaches (loose land walled in by sky) joins
    the nearest settled pixel.
    """
    pieces = np.where(loose, -1, pieces)
    size = pieces.max() + 1
    settled = (pieces > 0) & ~loose
    mean_colour = np.stack([layer_means(image[:, :, channel], np.where(settled, pieces, 0), size)
                            for channel in range(3)], axis=1)
    while (pieces < 0).any():
        best, nearest = np.full(pieces.shape, np.inf), pieces.copy()
        for axis, shift in ((0, 1), (0, -1), (1, 1), (1, -1)):
            neighbour = np.roll(pieces, shift, axis=axis)
            edge = [slice(None)] * 2
            edge[axis] = 0 if shift == 1 else -1
            neighbour[tuple(edge)] = -1  # no wrapping round the frame
            candidate = (pieces < 0) & (neighbour > 0)
            distance = np.where(candidate, np.abs(image - mean_colour[np.maximum(neighbour, 0)]).sum(axis=2), np.inf)
            better = distance < best
            best, nearest = np.where(better, distance, best), np.where(better, neighbour, nearest)
        if not np.isfinite(best).any():
            reach = ndimage.distance_transform_edt(pieces <= 0, return_distances=False, return_indices=True)
            return np.where(pieces < 0, pieces[tuple(reach)], pieces)
        pieces = nearest
    return pieces


def random_camera(sky: np.ndarray, rng: np.random.Generator) -> Camera:
    """A camera of random height and field of view, tilted so its horizon runs along the bottom of the sky.

    Sky above the horizon meets no ground, so it lies at the far distance. Without sky
    the view is closed: the horizon lies a drawn angle above the top of the frame.
    """
    height = rng.uniform(*CAMERA_HEIGHT)
    fov = np.radians(rng.uniform(*VERTICAL_FOV))
    far = height * rng.uniform(*FAR_HEIGHTS)
    if sky[0].any():
        rows = sky.shape[0]
        below_sky = rows - np.argmax(sky[::-1], axis=0)[sky[0]]  # per column, the row under the sky
        skyline = np.percentile(below_sky, SKYLINE_PERCENTILE)
        tilt = -np.arctan((skyline - rows / 2) / focal_length(rows, fov))
    else:
        tilt = fov / 2 + np.radians(rng.uniform(*HORIZON_HIDDEN))
    return Camera(height, float(tilt), fov, far)


def focal_length(rows: int, vertical_fov: float) -> float:
    """In pixels."""
    return rows / 2 / np.tan(vertical_fov / 2)


def ray_descent(shape, camera: Camera) -> np.ndarray:
    """Per pixel, how far its ray drops per metre travelled: the sine of its angle below the horizon."""
    rows, cols = shape
    focal = focal_length(rows, camera.vertical_fov)
    down = (np.arange(rows) + 0.5 - rows / 2)[:, None] / focal
    across = (np.arange(cols) + 0.5 - cols / 2)[None, :] / focal
    return (down * np.cos(camera.tilt) + np.sin(camera.tilt)) / np.sqrt(down**2 + across**2 + 1)


def ground_distance(descent: np.ndarray, camera: Camera) -> np.ndarray:
    """How far each ray travels before it meets the ground, at most the far distance."""
    with np.errstate(divide="ignore"):
        return np.where(descent > 0, np.minimum(camera.height / descent, camera.far), camera.far)


def ground_layers(layers: np.ndarray, descent: np.ndarray) -> np.ndarray:
    """Per land layer (label 0, the sky, never is), whether it is the ground itself rather than an object on it.

    The ground recedes to the horizon, however textured or smooth it is: a layer along
    the bottom edge (GROUND_SHARE of it: a meadow, a road, the near sea) whose far edge
    lies below the horizon; or, where the sky shows where the horizon is, a layer lying
    mostly below it (the far sea, a plain, distant hills). A layer on the bottom edge
    that rises above the horizon, or fills the frame up to its top rows, is an upright
    object close by (a wall, an animal seen close up). Without sky the horizon is out
    of sight, and only the layers on the bottom edge are ground.
    """
    count = layers.max() + 1
    index = np.arange(count)
    on_bottom = np.bincount(layers[-1], minlength=count) / layers.shape[1] >= GROUND_SHARE
    far_edge = np.zeros(count, np.int64)
    for layer in np.nonzero(on_bottom)[0]:
        far_edge[layer] = far_edge_row(layers == layer)
    ground = on_bottom & (descent[far_edge, layers.shape[1] // 2] > 0) & (far_edge >= FAR_EDGE_LOWEST * layers.shape[0])
    if (layers == 0).any():
        ground |= layer_means(descent > 0, layers, count) >= BELOW_HORIZON
    return ground & (index > 0)


def far_edge_row(inside: np.ndarray) -> int:
    """A layer's far edge: the row that FAR_EDGE_PERCENTILE of the columns it spans reach above.

    What rises higher in a few columns (grass blades, a wall merged into the street it
    stands on) stands on the ground at this edge.
    """
    return int(np.percentile(np.argmax(inside, axis=0)[inside.any(axis=0)], FAR_EDGE_PERCENTILE, method="lower"))


def stacked_distance(layers: np.ndarray, is_ground: np.ndarray, ground: np.ndarray, far: float) -> np.ndarray:
    """Distance per pixel: the sky (label 0) far, the ground per pixel, and each object at the distance of its base.

    The ground recedes pixel by pixel toward the horizon, where it meets the sky at the
    far limit. Without sky the horizon is out of sight and the view is closed: what
    rises above the ground's far edge (the wall of a street, merged with it in one
    layer) stands there. Every other layer is an upright object at one distance: that
    of what is right under its base (the ground at the bottom edge; the sky holds
    nothing up). Its base is the lowest of its columns' lowest pixels once the few
    lowest (BASE_PERCENTILE: a reflection, a stray tail) are set aside. Layers are
    placed from the lowest base up, so what an object stands on comes first.
    """
    rows = layers.shape[0]
    distance = np.where(layers == 0, far, 0.0)
    row_index, col_index = np.indices(layers.shape)
    sky_shows = (layers == 0).any()
    for layer in np.nonzero(is_ground)[0]:
        inside = layers == layer
        top = 0 if sky_shows else far_edge_row(inside)
        distance[inside] = ground[np.maximum(row_index, top), col_index][inside]
    bases = {}
    for layer in range(1, layers.max() + 1):
        inside = layers == layer
        if is_ground[layer] or not inside.any():
            continue
        spanned = np.nonzero(inside.any(axis=0))[0]
        lowest = rows - 1 - np.argmax(inside[::-1, spanned], axis=0)
        base = np.percentile(lowest, BASE_PERCENTILE, method="lower")
        bases[layer] = (base, spanned[lowest <= base], lowest[lowest <= base])
    placed = np.asarray(is_ground).copy()  # what may hold an object up: the ground, then each object placed
    for layer, (base, under, lowest) in sorted(bases.items(), key=lambda item: item[1][0], reverse=True):
        on_edge = lowest == rows - 1
        below = np.minimum(lowest + 1, rows - 1)
        holds = on_edge | placed[layers[below, under]]
        support = np.where(on_edge, ground[rows - 1, under], distance[below, under])[holds]
        # Resting on nothing placed yet: on the ground just below its base.
        distance[layers == layer] = support.min() if support.size else ground[min(base + 1, rows - 1), under].min()
        placed[layer] = True
    return distance


def edge_aware_smoothed(distance: np.ndarray, image: np.ndarray, sky: np.ndarray, far: float) -> np.ndarray:
    """The distance after a guided filter steered by the photo's luminance, the sky kept at the far limit.

    Steps stay where the photo has an edge to carry them and melt into ramps where it
    has none, so no haze boundary shows inside a smooth part of the photo.
    """
    guide = luminance(image).astype(np.float32)
    radius = max(1, round(SMOOTHING_RADIUS * max(distance.shape)))
    smooth = guided_filter(guide, (distance / far).astype(np.float32), radius, SMOOTHING_EPS) * far
    smooth = np.clip(smooth, distance.min(), far)
    return np.where(sky, far, smooth)


# Haze: how much scattering medium each ray crosses.


def optical_path(scene: Scene, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Optical depth per pixel up to a density scale, normalized so the haziest pixel has 1."""
    if kind == "homogeneous":
        path = scene.distance
    elif kind == "ground_fog":
        path = ground_fog_path(scene, scene.camera.height * rng.uniform(*FOG_SCALE_HEIGHTS))
        path = path * (1.0 + fog_patches(path.shape, rng))
    else:
        raise ValueError(f"kind must be one of {HAZE_KINDS}, not {kind!r}")
    return (path / path.max()).astype(np.float32)


def ground_fog_path(scene: Scene, scale_height: float) -> np.ndarray:
    """The integral of fog density exp(-z / H) along each ray, exactly.

    A ray leaves the camera at height h and is at z = h - s * descent after s metres,
    so the integral to distance d is exp(-h/H) * d * (e^x - 1) / x with x = d * descent / H.
    Rays through the ground's fog layer gather most; rays climbing into the sky soon leave it.
    """
    gain = scene.distance * scene.descent / scale_height
    safe_gain = np.where(np.abs(gain) < 1e-9, 1.0, gain)
    growth = np.where(np.abs(gain) < 1e-9, 1.0, np.expm1(safe_gain) / safe_gain)
    return np.exp(-scene.camera.height / scale_height) * scene.distance * growth


def fog_patches(shape, rng: np.random.Generator) -> np.ndarray:
    """Extra density (relative) from a few Gaussian patches of thicker fog, where fog drifts and pools."""
    rows, cols = np.indices(shape)
    extra = np.zeros(shape)
    for _ in range(rng.integers(*FOG_PATCHES)):
        centre_row, centre_col = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        sigma = rng.uniform(*FOG_PATCH_SIZE) * max(shape)
        extra += rng.uniform(*FOG_PATCH_DENSITY) * np.exp(
            -((rows - centre_row) ** 2 + (cols - centre_col) ** 2) / (2 * sigma**2))
    return extra


def density_for_mean_transmission(path: np.ndarray, mean_transmission: float) -> float:
    """The density beta at which exp(-beta * path) averages `mean_transmission` (mean t falls as beta grows)."""
    path = path.astype(np.float64)
    excess = lambda beta: np.exp(-beta * path).mean() - mean_transmission
    high = 1.0
    while excess(high) > 0:
        high *= 2
        if high > 1e6:
            raise ValueError(f"no density makes this scene's mean transmission {mean_transmission}")
    return float(optimize.brentq(excess, 0.0, high, xtol=1e-6))


def haze_colour(image: np.ndarray, distance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The airlight (sRGB, 3 values): the colour this photo fades to with distance.

    The mean of its farthest pixels (often sky or the far horizon), pulled toward grey
    since haze scatters all colours nearly alike, brightened into 0.55-1, and now and
    then tinted warm (smog, low sun) or cool (daylight haze).
    """
    farthest = image[distance >= np.quantile(distance, 1 - FARTHEST_SHARE)].mean(axis=0)
    grey = farthest.mean()
    level = np.clip(grey * rng.uniform(*BRIGHTENING), *AIRLIGHT_RANGE)
    colour = level + rng.uniform(*CHROMA_KEPT) * (farthest - grey)
    roll, tint = rng.random(), rng.uniform(*TINT)
    if roll < WARM_PROBABILITY:
        colour = colour + tint * np.array([1.0, 0.3, -1.0])
    elif roll < WARM_PROBABILITY + COOL_PROBABILITY:
        colour = colour + tint * np.array([-1.0, 0.0, 1.0])
    return np.clip(colour, *AIRLIGHT_RANGE).astype(np.float32)


def scatter_in_linear_light(clear: np.ndarray, transmission: np.ndarray, airlight) -> np.ndarray:
    """The hazy scene in linear light, before any camera: I = J t + A (1 - t), J and A given in sRGB.

    Light adds in linear units; mixing gamma-encoded values would make haze too dark.
    """
    t = transmission[:, :, None]
    return srgb_to_linear(clear) * t + srgb_to_linear(airlight_channels(airlight)) * (1.0 - t)


# Camera: what the sensor and the processing after it do to the hazy scene.


def camera_output(linear: np.ndarray, rng: np.random.Generator, noise: float, sharpen: bool,
                  jpeg_quality: Optional[int]) -> np.ndarray:
    """Sensor noise in linear light, sRGB encoding, optional sharpening, 8 bits and optional JPEG."""
    encoded = linear_to_srgb(linear + sensor_noise(linear, noise, rng))
    if sharpen:
        encoded = sharpened(encoded, rng.uniform(*SHARPEN_AMOUNT), rng.uniform(*SHARPEN_RADIUS))
    if jpeg_quality is None:
        return to_uint8(encoded) / np.float32(255)
    return opencv_jpeg_round_trip(encoded, jpeg_quality)


def sensor_noise(linear: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Read noise plus shot noise, whose variance grows with the light gathered, plus blotchy colour noise.

    `noise` is the std at mid grey. Colour noise is smoothed and has no grey part, as
    demosaicing and noise reduction leave it: blotches of hue, not grain.
    """
    variance = noise**2 * (READ_NOISE_SHARE + (1 - READ_NOISE_SHARE) * np.maximum(linear, 0.0) / MID_GREY_LINEAR)
    grain = rng.standard_normal(linear.shape) * np.sqrt(variance)
    colour = ndimage.gaussian_filter(rng.standard_normal(linear.shape), (COLOUR_NOISE_SIZE, COLOUR_NOISE_SIZE, 0))
    colour -= colour.mean(axis=2, keepdims=True)
    colour *= COLOUR_NOISE_SHARE * noise / max(colour.std(), 1e-12)
    return (grain + colour).astype(np.float32)


def sharpened(image: np.ndarray, amount: float, radius: float) -> np.ndarray:
    """Unsharp masking of luminance, as camera processing sharpens detail without touching colour."""
    brightness = luminance(image)
    detail = brightness - ndimage.gaussian_filter(brightness, radius)
    return np.clip(image + amount * detail[:, :, None], 0.0, 1.0).astype(np.float32)


def opencv_jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """The image after JPEG encoding and decoding by OpenCV's libjpeg (4:2:0 chroma)."""
    ok, encoded = cv2.imencode(".jpg", to_uint8(image)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not encode the image as JPEG")
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1] / np.float32(255)


# A held-out evaluation set on disk.


def write_heldout_set(clear_folder, out_folder, seed: int) -> list:
    """Write one light and one dense hazy image per photo, RESIDE style, and return the hazy paths.

    `out/hazy/<stem>_<level>_<beta>_<airlight>.png` pairs with `out/clear/<stem>.png`, as
    `dehaze.training.evaluate` reads them. Each photo's haze depends only on the seed
    and its name, so adding photos leaves the others' haze unchanged.
    """
    out_folder = Path(out_folder)
    (out_folder / "hazy").mkdir(parents=True, exist_ok=True)
    (out_folder / "clear").mkdir(parents=True, exist_ok=True)
    written = []
    for path in list_images(clear_folder):
        clear = load_image(path)
        save_image(clear, out_folder / "clear" / f"{path.stem}.png")
        rng = np.random.default_rng([seed, zlib.crc32(path.stem.encode())])
        for level in LEVELS:
            sample = heldout_haze(clear, rng, level=level)
            name = f"{path.stem}_{level}_{sample.beta:.2f}_{sample.airlight.mean():.2f}.png"
            save_image(sample.hazy, out_folder / "hazy" / name)
            written.append(out_folder / "hazy" / name)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write a held-out hazy evaluation set (never use it for training).")
    parser.add_argument("clear_folder", help="folder of clear photos (png, jpg, webp)")
    parser.add_argument("out_folder", help="receives hazy/ and clear/ in the RESIDE layout")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    written = write_heldout_set(args.clear_folder, args.out_folder, args.seed)
    print(f"wrote {len(written)} hazy images to {Path(args.out_folder) / 'hazy'}")


if __name__ == "__main__":
    main()
