"""Speed and peak memory per megapixel: our DCP against an OpenCV reference, and the networks.

    python bench/bench_speed.py [--sizes 0.25 1 4] [--repeats 3]

Each measurement runs in a fresh process (so peak memory is its own) on a hazed
copy of an example photo resized to the given megapixels. Times are medians of
--repeats runs after one warm-up; ratios compare rows of this same run.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = {
    "dcp (ours, numpy)": "dcp",
    "dcp (OpenCV reference)": "dcp_opencv",
    "mscnn (working size 512, lifted)": "mscnn",
    "gan (working size 512, lifted)": "gan",
    "gan (full resolution)": "gan_full",
}


def dcp_opencv(image, patch=15, omega=0.95, radius=None, eps=1e-3, t0=0.1):
    """He et al.'s DCP written with OpenCV primitives: erode for the min filter, boxFilter for the guided filter."""
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    dark = cv2.erode(image.min(axis=2), kernel, borderType=cv2.BORDER_REPLICATE)
    count = max(1, int(dark.size * 0.001))
    candidates = np.argpartition(dark.ravel(), -count)[-count:]
    colours = image.reshape(-1, 3)[candidates]
    airlight = colours[colours.sum(axis=1).argmax()]
    raw = 1 - omega * cv2.erode((image / airlight).astype(np.float32).min(axis=2), kernel, borderType=cv2.BORDER_REPLICATE)
    gray = cv2.cvtColor((image * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    radius = radius or max(4, min(image.shape[:2]) // 10)
    box = lambda x: cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)
    mean_i, mean_p = box(gray), box(raw)
    a = (box(gray * raw) - mean_i * mean_p) / (box(gray * gray) - mean_i**2 + eps)
    b = mean_p - a * mean_i
    t = np.clip(box(a) * gray + box(b), 0, 1)
    return np.clip((image - airlight) / np.maximum(t, t0)[..., None] + airlight, 0, 1)


def hazy_input(megapixels: float) -> np.ndarray:
    from dehaze.image_io import load_image, resize
    from dehaze.scattering import random_haze

    clear = load_image(ROOT / "examples" / "picosdeeuropa_by_Aitzol_Berasategi_clear.jpg")
    height = int(round((megapixels * 1e6 * clear.shape[0] / clear.shape[1]) ** 0.5))
    width = int(round(megapixels * 1e6 / height))
    return random_haze(resize(clear, width, height), np.random.default_rng(0))[0]


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(case: str, megapixels: float, repeats: int) -> dict:
    """Run one case in this process: median seconds and peak resident memory."""
    from dehaze.dcp import dehaze_dcp
    from dehaze.pipeline import dehaze, dehaze_gan
    from dehaze.weights import load_model

    functions = {
        "dcp": dehaze_dcp,
        "dcp_opencv": dcp_opencv,
        "mscnn": lambda image: dehaze(image, "mscnn"),
        "gan": lambda image: dehaze(image, "gan"),
        "gan_full": lambda image: dehaze_gan(image, load_model("gan")),
    }
    function = functions[case]
    function(hazy_input(0.05))  # warm-up: imports, weights, allocator
    image = hazy_input(megapixels)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(image)
        times.append(time.perf_counter() - start)
    return {"seconds": float(np.median(times)), "peak_mb": peak_rss_mb()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.25, 1.0, 4.0], help="megapixels")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full-resolution-limit", type=float, default=1.0,
                        help="largest size (MP) at which the GAN also runs without a working size")
    parser.add_argument("--one", nargs=2, metavar=("CASE", "MP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], float(args.one[1]), args.repeats)))
        return

    print(f"{'case':34s} {'MP':>5s} {'s/MP':>8s} {'peak MB':>8s} {'vs OpenCV DCP':>14s}")
    for megapixels in args.sizes:
        results = {}
        for label, case in CASES.items():
            if case == "gan_full" and megapixels > args.full_resolution_limit:
                continue
            command = [sys.executable, __file__, "--one", case, str(megapixels), "--repeats", str(args.repeats)]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
            if done.returncode != 0:
                print(f"{label:34s} {megapixels:5.2f} failed: {done.stderr.strip().splitlines()[-1]}")
                continue
            results[label] = json.loads(done.stdout.strip().splitlines()[-1])
        reference = results.get("dcp (OpenCV reference)", {}).get("seconds")
        for label, result in results.items():
            ratio = f"{result['seconds'] / reference:13.2f}x" if reference else ""
            print(f"{label:34s} {megapixels:5.2f} {result['seconds'] / megapixels:8.3f} "
                  f"{result['peak_mb']:8.0f} {ratio}")


if __name__ == "__main__":
    main()
