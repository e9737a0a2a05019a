"""Evaluate every method: PSNR and SSIM on a paired folder, and what PSNR does not show.

    python -m dehaze.training.evaluate data/val --csv results.csv
    python -m dehaze.training.evaluate --sheet sheet.jpg --photos examples/real_*.jpg
    python -m dehaze.training.evaluate --real data/real/*.png --csv invented.csv
    python -m dehaze.training.evaluate --fog-sky data/val/clear
    python -m dehaze.training.evaluate --sweep data/val/clear --densities 0.8 0.5 0.24 --csv sweep.csv
    python -m dehaze.training.evaluate --jpeg-blocks data/val/clear

On a paired folder (RESIDE layout): PSNR and SSIM per image and on average.
'input' is the hazy image itself, the score of doing nothing. Hazy files named
`<photo>_light_...` or `<photo>_dense_...` (as `dehaze.training.prepare_data` writes them)
are also averaged by haze level, and each method counts the images on which it
beats DCP. Every clear photo of the folder is also run through each method as if
it were hazy: 'haze-free' is the PSNR of that output against the photo itself,
which is high when a method leaves a clear photo alone.

A method can also paint shapes into fog (sky patches, dark clouds, blotches) that a
mean PSNR over synthetic haze hardly shows. Three measures look for them:

--real      invented structure on real hazy photos, without ground truth: removing haze
            of transmission t raises local contrast at most 1/t times, so where the output
            has more than ten times the input's (t = 0.1), the method drew structure that
            the input does not hold. Per method: the mean share of such pixels, the photos
            above 1% and the worst one (`invented_structure`).
--fog-sky   clear photos with sky, hazed densely, their sky replaced by pure fog (the
            airlight and sensor noise), so that no method can know what sky was there:
            the saturation of the output's low frequencies over that sky is colour the
            method invented (`fog_sky_saturation`; goal: at most 0.03 on average). 'input'
            is the fog's own, the airlight's tint; with --grey-fog the fog is one grey (the
            airlight's mean), as the goal was first measured, and its own saturation about 0.
--sweep     mean PSNR of the input and of every method over a grid of haze densities
            (mean transmission from 0.8 down to 0.15), and each method's margin over DCP
            with the number of images on which it beats DCP: where a method stops helping as
            the haze thickens, and whether a margin is broad or carried by a few photos
            (`density_sweep`). A second table scores only the pixels the haze left at
            t >= 0.1, where the scene can be recovered within the tenfold gain the
            invented-structure score allows (`reachable_pixels`).
--jpeg-blocks  clear photos hazed densely and saved as JPEG (quality 75): dividing by a small
            t amplifies the blocks' edges, so each output's block-edge energy is divided by
            that of the clear photo saved the same way (goal: at most 1.10x on average).
"""

import argparse
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from scipy.ndimage import binary_erosion, gaussian_filter, uniform_filter
from tqdm import tqdm

from ..image_io import fit_within, load_image, resize, save_image
from ..metrics import psnr, score
from ..pipeline import METHODS, WORKING_SIZE, dehaze
from .datasets import PairedFolderDataset, list_images
from .haze import HazySample, jpeg_round_trip, luminance, random_haze, sky_mask
from .prepare_data import write_csv

LEVELS = ("light", "dense")
HAZE_FREE = "haze-free"
SEED = 0  # of the haze --fog-sky and --sweep make, so that runs compare

MEASURE_SIDE = 512  # the measures below see every image at 512 px on its longer side, so pixels mean the same
INVENTED_SMOOTHING = 2.0  # px: sigma of the Gaussian on luminance, so that noise and JPEG blocks are not structure
INVENTED_WINDOW = 15  # px: side of the square over which local contrast (standard deviation) is taken
INVENTED_FLOOR = 0.03  # local contrast below this is faint texture, not a shape
INVENTED_GAIN = 10.0  # 1 / t for t = 0.1: the most that removing haze may raise local contrast...
INVENTED_SLACK = 0.02  # ...give or take this much
INVENTED_ALERT = 0.01  # a photo with more than 1% invented pixels shows a shape

FOG_SKY_PHOTOS = 6
MIN_SKY_SHARE = 0.08  # of the frame: less sky says too little
FOG_NOISE = 0.01  # sensor noise on the pure fog
FOG_SKY_BLUR = 4.0  # px: the output's low frequencies, patches and tints rather than noise
HORIZON_MARGIN = 4  # px the sky is eroded by, so that land blurred across the horizon does not count
FOG_SKY_GOAL = 0.03

SWEEP_DENSITIES = (0.8, 0.7, 0.6, 0.5, 0.4, 0.32, 0.24, 0.15)  # mean transmission, thin haze to dense


def haze_level(name: str) -> str:
    """'light' or 'dense' from a hazy file's name, '' where it does not say."""
    return next((level for level in LEVELS if f"_{level}_" in f"{name}_"), "")


def run(method, image, working_size):
    """(output, seconds) of a method; "LABEL=FILE" runs the generator in FILE as "gan" (see `generator_file`)."""
    start = time.perf_counter()
    generator = method.partition("=")[2]
    with generator_file(generator):
        output = image if method == "input" else dehaze(image, "gan" if generator else method, working_size).image
    return output, time.perf_counter() - start


@contextmanager
def generator_file(path: str):
    """Run "gan" with the generator in `path` (a candidate, or an earlier one kept for comparison) while inside."""
    before = os.environ.get("DEHAZE_GENERATOR")
    if path:
        os.environ["DEHAZE_GENERATOR"] = path
    try:
        yield
    finally:
        if path and before is None:
            del os.environ["DEHAZE_GENERATOR"]
        elif path:
            os.environ["DEHAZE_GENERATOR"] = before


def label(method: str) -> str:
    """The name a method's rows carry: LABEL of a LABEL=FILE generator, else the method itself."""
    return method.partition("=")[0]


def method_spec(text: str) -> str:
    """A --methods entry: 'input', a method name, or LABEL=FILE for another generator file."""
    path = text.partition("=")[2]
    if path:
        if not Path(path).is_file():
            raise argparse.ArgumentTypeError(f"{path} is not a generator file")
        return text
    if text not in ("input", *METHODS):
        raise argparse.ArgumentTypeError(f"choose from input, {', '.join(METHODS)}, or LABEL=generator.safetensors")
    return text


def evaluate(root, methods=("input",) + METHODS, working_size=WORKING_SIZE, haze_free=True):
    """Rows of {image, level, method, psnr, ssim, seconds} for every hazy image (and clear photo) and method."""
    rows = []
    dataset = PairedFolderDataset(root)
    for name, hazy, clear in tqdm(dataset, desc="evaluate", total=len(dataset)):
        for method in methods:
            output, seconds = run(method, hazy, working_size)
            rows.append({"image": name, "level": haze_level(name), "method": label(method), **score(output, clear),
                         "seconds": seconds})
    clear_photos = sorted({clear for _, clear in dataset.pairs}) if haze_free else []
    for path in tqdm(clear_photos, desc="haze-free"):
        clear = load_image(path)
        for method in methods:
            output, seconds = run(method, clear, working_size)
            rows.append({"image": path.stem, "level": HAZE_FREE, "method": label(method), **score(output, clear),
                         "seconds": seconds})
    return rows


def summarize(rows):
    """Per method: mean PSNR/SSIM on hazy images, mean PSNR per level, wins over DCP, haze-free PSNR."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    hazy = [r for r in rows if r["level"] != HAZE_FREE]
    dcp = {r["image"]: r["psnr"] for r in hazy if r["method"] == "dcp"}
    mean = lambda selected, key: float(np.mean([r[key] for r in selected])) if selected else float("nan")
    summary = []
    for method in methods:
        mine = [r for r in hazy if r["method"] == method]
        summary.append({
            "method": method, "psnr": mean(mine, "psnr"), "ssim": mean(mine, "ssim"),
            **{level: mean([r for r in mine if r["level"] == level], "psnr") for level in LEVELS},
            "beats_dcp": sum(r["psnr"] > dcp[r["image"]] for r in mine) if dcp and method != "dcp" else None,
            "images": len(mine),
            HAZE_FREE: mean([r for r in rows if r["method"] == method and r["level"] == HAZE_FREE], "psnr"),
            "seconds": mean(mine, "seconds"),
        })
    return summary


def format_table(summary) -> str:
    lines = [f"{'method':8s} {'PSNR':>6s} {'SSIM':>6s} {'light':>6s} {'dense':>6s} {'beats DCP':>10s} "
             f"{'haze-free':>9s} {'s/image':>8s}   ({summary[0]['images']} hazy images; PSNR in dB)"]
    for s in summary:
        wins = "-" if s["beats_dcp"] is None else f"{s['beats_dcp']}/{s['images']}"
        lines.append(f"{s['method']:8s} {s['psnr']:6.2f} {s['ssim']:6.3f} {s['light']:6.2f} {s['dense']:6.2f} "
                     f"{wins:>10s} {s[HAZE_FREE]:9.2f} {s['seconds']:8.2f}")
    return "\n".join(lines)


def contact_sheet(photos, out, methods=METHODS, width=320, working_size=WORKING_SIZE) -> None:
    """A before/after sheet for photos without ground truth: one row per photo, the input then each method."""
    rows = []
    for path in photos:
        hazy = load_image(path)
        height = round(hazy.shape[0] * width / hazy.shape[1])
        cells = [hazy] + [run(method, hazy, working_size)[0] for method in methods]
        rows.append(np.concatenate([resize(cell, width, height) for cell in cells], axis=1))
    save_image(np.concatenate(rows, axis=0), out)
    print(f"wrote {out}: columns input, {', '.join(label(method) for method in methods)}")


# Invented structure: real hazy photos without ground truth

def measure_size(shape, side: int = MEASURE_SIDE) -> tuple:
    """(width, height) of an image of `shape` resized, up or down, to `side` px on its longer side."""
    height, width = shape[:2]
    scale = side / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def local_contrast(image: np.ndarray, size: tuple) -> np.ndarray:
    """Standard deviation of the smoothed luminance over 15 x 15 px, with the image resized to `size`."""
    gray = gaussian_filter(luminance(resize(image, *size)).astype(np.float64), INVENTED_SMOOTHING)
    mean = uniform_filter(gray, INVENTED_WINDOW)
    return np.sqrt(np.maximum(uniform_filter(gray**2, INVENTED_WINDOW) - mean**2, 0.0))


def invented_structure_map(hazy: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Where the output shows structure the hazy input does not hold: bool, 512 px on the longer side.

    Removing haze of transmission t multiplies local contrast by at most 1/t. Where the
    output has more than a faint texture and more than ten times the input's contrast
    (t = 0.1) give or take a little, it was not drawn out of the haze but painted into it.
    """
    size = measure_size(hazy.shape)
    before, after = local_contrast(hazy, size), local_contrast(output, size)
    return (after > INVENTED_FLOOR) & (after > INVENTED_GAIN * before + INVENTED_SLACK)


def invented_structure(hazy: np.ndarray, output: np.ndarray) -> float:
    """Share of the picture where the output invented structure (see `invented_structure_map`)."""
    return float(invented_structure_map(hazy, output).mean())


def evaluate_real(photos, methods=METHODS, working_size=WORKING_SIZE):
    """Rows of {image, method, invented} for real hazy photos, which have no clear photo to compare with."""
    rows = []
    for path in tqdm(photos, desc="invented structure"):
        hazy = load_image(path)
        for method in methods:
            output, _ = run(method, hazy, working_size)
            rows.append({"image": Path(path).stem, "method": label(method), "invented": invented_structure(hazy, output)})
    return rows


def summarize_photos(rows, key: str, threshold: float):
    """Per method: the mean of `key` over the photos, how many exceed `threshold`, and the worst photo."""
    summary = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        worst = max(mine, key=lambda r: r[key])
        summary.append({"method": method, "mean": float(np.mean([r[key] for r in mine])),
                        "above": sum(r[key] > threshold for r in mine), "photos": len(mine),
                        "worst": worst["image"], "worst_value": worst[key]})
    return summary


def format_photos_table(summary, measure: str, above: str, show, note: str) -> str:
    """A table of `summarize_photos`: per method the mean, the photos above the threshold and the worst photo."""
    lines = [f"{'method':8s} {measure:>14s} {above:>14s}  worst photo   ({note})"]
    for s in summary:
        count = f"{s['above']}/{s['photos']}"
        worst = f"{s['worst']} ({show(s['worst_value'])})" if s["worst_value"] > 0 else "-"
        lines.append(f"{s['method']:8s} {show(s['mean']):>14s} {count:>14s}  {worst}")
    return "\n".join(lines)


# Pure-fog sky: colour a method paints where nothing of the sky can be known

def fog_sky_saturation(output: np.ndarray, sky: np.ndarray) -> float:
    """Saturation of the output's low frequencies, averaged over the sky (a bool mask of the output's size).

    Fog has the airlight's colour, grey or faintly tinted. A blue sky or a dark cloud painted
    into it shows as saturation (max - min) / max of the output blurred by 4 px at 512 px,
    where sensor noise no longer counts; the sky is eroded by 4 px so that the land's
    colour, blurred across the horizon, does not count either.
    """
    size = measure_size(output.shape)
    blurred = gaussian_filter(resize(output, *size), sigma=(FOG_SKY_BLUR, FOG_SKY_BLUR, 0))
    value = blurred.max(axis=2)
    saturation = (value - blurred.min(axis=2)) / np.maximum(value, 1e-6)
    margin = np.ones((2 * HORIZON_MARGIN + 1,) * 2, bool)
    sky = binary_erosion(resize(sky.astype(np.float32), *size) > 0.5, margin, border_value=1)
    return float(saturation[sky].mean()) if sky.any() else float("nan")


def photos_with_sky(photos, count: int = FOG_SKY_PHOTOS, side: int = MEASURE_SIDE):
    """(name, clear, sky) of the first `count` photos, fitted within `side` px, whose sky covers 8% of the frame."""
    chosen = []
    for path in photos:
        clear = fit_within(load_image(path), side)
        sky = sky_mask(clear)
        if sky.mean() >= MIN_SKY_SHARE:
            chosen.append((Path(path).stem, clear, sky))
        if len(chosen) == count:
            break
    return chosen


def pure_fog_sky(sample: HazySample, sky: np.ndarray, rng: np.random.Generator, grey: bool = False) -> np.ndarray:
    """The hazy photo with its sky replaced by fog alone: the airlight (or its mean grey), fresh sensor noise, 8-bit rounding.

    Nothing of the clear sky is left, so whatever colour or shape a method shows there is its own.
    """
    airlight = np.full(3, sample.airlight.mean(), np.float32) if grey else sample.airlight
    fog = airlight + rng.normal(0.0, FOG_NOISE, sample.hazy.shape)
    fog = np.round(np.clip(fog, 0.0, 1.0) * 255) / 255
    return np.where(sky[:, :, None], fog, sample.hazy).astype(np.float32)


def evaluate_fog_sky(photos, methods=("input",) + METHODS, count=FOG_SKY_PHOTOS, seed=SEED, working_size=WORKING_SIZE,
                     grey_fog=False):
    """Rows of {image, method, saturation}: colour each method paints into a sky of pure fog.

    The first `count` of the clear `photos` with enough sky are fitted within 512 px, hazed
    densely in colour as in training (`random_haze`) and given a sky of pure fog (`pure_fog_sky`,
    of one grey with `grey_fog`).
    """
    rows = []
    for index, (name, clear, sky) in enumerate(tqdm(photos_with_sky(photos, count), desc="fog sky")):
        rng = np.random.default_rng([seed, index])
        hazy = pure_fog_sky(random_haze(clear, rng, level="dense", grayscale=False), sky, rng, grey_fog)
        for method in methods:
            output, _ = run(method, hazy, working_size)
            rows.append({"image": name, "method": label(method), "saturation": fog_sky_saturation(output, sky)})
    return rows


# Density sweep: PSNR from thin haze to dense

def density_sweep(photos, methods=("input",) + METHODS, densities=SWEEP_DENSITIES, synthesize=None, seeds=(SEED,),
                  side=MEASURE_SIDE, working_size=WORKING_SIZE):
    """Rows of `sweep_rows`: mean PSNR per method at each density, over the whole image and over its reachable pixels.

    Every clear photo, fitted within `side` px, is hazed at every mean transmission by
    `synthesize(clear, mean_transmission, rng) -> HazySample`, by default
    `haze_heldout.sweep_haze`: one kind of haze throughout, so that only its density
    changes along the curve. 'over_dcp' is the method's mean PSNR minus DCP's.

    The haze's random draws (the scene's geometry, the noise) hang on the seed, the photo
    and the density itself, so a density scores the same whatever else is swept. Each of
    `seeds` hazes every photo afresh, and the means are over all: on 14 photos one seed's
    margin over DCP moved by up to 0.5 dB from another's.
    """
    if synthesize is None:
        from .haze_heldout import sweep_haze as synthesize  # imported when used: evaluation works without it
    scores = {(density, method): [] for density in densities for method in methods}
    reachable = {key: [] for key in scores}
    shares = {density: [] for density in densities}
    for index, path in enumerate(tqdm(photos, desc="density sweep")):
        clear = fit_within(load_image(path), side)
        for seed in seeds:
            for density in densities:
                sample = synthesize(clear, density, np.random.default_rng([seed, index, round(density * 1000)]))
                mask = reachable_pixels(sample)
                shares[density].append(float(mask.mean()))
                for method in methods:
                    output, _ = run(method, sample.hazy, working_size)
                    scores[density, method].append(psnr(output, sample.clear))
                    reachable[density, method].append(psnr(output, sample.clear, mask))
    return sweep_rows(scores, densities, methods, reachable, shares)


def reachable_pixels(sample: HazySample) -> np.ndarray:
    """(H, W) bool: where the haze left t >= 0.1, so that undoing it takes at most the tenfold contrast gain
    `invented_structure` allows.

    Below that the scene's trace is a few hundredths at most (the sweep's far land and sky
    reach t 0.02), and a method recovers it only as `invented_structure` would flag on real
    fog: by amplifying noise and a faint tint more than tenfold into a sky. Scored apart, the
    sweep tells what a method misses where the scene can be recovered from what misses where it cannot.
    """
    return np.atleast_3d(sample.transmission).mean(axis=2) >= 1.0 / INVENTED_GAIN


def sweep_rows(scores, densities, methods, reachable=None, shares=None):
    """One row per (density, method) from the PSNR of every hazy image: the mean, the margin over DCP's mean,
    and on how many images the method beats DCP (a mean margin can come from a few photos where DCP fails).

    With `reachable`, PSNRs over each image's `reachable_pixels`, and `shares`, those pixels' share of
    each image, the rows also hold the same three over reachable pixels ('_reachable'; images
    without such a pixel are left out of the mean) and the mean share ('reachable_share').
    """
    rows = []
    for density in densities:
        for method in methods:
            row = {"mean_transmission": density, "method": label(method), "images": len(scores[density, method])}
            row.update(margin(scores, density, method, methods))
            if reachable is not None:
                row.update({f"{key}_reachable": value for key, value in margin(reachable, density, method, methods).items()})
                row["reachable_share"] = float(np.mean(shares[density]))
            rows.append(row)
    return rows


def margin(scores, density, method, methods) -> dict:
    """{psnr, over_dcp, beats_dcp} of one method at one density; the last two are None for DCP or without it."""
    mean = lambda values: float(np.nanmean(values)) if not np.all(np.isnan(values)) else float("nan")
    versus_dcp = "dcp" in methods and method != "dcp"
    psnr_mean = mean(scores[density, method])
    return {"psnr": psnr_mean,
            "over_dcp": psnr_mean - mean(scores[density, "dcp"]) if versus_dcp else None,
            "beats_dcp": int(np.sum(np.greater(scores[density, method], scores[density, "dcp"]))) if versus_dcp else None}


def format_sweep_table(rows, reachable: bool = False) -> str:
    """One line per density: the mean PSNR of the input and every method, then each method's margin over DCP
    with the number of images on which it beats DCP; with `reachable`, the same over reachable pixels."""
    suffix = "_reachable" if reachable else ""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    margins = [m for m in methods if m not in ("input", "dcp") and "dcp" in methods]
    by_key = {(r["mean_transmission"], r["method"]): r for r in rows}
    images = rows[0]["images"]
    header = f"{'mean t':>6s} " + (f"{'t>=0.1':>7s} " if reachable else "") + " ".join(f"{m:>7s}" for m in methods)
    header += "".join(f" {m + '-DCP':>10s} {'wins':>7s}" for m in margins)
    where = "on pixels the haze left at t >= 0.1 (their share in column 2)" if reachable else "on the whole image"
    lines = [header + f"   ({images} hazy photos; mean PSNR in dB {where}; wins: images where it beats DCP)"]
    for density in dict.fromkeys(r["mean_transmission"] for r in rows):
        first = by_key[density, methods[0]]
        line = f"{density:6.2f} " + (f"{first['reachable_share']:7.0%} " if reachable else "")
        line += " ".join(f"{by_key[density, m]['psnr' + suffix]:7.2f}" for m in methods)
        versus = [by_key[density, m] for m in margins]
        lines.append(line + "".join(f" {r['over_dcp' + suffix]:+10.2f} {r['beats_dcp' + suffix]:>3d}/{images:<3d}"
                                    for r in versus))
    return "\n".join(lines)


# JPEG blocks: what dividing by a small t does to a compressed photo

JPEG_QUALITY = 75  # a web photo's; the blocks show at 8 px
JPEG_BLOCKS_GOAL = 1.10


def block_edge_energy(image: np.ndarray) -> float:
    """Mean colour jump across JPEG's 8 px block boundaries in excess of the jumps inside blocks."""
    chroma = image - image.mean(axis=2, keepdims=True)

    def excess(jumps):
        return jumps[7::8].mean() - np.delete(jumps, np.s_[7::8]).mean()

    return (excess(np.abs(np.diff(chroma, axis=1)).mean(axis=(0, 2)))
            + excess(np.abs(np.diff(chroma, axis=0)).mean(axis=(1, 2))))


def evaluate_jpeg_blocks(photos, methods=("input",) + METHODS, seed=SEED, working_size=WORKING_SIZE):
    """Rows of {image, method, ratio}: block-edge energy of each output over the clear photo's as a JPEG alike.

    Each photo is cropped to whole 8 px blocks at most 512 px wide, hazed densely (`random_haze`,
    before its camera noise) and saved as a JPEG of quality 75.
    """
    rows = []
    for index, path in enumerate(tqdm(photos, desc="jpeg blocks")):
        clear = fit_within(load_image(path), MEASURE_SIDE)
        clear = clear[: clear.shape[0] // 8 * 8, : clear.shape[1] // 8 * 8]
        hazy = jpeg_round_trip(random_haze(clear, np.random.default_rng([seed, index]), level="dense").clean_hazy,
                               JPEG_QUALITY)
        reference = block_edge_energy(jpeg_round_trip(clear, JPEG_QUALITY))
        for method in methods:
            output, _ = run(method, hazy, working_size)
            rows.append({"image": Path(path).stem, "method": label(method), "ratio": block_edge_energy(output) / reference})
    return rows


def write_rows(rows, path) -> None:
    write_csv(rows, path)
    print(f"wrote {path}")


def report_photos(rows, summary, table: str, csv_path) -> None:
    """Print a per-photo measure's table; to `csv_path` go the rows and, as image MEAN, each method's mean."""
    print(table)
    if csv_path:
        key = next(k for k in rows[0] if k not in ("image", "method"))
        write_rows(rows + [{"image": "MEAN", "method": s["method"], key: s["mean"]} for s in summary], csv_path)


def report_real(photos, methods, working_size, csv_path) -> None:
    rows = evaluate_real(photos, methods, working_size)
    summary = summarize_photos(rows, "invented", INVENTED_ALERT)
    table = format_photos_table(summary, "invented", "photos > 1%", lambda share: f"{100 * share:.2f}%",
                                f"{len(photos)} real photos; share of pixels with invented structure")
    report_photos(rows, summary, table, csv_path)


def report_fog_sky(folder, methods, count, seed, working_size, csv_path, grey_fog=False) -> None:
    rows = evaluate_fog_sky(list_images(folder), methods, count, seed, working_size, grey_fog)
    if not rows:
        raise SystemExit(f"no photo in {folder} has sky over {MIN_SKY_SHARE:.0%} of the frame")
    summary = summarize_photos(rows, "saturation", FOG_SKY_GOAL)
    table = format_photos_table(summary, "sky saturation", f"photos > {FOG_SKY_GOAL}", lambda value: f"{value:.3f}",
                                f"{summary[0]['photos']} photos with a sky of pure {'grey ' if grey_fog else ''}fog; "
                                f"goal: mean <= {FOG_SKY_GOAL}")
    report_photos(rows, summary, table, csv_path)


def report_jpeg_blocks(folder, methods, seed, working_size, csv_path) -> None:
    rows = evaluate_jpeg_blocks(list_images(folder), methods, seed, working_size)
    summary = summarize_photos(rows, "ratio", JPEG_BLOCKS_GOAL)
    table = format_photos_table(summary, "block edges", f"photos > {JPEG_BLOCKS_GOAL}x", lambda ratio: f"{ratio:.2f}x",
                                f"{len(rows) // len(methods)} photos in dense haze, JPEG 75; against the clear photo's "
                                f"JPEG; goal: mean <= {JPEG_BLOCKS_GOAL}x")
    report_photos(rows, summary, table, csv_path)


def report_sweep(folder, methods, densities, seeds, working_size, csv_path) -> None:
    rows = density_sweep(list_images(folder), methods, densities, seeds=seeds, working_size=working_size)
    print(format_sweep_table(rows))
    print(format_sweep_table(rows, reachable=True))
    if csv_path:
        write_rows(rows, csv_path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, nargs="?", help="folder with hazy/ and clear/ (or gt/)")
    parser.add_argument("--sheet", type=Path, help="instead, write a before/after sheet of --photos here")
    parser.add_argument("--photos", type=Path, nargs="+", help="hazy photos without ground truth, for --sheet")
    parser.add_argument("--real", type=Path, nargs="+", help="instead, score invented structure on real hazy photos")
    parser.add_argument("--fog-sky", type=Path,
                        help="instead, score colour painted into pure-fog skies of this folder's clear photos")
    parser.add_argument("--fog-sky-photos", type=int, default=FOG_SKY_PHOTOS,
                        help="the first N photos with enough sky, by name")
    parser.add_argument("--grey-fog", action="store_true", help="--fog-sky: fog of one grey, not the airlight's tint")
    parser.add_argument("--sweep", type=Path, help="instead, PSNR over haze densities on this folder's clear photos")
    parser.add_argument("--jpeg-blocks", type=Path,
                        help="instead, score JPEG block edges through dense haze on this folder's clear photos")
    parser.add_argument("--densities", type=float, nargs="+", default=SWEEP_DENSITIES,
                        help="mean transmissions for --sweep")
    parser.add_argument("--seed", type=int, nargs="+", default=[SEED],
                        help="of the haze made by --fog-sky, --jpeg-blocks and --sweep; --sweep averages over several")
    parser.add_argument("--methods", nargs="+", type=method_spec,
                        help="default: 'input' and every method ('input' is left out of --sheet and --real); "
                             "LABEL=FILE adds the generator in FILE as a method named LABEL")
    parser.add_argument("--working-size", type=int, default=WORKING_SIZE)
    parser.add_argument("--no-haze-free", action="store_true", help="skip running the methods on the clear photos")
    parser.add_argument("--csv", type=Path, help="write per-image rows and the means here")
    args = parser.parse_args(argv)
    if sum(bool(mode) for mode in (args.root, args.sheet, args.real, args.fog_sky, args.sweep, args.jpeg_blocks)) != 1:
        parser.error("give one of: a folder to evaluate, --sheet with --photos, --real, --fog-sky, --sweep, --jpeg-blocks")
    if not all(0 < density <= 1 for density in args.densities):
        parser.error("--densities are mean transmissions, from 0 (opaque haze) to 1 (none)")
    if len(args.seed) > 1 and not args.sweep:
        parser.error("several --seed values average a --sweep; the other measures take one")
    methods = args.methods or ["input", *METHODS]
    if args.sheet:
        if not args.photos:
            parser.error("--sheet needs --photos")
        sheet_methods = [m for m in methods if m != "input"]
        return contact_sheet(args.photos, args.sheet, sheet_methods, working_size=args.working_size)
    if args.real:
        return report_real(args.real, args.methods or METHODS, args.working_size, args.csv)
    if args.fog_sky:
        return report_fog_sky(args.fog_sky, methods, args.fog_sky_photos, args.seed[0], args.working_size, args.csv,
                              args.grey_fog)
    if args.jpeg_blocks:
        return report_jpeg_blocks(args.jpeg_blocks, methods, args.seed[0], args.working_size, args.csv)
    if args.sweep:
        return report_sweep(args.sweep, methods, args.densities, args.seed, args.working_size, args.csv)
    rows = evaluate(args.root, methods, args.working_size, not args.no_haze_free)
    summary = summarize(rows)
    print(format_table(summary))
    if args.csv:
        write_rows(rows + [{"image": "MEAN", "level": level, "method": s["method"],
                            "psnr": s["psnr"] if level == "" else s[level], "ssim": s["ssim"] if level == "" else "",
                            "seconds": s["seconds"]} for s in summary for level in ("", *LEVELS, HAZE_FREE)], args.csv)


if __name__ == "__main__":
    main()
