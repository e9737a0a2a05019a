"""Evaluate every method on a paired folder (RESIDE layout): PSNR and SSIM per image and on average.

    python -m dehaze.evaluate data/test --csv results.csv

'input' is the hazy image itself, the score of doing nothing.
"""

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .datasets import PairedFolderDataset
from .metrics import score
from .pipeline import METHODS, WORKING_SIZE, dehaze


def evaluate(root, methods=("input",) + METHODS, working_size=WORKING_SIZE):
    """Rows of {image, method, psnr, ssim, seconds} for every hazy image and method."""
    rows = []
    dataset = PairedFolderDataset(root)
    for name, hazy, clear in tqdm(dataset, desc="evaluate", total=len(dataset)):
        for method in methods:
            start = time.perf_counter()
            output = hazy if method == "input" else dehaze(hazy, method, working_size).image
            seconds = time.perf_counter() - start
            rows.append({"image": name, "method": method, **score(output, clear), "seconds": seconds})
    return rows


def summarize(rows):
    """Mean PSNR, SSIM and seconds per method, in the order methods first appear."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    mean = lambda m, key: float(np.mean([r[key] for r in rows if r["method"] == m]))
    return [{"method": m, "psnr": mean(m, "psnr"), "ssim": mean(m, "ssim"), "seconds": mean(m, "seconds")}
            for m in methods]


def format_table(summary, count) -> str:
    lines = [f"{'method':8s} {'PSNR (dB)':>10s} {'SSIM':>7s} {'s/image':>8s}   ({count} images)"]
    lines += [f"{s['method']:8s} {s['psnr']:10.2f} {s['ssim']:7.4f} {s['seconds']:8.2f}" for s in summary]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="folder with hazy/ and clear/ (or gt/)")
    parser.add_argument("--methods", nargs="+", default=["input", *METHODS], choices=["input", *METHODS])
    parser.add_argument("--working-size", type=int, default=WORKING_SIZE)
    parser.add_argument("--csv", type=Path, help="write per-image rows and the means here")
    args = parser.parse_args(argv)
    rows = evaluate(args.root, args.methods, args.working_size)
    summary = summarize(rows)
    print(format_table(summary, len(rows) // len(args.methods)))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["image", "method", "psnr", "ssim", "seconds"])
            writer.writeheader()
            writer.writerows(rows)
            writer.writerows({"image": "MEAN", **s} for s in summary)
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
