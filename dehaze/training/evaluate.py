"""Evaluate every method on a paired folder (RESIDE layout): PSNR and SSIM per image and on average.

    python -m dehaze.training.evaluate data/val --csv results.csv
    python -m dehaze.training.evaluate --sheet sheet.jpg --photos examples/real_*.jpg

'input' is the hazy image itself, the score of doing nothing. Hazy files named
`<photo>_light_...` or `<photo>_dense_...` (as `dehaze.training.prepare_data` writes them)
are also averaged by haze level, and each method counts the images on which it
beats DCP. Every clear photo of the folder is also run through each method as if
it were hazy: 'haze-free' is the PSNR of that output against the photo itself,
which is high when a method leaves a clear photo alone.
"""

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..image_io import load_image, resize, save_image
from ..metrics import score
from ..pipeline import METHODS, WORKING_SIZE, dehaze
from .datasets import PairedFolderDataset

LEVELS = ("light", "dense")
HAZE_FREE = "haze-free"


def haze_level(name: str) -> str:
    """'light' or 'dense' from a hazy file's name, '' where it does not say."""
    return next((level for level in LEVELS if f"_{level}_" in f"{name}_"), "")


def run(method, image, working_size):
    start = time.perf_counter()
    output = image if method == "input" else dehaze(image, method, working_size).image
    return output, time.perf_counter() - start


def evaluate(root, methods=("input",) + METHODS, working_size=WORKING_SIZE, haze_free=True):
    """Rows of {image, level, method, psnr, ssim, seconds} for every hazy image (and clear photo) and method."""
    rows = []
    dataset = PairedFolderDataset(root)
    for name, hazy, clear in tqdm(dataset, desc="evaluate", total=len(dataset)):
        for method in methods:
            output, seconds = run(method, hazy, working_size)
            rows.append({"image": name, "level": haze_level(name), "method": method, **score(output, clear),
                         "seconds": seconds})
    clear_photos = sorted({clear for _, clear in dataset.pairs}) if haze_free else []
    for path in tqdm(clear_photos, desc="haze-free"):
        clear = load_image(path)
        for method in methods:
            output, seconds = run(method, clear, working_size)
            rows.append({"image": path.stem, "level": HAZE_FREE, "method": method, **score(output, clear),
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
        cells = [hazy] + [dehaze(hazy, method, working_size).image for method in methods]
        rows.append(np.concatenate([resize(cell, width, height) for cell in cells], axis=1))
    save_image(np.concatenate(rows, axis=0), out)
    print(f"wrote {out}: columns input, {', '.join(methods)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, nargs="?", help="folder with hazy/ and clear/ (or gt/)")
    parser.add_argument("--sheet", type=Path, help="instead, write a before/after sheet of --photos here")
    parser.add_argument("--photos", type=Path, nargs="+", help="hazy photos without ground truth, for --sheet")
    parser.add_argument("--methods", nargs="+", default=["input", *METHODS], choices=["input", *METHODS])
    parser.add_argument("--working-size", type=int, default=WORKING_SIZE)
    parser.add_argument("--no-haze-free", action="store_true", help="skip running the methods on the clear photos")
    parser.add_argument("--csv", type=Path, help="write per-image rows and the means here")
    args = parser.parse_args(argv)
    if args.sheet:
        if not args.photos:
            parser.error("--sheet needs --photos")
        return contact_sheet(args.photos, args.sheet, [m for m in args.methods if m != "input"], working_size=args.working_size)
    if args.root is None:
        parser.error("give a folder to evaluate, or --sheet with --photos")
    rows = evaluate(args.root, args.methods, args.working_size, not args.no_haze_free)
    summary = summarize(rows)
    print(format_table(summary))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["image", "level", "method", "psnr", "ssim", "seconds"])
            writer.writeheader()
            writer.writerows(rows)
            writer.writerows({"image": "MEAN", "level": level, "method": s["method"],
                              "psnr": s["psnr"] if level == "" else s[level], "ssim": s["ssim"] if level == "" else "",
                              "seconds": s["seconds"]}
                             for s in summary for level in ("", *LEVELS, HAZE_FREE))
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
