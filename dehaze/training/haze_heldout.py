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
   found). The photo is cut into layers of even smoothed brightness; the ground and
   the sky follow the camera's ground distance, and every other layer is an object
   standing on what lies beneath it, at one distance throughout.
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
from scipy import ndimage, optimize

from ..image_io import fit_within, load_image, resize, save_image, to_uint8
from ..scattering import airlight_channels, linear_to_srgb, srgb_to_linear
from .datasets import list_images
from .haze import HazySample

LEVELS = ("light", "dense")
MEAN_TRANSMISSION = {"light": (0.5, 0.85), "dense": (0.15, 0.35)}
HAZE_KINDS = ("homogeneous", "ground_fog")
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec. 709 weights of sRGB's primaries

DEPTH_SIDE = 256  # depth is worked out on a copy this large, then scaled to the photo
LUMINANCE_BANDS = (4, 9)  # how many brightness bands the layers are cut from (drawn, upper bound excluded)
SMALLEST_LAYER = 0.004  # share of the frame below which a piece is texture, not an object
GROUND_SHARE = 0.25  # share of the bottom edge a layer must cover to be the ground itself
SKY_LUMINANCE = 0.2  # sky is brighter than this: blue sky is about 0.45, a grey storm sky 0.2-0.3
SKY_TEXTURE = 0.02  # mean luminance gradient per pixel (at DEPTH_SIDE) above which a layer is not sky
SKYLINE_PERCENTILE = 90  # of the sky's lower edge over columns: the horizon, below all but a few stray sky columns

CAMERA_HEIGHT = (1.5, 30.0)  # metres
CAMERA_TILT = (-4.0, 12.0)  # degrees below the horizon
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
    """Each ray's distance: the ground and sky follow the camera, every other layer stands on what is beneath it."""
    layers = luminance_layers(image, int(rng.integers(*LUMINANCE_BANDS)))
    sky = sky_layers(image, layers)
    camera = random_camera(layers, sky, rng)
    descent = ray_descent(layers.shape, camera)
    ground = ground_distance(descent, camera)
    follows_ground = sky | (bottom_edge_share(layers) >= GROUND_SHARE)
    return Scene(stacked_distance(layers, follows_ground, ground), descent, camera)


def luminance(image: np.ndarray) -> np.ndarray:
    return image @ LUMA


def luminance_layers(image: np.ndarray, bands: int) -> np.ndarray:
    """Labels (H, W) of connected regions of even brightness: smoothed luminance cut into equal-share bands.

    Objects tend to be evenly lit and coloured, so such regions stand for objects
    without a trained segmenter. Pieces too small to be objects are texture: their
    pixels join the nearest large region.
    """
    smooth = ndimage.gaussian_filter(luminance(image), sigma=max(image.shape[:2]) / 100)
    band = np.digitize(smooth, np.quantile(smooth, np.linspace(0, 1, bands + 1)[1:-1]))
    layers = np.zeros(band.shape, np.int64)
    for value in np.unique(band):
        pieces, count = ndimage.label(band == value)
        layers[pieces > 0] = pieces[pieces > 0] + layers.max()
    small = (np.bincount(layers.ravel()) < SMALLEST_LAYER * layers.size)[layers]
    if small.all():
        return np.zeros(layers.shape, np.int64)
    nearest = ndimage.distance_transform_edt(small, return_distances=False, return_indices=True)
    return np.unique(layers[tuple(nearest)], return_inverse=True)[1].reshape(layers.shape)


def sky_layers(image: np.ndarray, layers: np.ndarray) -> np.ndarray:
    """Per layer, whether it is sky: not dark, smooth, and joined to the top edge through such layers.

    A sky's brightness gradient cuts it into several bands, and only the top one touches
    the edge. Layers on the bottom edge are ground however smooth (snow, a road, calm water).
    """
    index = np.arange(layers.max() + 1)
    brightness = luminance(image)
    texture = np.hypot(*np.gradient(brightness))
    bright = ndimage.mean(brightness, layers, index) >= SKY_LUMINANCE
    smooth = ndimage.mean(texture, layers, index) <= SKY_TEXTURE
    off_bottom = bottom_edge_share(layers) == 0
    pieces, _ = ndimage.label((bright & smooth & off_bottom)[layers])
    reaching_top = np.isin(pieces, pieces[0][pieces[0] > 0])
    return np.isin(index, layers[reaching_top])


def bottom_edge_share(layers: np.ndarray) -> np.ndarray:
    """Per layer, the share of the bottom edge it covers."""
    return np.bincount(layers[-1], minlength=layers.max() + 1) / layers.shape[1]


def random_camera(layers: np.ndarray, sky: np.ndarray, rng: np.random.Generator) -> Camera:
    """A camera of random height and field of view, tilted so its horizon runs along the bottom of the sky.

    Sky above the horizon meets no ground, so it lies at the far distance. Without sky the tilt is drawn.
    """
    height = rng.uniform(*CAMERA_HEIGHT)
    fov = np.radians(rng.uniform(*VERTICAL_FOV))
    far = height * rng.uniform(*FAR_HEIGHTS)
    sky_pixels = sky[layers]
    if sky_pixels[0].any():
        rows = layers.shape[0]
        below_sky = rows - np.argmax(sky_pixels[::-1], axis=0)[sky_pixels[0]]  # per column, the row under the sky
        skyline = np.percentile(below_sky, SKYLINE_PERCENTILE)
        tilt = -np.arctan((skyline - rows / 2) / focal_length(rows, fov))
    else:
        tilt = np.radians(rng.uniform(*CAMERA_TILT))
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


def stacked_distance(layers: np.ndarray, follows_ground: np.ndarray, ground: np.ndarray) -> np.ndarray:
    """Distance per pixel where each object layer stands on whatever lies beneath its lowest pixels.

    Layers that `follows_ground` (the ground itself, the sky) keep the ground distance
    of each pixel. Every other layer is an upright object at one distance: that of
    what is right under its lowest row (the ground at the bottom edge). Layers are
    placed from the lowest up, so what an object stands on is always placed first.
    """
    distance = np.where(follows_ground[layers], ground, 0.0)
    rows = layers.shape[0]
    objects = [layer for layer in range(len(follows_ground)) if not follows_ground[layer]]
    lowest_row = {layer: np.nonzero((layers == layer).any(axis=1))[0].max() for layer in objects}
    for layer in sorted(objects, key=lowest_row.get, reverse=True):
        row = lowest_row[layer]
        cols = np.nonzero(layers[row] == layer)[0]
        support = ground[row, cols] if row == rows - 1 else distance[row + 1, cols]
        distance[layers == layer] = support.min()
    return distance


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
