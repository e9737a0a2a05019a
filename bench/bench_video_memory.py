"""Video memory: peak resident memory of dehaze_video on a short and a long clip, side by side.

    python bench/bench_video_memory.py [--seconds 10 60] [--height 1080] [--fps 24] [--methods dcp gan]

dehaze_video streams: frames are decoded, dehazed and encoded one at a time, so its memory
must not grow with the clip's length (goal: the long clip within 1.5x of the short one).
Each clip is a hazy example photo with fresh sensor noise in every frame (8 noisy frames in
turn, so that writing the clip stays quick), encoded with x264 "ultrafast". Each run is a
fresh process, so that one peak does not hide another: its peak resident memory once dehaze
is imported and the models loaded ("ready"), and its peak by the end of the clip.
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHOTO = "picosdeeuropa_by_Aitzol_Berasategi_clear.jpg"
WIDTHS = {720: 1280, 1080: 1920}
NOISY_FRAMES = 8


def write_clip(path: Path, seconds: float, height: int, fps: int) -> int:
    """A still hazy scene with sensor noise, `seconds` long; returns its frame count."""
    import av

    from dehaze.image_io import load_image, resize
    from dehaze.training.haze import random_haze

    clear = resize(load_image(ROOT / "examples" / PHOTO), WIDTHS[height], height)
    hazy = random_haze(clear, np.random.default_rng(0), level="dense").clean_hazy
    rng = np.random.default_rng(1)
    frames = [np.rint(np.clip(hazy + rng.normal(0, 0.01, hazy.shape), 0, 1) * 255).astype(np.uint8)
              for _ in range(NOISY_FRAMES)]
    count = round(seconds * fps)
    with av.open(str(path), "w") as clip:
        stream = clip.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = WIDTHS[height], height, "yuv420p"
        for index in range(count):
            picture = av.VideoFrame.from_ndarray(frames[index % NOISY_FRAMES], format="rgb24")
            picture.pts = index
            clip.mux(stream.encode(picture))
        clip.mux(stream.encode())
    return count


def resident_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def run_one(source: str, method: str) -> None:
    """In the child process: load the method, then dehaze the clip; print ready and peak resident memory."""
    from dehaze import dehaze, dehaze_video

    dehaze(np.full((64, 64, 3), 0.5, np.float32), method)  # the models loaded, the first call's buffers made
    ready = resident_mb()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        dehaze_video(source, Path(folder) / "out.mp4", method)
    print(f"{ready:.0f} {resident_mb():.0f} {time.perf_counter() - start:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs=2, default=[10, 60], metavar=("SHORT", "LONG"))
    parser.add_argument("--height", type=int, choices=sorted(WIDTHS), default=1080)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--methods", nargs="+", default=["dcp", "gan"])
    parser.add_argument("--run", nargs=2, metavar=("CLIP", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        return run_one(*args.run)
    print(f"{'method':7} {'clip':>14} {'frames':>6} {'ready MB':>9} {'peak MB':>8} {'seconds':>8}  peak: long / short")
    with tempfile.TemporaryDirectory() as folder:
        clips = [(Path(folder) / f"{seconds:g}s.mp4", seconds) for seconds in args.seconds]
        counts = [write_clip(path, seconds, args.height, args.fps) for path, seconds in clips]
        for method in args.methods:
            peaks = []
            for (path, seconds), count in zip(clips, counts):
                child = subprocess.run([sys.executable, __file__, "--run", str(path), method],
                                       capture_output=True, text=True, check=True)
                ready, peak, took = child.stdout.split()[-3:]
                peaks.append(float(peak))
                ratio = f"{peaks[-1] / peaks[0]:.2f}x" if len(peaks) == 2 else ""
                clip = f"{seconds:g} s {args.height}p"
                print(f"{method:7} {clip:>14} {count:6} {ready:>9} {peak:>8} {took:>8}  {ratio}", flush=True)


if __name__ == "__main__":
    main()
