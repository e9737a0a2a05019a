"""Video dehazing: frames per second, and what carrying the map over frames costs against dehazing each frame.

    python bench/bench_video.py [--sizes 720 1080] [--frames 30] [--methods dcp mscnn gan] [--key-interval K]

The clip is synthetic: an example photo hazed densely once (`training.haze.random_haze`,
before its camera noise), held still for the first half of the frames, then panned across
and slowly zoomed into, with fresh sensor noise (sigma 0.01) on every frame, encoded nearly
losslessly (CRF 12). Per method and size:

- fps: `dehaze_video` end to end (decode, dehaze, H.264 encode), in frames per second;
- PSNR against the clear frames of `dehaze()` run on every decoded frame on its own, of
  the carried map (`video.SteadyMap`: the map carried over frames, applied to the frames
  averaged over time; before encoding) and of the encoded output; the carried map's
  difference to per-frame dehazing is what the key interval and the averaging cost (goal:
  within 0.5 dB);
- flicker: the mean change between consecutive frames of the still half of the clip, in
  their low frequencies (Gaussian of sigma 4 px, in 1/255): the input's own, per-frame
  dehazing's and the video's.

`--key-interval K` runs the method on every K-th frame for all methods instead of
`video.KEY_INTERVAL`, to choose it.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHOTO = "picosdeeuropa_by_Aitzol_Berasategi_clear.jpg"
NOISE = 0.01
WIDTHS = {720: 1280, 1080: 1920}


def clip_frames(height: int, count: int):
    """(hazy, clear) frames of one hazed photo, still and then panned and zoomed, the hazy ones with fresh noise."""
    import torch

    from dehaze.image_io import load_image, resize
    from dehaze.training.haze import random_haze

    torch.manual_seed(0)
    width = WIDTHS[height]
    photo = load_image(ROOT / "examples" / PHOTO)
    scale = 1.4 * max(width / photo.shape[1], height / photo.shape[0])
    clear = resize(photo, round(photo.shape[1] * scale), round(photo.shape[0] * scale))
    hazy = random_haze(clear, np.random.default_rng(0), level="dense").clean_hazy
    rng = np.random.default_rng(1)
    still = count // 2
    for index in range(count):
        moved = max(index - still, 0) / max(count - 1 - still, 1)  # from 0 while still to 1 at the end
        zoom = 1 - 0.1 * moved  # the window shrinks by a tenth: a slow zoom in...
        window_height, window_width = round(clear.shape[0] / 1.4 * zoom), round(clear.shape[1] / 1.4 * zoom)
        top = (clear.shape[0] - window_height) // 2
        left = round((clear.shape[1] - window_width) * moved)  # ...while the camera pans from left to right
        crop = (slice(top, top + window_height), slice(left, left + window_width))
        frame = resize(hazy[crop], width, height)
        yield np.clip(frame + rng.normal(0, NOISE, frame.shape), 0, 1), resize(clear[crop], width, height)


def write_clip(path, frames):
    import av

    with av.open(str(path), "w") as clip:
        stream = clip.add_stream("libx264", rate=30, options={"crf": "12", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(np.rint(frame * 255).astype(np.uint8), format="rgb24")
            picture.pts = index
            clip.mux(stream.encode(picture))
        clip.mux(stream.encode())


def read_frames(path) -> list:
    import av

    from dehaze.video import EXACT

    with av.open(str(path)) as clip:
        return [f.to_ndarray(format="rgb24", interpolation=EXACT).astype(np.float32) / 255 for f in clip.decode(video=0)]


def flicker(frames) -> float:
    from scipy.ndimage import gaussian_filter

    lows = [gaussian_filter(frame, (4, 4, 0)) for frame in frames]
    return 255 * float(np.mean([np.abs(after - before).mean() for before, after in zip(lows, lows[1:])]))


def mean_psnr(frames, clears) -> float:
    from dehaze.metrics import psnr

    return float(np.mean([psnr(frame, clear) for frame, clear in zip(frames, clears)]))


def measure(method: str, height: int, count: int, folder: Path) -> dict:
    from dehaze import dehaze, dehaze_video
    from dehaze.guided_filter import default_device, to_array, to_tensor
    from dehaze.video import SteadyMap

    hazy, clears = zip(*clip_frames(height, count))
    write_clip(folder / "hazy.mp4", hazy)
    frames = read_frames(folder / "hazy.mp4")
    start = time.perf_counter()
    dehaze_video(folder / "hazy.mp4", folder / "dehazed.mp4", method)
    fps = count / (time.perf_counter() - start)
    steady = SteadyMap(method)
    carried = [to_array(steady.dehaze(to_tensor(frame, default_device()), 1.0)) for frame in frames]
    each = [dehaze(frame, method).image for frame in frames]
    encoded = read_frames(folder / "dehazed.mp4")
    still = count // 2
    return {
        "fps": fps, "psnr_each": mean_psnr(each, clears), "psnr_carried": mean_psnr(carried, clears),
        "psnr_encoded": mean_psnr(encoded, clears), "flicker_input": flicker(frames[:still]),
        "flicker_each": flicker(each[:still]), "flicker_video": flicker(encoded[:still]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", choices=sorted(WIDTHS), default=[720, 1080])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--methods", nargs="+", default=["dcp", "mscnn", "gan"])
    parser.add_argument("--key-interval", type=int, help="run the method on every K-th frame, for every method")
    args = parser.parse_args()
    from dehaze.video import KEY_INTERVAL

    if args.key_interval:
        KEY_INTERVAL.update(dict.fromkeys(KEY_INTERVAL, args.key_interval))
    print(f"{'method':7} {'size':>5} {'k':>2} {'fps':>6}  {'PSNR: each frame':>16} {'carried':>8} {'diff':>6} "
          f"{'encoded':>8}  {'flicker: input':>14} {'each':>5} {'video':>6}")
    with tempfile.TemporaryDirectory() as folder:
        for height in args.sizes:
            for method in args.methods:
                row = measure(method, height, args.frames, Path(folder))
                print(f"{method:7} {height:>4}p {KEY_INTERVAL[method]:>2} {row['fps']:6.2f}  {row['psnr_each']:16.2f} "
                      f"{row['psnr_carried']:8.2f} {row['psnr_carried'] - row['psnr_each']:+6.2f} {row['psnr_encoded']:8.2f}  "
                      f"{row['flicker_input']:14.2f} {row['flicker_each']:5.2f} {row['flicker_video']:6.2f}", flush=True)


if __name__ == "__main__":
    main()
