"""Speed and peak memory per megapixel, against an OpenCV reference DCP run side by side.

    python bench/bench_speed.py [--sizes 0.3 2 8 12] [--repeats 3]

Inputs are hazed copies of an example photo resized to the given megapixels. For
each size one process runs every case in turn, `--repeats` rounds after a warm-up,
and each case's time is divided by the OpenCV reference's time in the same round:
the ratios are medians of those paired ratios, so load from other processes
affects both sides of each ratio alike. Peak memory is measured in a fresh process
per case: the peak resident memory of one call above the process's memory before
it, per megapixel of input.
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
    "dcp_opencv": "dcp, OpenCV reference (full size)",
    "dcp_full": "dcp, ours (full size)",
    "dcp": "dehaze(method='dcp')",
    "mscnn": "dehaze(method='mscnn')",
    "gan": "dehaze(method='gan')",
    "gan_full": "gan at full size, no lift",
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


def case_functions() -> dict:
    from dehaze.dcp import dehaze_dcp
    from dehaze.pipeline import dehaze, run_method

    return {
        "dcp_opencv": dcp_opencv,
        "dcp_full": dehaze_dcp,
        "dcp": lambda image: dehaze(image, "dcp"),
        "mscnn": lambda image: dehaze(image, "mscnn"),
        "gan": lambda image: dehaze(image, "gan"),
        "gan_full": lambda image: run_method(image, "gan"),
    }


def hazy_input(megapixels: float) -> np.ndarray:
    from dehaze.training.haze import random_haze
    from dehaze.image_io import load_image, resize

    clear = load_image(ROOT / "examples" / "picosdeeuropa_by_Aitzol_Berasategi_clear.jpg")
    height = int(round((megapixels * 1e6 * clear.shape[0] / clear.shape[1]) ** 0.5))
    width = int(round(megapixels * 1e6 / height))
    return random_haze(resize(clear, width, height), np.random.default_rng(0), level="dense").hazy


def memory_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def time_cases(cases, megapixels: float, repeats: int) -> dict:
    """Median seconds of each case and median of its paired ratio to the OpenCV reference, all in this process."""
    functions = case_functions()
    for case in cases:
        functions[case](hazy_input(0.05))  # warm-up: imports, weights, allocator
    image = hazy_input(megapixels)
    seconds = {case: [] for case in cases}
    for _ in range(repeats):
        for case in cases:
            start = time.perf_counter()
            functions[case](image)
            seconds[case].append(time.perf_counter() - start)
    reference = np.array(seconds["dcp_opencv"])
    return {case: {"seconds": float(np.median(times)), "ratio": float(np.median(np.array(times) / reference))}
            for case, times in seconds.items()}


def peak_memory(case: str, megapixels: float) -> float:
    """MB of peak resident memory one call adds above what the process held before it."""
    function = case_functions()[case]
    function(hazy_input(0.05))
    image = hazy_input(megapixels)
    before = memory_mb("VmRSS")
    function(image)
    return memory_mb("VmHWM") - before


def run_child(*arguments) -> dict:
    done = subprocess.run([sys.executable, __file__, *map(str, arguments)], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.3, 2.0, 8.0, 12.0], help="megapixels")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full-resolution-limit", type=float, default=0.5,
                        help="largest size (MP) at which the GAN also runs without the lift")
    parser.add_argument("--time", nargs="+", metavar="ARG", help=argparse.SUPPRESS)  # MP CASE...: one timing process
    parser.add_argument("--memory", nargs=2, metavar=("CASE", "MP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time:
        print(json.dumps(time_cases(args.time[1:], float(args.time[0]), args.repeats)))
        return
    if args.memory:
        print(json.dumps(peak_memory(args.memory[0], float(args.memory[1]))))
        return

    print(f"{'case':34s} {'MP':>5s} {'s/MP':>7s} {'vs OpenCV DCP':>14s} {'peak MB/MP':>11s}")
    for megapixels in args.sizes:
        cases = [c for c in CASES if c != "gan_full" or megapixels <= args.full_resolution_limit]
        timings = run_child("--repeats", args.repeats, "--time", megapixels, *cases)
        for case in cases:
            try:
                memory = f"{run_child('--memory', case, megapixels) / megapixels:11.0f}"
            except RuntimeError as error:
                memory = f"  failed: {error}"
            timing = timings[case]
            print(f"{CASES[case]:34s} {megapixels:5.1f} {timing['seconds'] / megapixels:7.3f} "
                  f"{timing['ratio']:13.2f}x {memory}", flush=True)


if __name__ == "__main__":
    main()
