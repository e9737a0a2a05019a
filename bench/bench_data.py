"""Samples per second of the training data path: haze made on CPU workers against haze made on the device.

    python bench/bench_data.py --data data/train/clear [--batch-size 8] [--crop-size 256] [--seconds 20] [--device cuda]

Four paths, each timed for about `--seconds` in the same process, one after the other:

- cpu-haze: `SyntheticHazeDataset` as training used it, every sample hazed by
  `dehaze.training.haze` on the CPU (one photo at a time: scene depth, scattering,
  camera noise, JPEG), then cropped; the batch is moved to the device.
- device-patchy, device-layered, device-geodesic: the same dataset with `device_share=1`,
  which only crops; the batch is moved to the device and hazed there, a batch at a time,
  by `haze_patchy.patchy_haze`, `haze_layered.layered_haze` or `haze_geodesic.geodesic_haze`.

All run in the main process (`num_workers=0`), so the figures are per CPU core for the
loader's part; a training run adds `--workers` processes to the first path, while the
device paths leave the cores to cropping. The ratios are what count: on a GPU the device paths'
haze costs the device little, and the CPU only crops.
"""

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def samples_per_second(dataset, batch_size: int, seconds: float, device, synthesizers) -> float:
    from dehaze.training.datasets import haze_on_device

    loader = iter(torch.utils.data.DataLoader(dataset, batch_size=batch_size))
    generator = torch.Generator(device).manual_seed(0)
    finish = lambda batch: haze_on_device({k: v.to(device) for k, v in batch.items()}, generator,
                                          synthesizers=synthesizers) if synthesizers \
        else {k: v.to(device) for k, v in batch.items()}
    finish(next(loader))  # warm-up: first-call costs are not the data path's
    samples, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch = finish(next(loader))
        if device.type == "cuda":
            torch.cuda.synchronize()
        samples += batch["hazy"].shape[0]
    return samples / (time.perf_counter() - start)


def main(argv=None):
    from dehaze.training.datasets import SyntheticHazeDataset

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder of clear training photos")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-size", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dataset, rates = SyntheticHazeDataset(args.data, args.crop_size, length=10**6), {}
    for name, synthesizers in (("cpu-haze", ()), ("device-patchy", ("patchy",)), ("device-layered", ("layered",)),
                               ("device-geodesic", ("geodesic",))):
        dataset.device_share = 1.0 if synthesizers else 0.0
        rates[name] = samples_per_second(dataset, args.batch_size, args.seconds, device, synthesizers)
    print(f"device {device}, batch {args.batch_size}, crops {args.crop_size} px, {torch.get_num_threads()} threads")
    for name, rate in rates.items():
        print(f"{name:15s} {rate:8.1f} samples/s  {rate / rates['cpu-haze']:5.2f}x")


if __name__ == "__main__":
    main()
