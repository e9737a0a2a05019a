"""Fit the generator's `GlobalCalibration` head with the rest of the generator frozen.

    python -m dehaze.calibrate --data data/train/clear --depth data/train/depth --val data/val \\
        --init weights/generator.safetensors --samples 4000

The head maps whole-image statistics to a per-channel gain and offset (6 numbers per
image), so it needs many whole images rather than many steps. Each sample is a
training photo at about the app's working size (a quarter of them darkened first,
`DARKER_SHARE`), hazed by `dehaze.haze.random_haze` and passed once through the
frozen generator. What the head reads and what its loss needs are kept in a cache
that later runs extend: the loss of a gain g and offset o on a channel is a quadratic
in them, so five moments of the output Y and the clear photo C (E[Y], E[Y^2], E[C],
E[C^2], E[YC]) give it exactly, without the pixels. The head is fitted to maximize
the mean PSNR (the mean of -10 log10 MSE over images, which weighs every image alike)
and chosen on the validation photos, hazy and haze-free as in `dehaze.train.Validation`.
"""

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from .datasets import PairedFolderDataset, list_images
from .dcp import dehaze_dcp
from .gan import GlobalCalibration, ResnetGenerator
from .haze import linear_to_srgb, random_haze, srgb_to_linear
from .image_io import fit_within, load_image, resize
from .pipeline import WORKING_SIZE, working_shape
from .weights import WEIGHTS_DIR, read_metadata, save_weights

SIDES = (448, 512, 592)  # longest side of the training photos: 4:3 photos at the working size are 592 x 444
# Dusk, shade and night scenes are rare among wallpapers, and they are where the generator was too bright:
# a quarter of the samples are exposed 0.5 to 3 stops darker. On validation this added 0.3 dB (3 seeds each).
DARKER_SHARE, DARKER_STOPS = 0.25, (0.5, 3.0)


def load_generator(path) -> ResnetGenerator:
    """The generator in `path`, with a calibration head (its own if it has one, else the identity)."""
    config = json.loads(read_metadata(path)["config"])
    generator = ResnetGenerator(**{**config, "calibration": True})
    missing, unexpected = generator.load_state_dict(load_file(str(path)), strict=False)
    if unexpected or any(not key.startswith("calibration.") for key in missing):
        raise SystemExit(f"{path} does not fit a generator of config {config}")
    return generator.eval().requires_grad_(False)


def trunk_fingerprint(generator: ResnetGenerator) -> str:
    """A hash of the weights the head does not change: a cache describes the outputs of one trunk only."""
    digest = hashlib.sha256()
    for key, value in generator.state_dict().items():
        if not key.startswith("calibration."):
            digest.update(key.encode())
            digest.update(value.cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def moments(output: np.ndarray, clear: np.ndarray) -> np.ndarray:
    """(5, 3): per channel E[Y], E[Y^2], E[C], E[C^2], E[YC] of output Y and clear photo C in [0, 1]."""
    y, c = output.reshape(-1, 3).astype(np.float64), clear.reshape(-1, 3).astype(np.float64)
    return np.stack([y.mean(0), (y * y).mean(0), c.mean(0), (c * c).mean(0), (y * c).mean(0)])


def describe(generator, hazy: np.ndarray, clear: np.ndarray):
    """(features, moments of the uncalibrated output, moments of DCP's estimate) of one image."""
    height, width = (s // 4 * 4 for s in hazy.shape[:2])
    hazy, clear = hazy[:height, :width], clear[:height, :width]
    prior = dehaze_dcp(hazy).image
    inputs = np.concatenate([hazy, prior], axis=2) if generator.in_channels > generator.channels else hazy
    x = torch.from_numpy(np.ascontiguousarray(inputs.transpose(2, 0, 1)))[None] * 2 - 1
    with torch.no_grad():
        output, features = generator.forward_with_features(x)
    output = ((output[0] + 1) / 2).permute(1, 2, 0).numpy()
    return features[0].numpy(), moments(output, clear), moments(prior, clear)


def build_cache(generator, args, cache: Path, deadline) -> dict:
    """Training samples described once and kept in `cache` (an .npz), extended up to --samples.

    Beside what the fit needs, each sample's haze level and airlight are kept, for reports and analysis.
    """
    columns = {"features": [], "moments": [], "dcp_moments": [], "level": [], "airlight": []}
    fingerprint = trunk_fingerprint(generator)
    if cache.is_file():
        stored = dict(np.load(cache))
        if str(stored.pop("trunk", "")) == fingerprint:
            columns = {k: list(v) for k, v in stored.items()}
        else:
            print(f"{cache} describes another generator's outputs: starting it again")
    photos = list_images(args.data)
    depths = Path(args.depth) if args.depth else None
    start = len(columns["features"])
    for index in range(start, args.samples):
        rng = np.random.default_rng((args.seed, index))
        path = photos[rng.integers(len(photos))]
        clear = fit_within(load_image(path), int(rng.choice(SIDES)))
        depth_file = depths / f"{path.stem}.npy" if depths else None
        depth = None
        if depth_file is not None and depth_file.is_file():
            depth = resize(np.load(depth_file), clear.shape[1], clear.shape[0])
        if rng.random() < 0.5:
            clear, depth = clear[:, ::-1], None if depth is None else depth[:, ::-1]
        if rng.random() < DARKER_SHARE:
            clear = linear_to_srgb(srgb_to_linear(clear) * 2.0 ** -rng.uniform(*DARKER_STOPS))
        sample = random_haze(np.ascontiguousarray(clear), rng, None if depth is None else np.ascontiguousarray(depth))
        features, output_moments, dcp_moments = describe(generator, sample.hazy, sample.clear)
        for key, value in zip(columns, (features, output_moments, dcp_moments, sample.level, sample.airlight.mean())):
            columns[key].append(value)
        if (index + 1) % 50 == 0 or index + 1 == args.samples or time.time() > deadline:
            np.savez(cache, trunk=fingerprint, **{k: np.array(v) for k, v in columns.items()})
            print(f"{index + 1} samples described", flush=True)
            if time.time() > deadline:
                break
    return {k: np.array(v) for k, v in columns.items()}


def validation_set(generator, root) -> dict:
    """Each hazy validation image against its clear photo, then each clear photo against itself."""
    at_working_size = lambda image: resize(image, *working_shape(*image.shape[:2], WORKING_SIZE)[::-1])
    rows = {"features": [], "moments": [], "dcp_moments": [], "level": []}
    dataset, clear_photos = PairedFolderDataset(root), {}
    for (_, clear_path), (name, hazy, clear) in zip(dataset.pairs, dataset):
        clear = clear_photos.setdefault(clear_path, at_working_size(clear))
        level = "dense" if "_dense_" in name else "light"
        for key, value in zip(rows, (*describe(generator, at_working_size(hazy), clear), level)):
            rows[key].append(value)
    for clear in clear_photos.values():
        for key, value in zip(rows, (*describe(generator, clear, clear), "clear")):
            rows[key].append(value)
    return {k: np.array(v) for k, v in rows.items()}


def psnr_after(head: GlobalCalibration, features: torch.Tensor, moments: torch.Tensor) -> torch.Tensor:
    """Each image's PSNR after the head's gain and offset, from the output's moments (B, 5, 3)."""
    g, offset = head.gain_and_offset(features)
    o = (offset + 1 - g) / 2  # the head maps y = 2 Y - 1 to g y + offset, so Y to g Y + o
    mean_y, mean_yy, mean_c, mean_cc, mean_yc = moments.unbind(1)
    mse = g * g * mean_yy + o * o + mean_cc + 2 * g * o * mean_y - 2 * g * mean_yc - 2 * o * mean_c
    return -10 * torch.log10(mse.mean(1).clamp(min=1e-10))


def plain_psnr(moments: np.ndarray) -> np.ndarray:
    mean_y, mean_yy, mean_c, mean_cc, mean_yc = np.moveaxis(moments, 1, 0)
    return -10 * np.log10(np.maximum((mean_yy + mean_cc - 2 * mean_yc).mean(1), 1e-10))


def report(name: str, scores: np.ndarray, dcp: np.ndarray, levels: np.ndarray) -> str:
    parts = [f"{name} {scores.mean():.2f}"]
    for level in ("light", "dense", "clear"):
        chosen = levels == level
        if chosen.any():
            wins = f" (beats DCP {int((scores[chosen] > dcp[chosen]).sum())}/{int(chosen.sum())})" if level != "clear" else ""
            parts.append(f"{level} {scores[chosen].mean():.2f}{wins}")
    return ", ".join(parts)


def fit(head: GlobalCalibration, train: dict, val: dict, args) -> float:
    """AdamW on the head's MLP, cosine decay; keeps the state with the best validation mean PSNR (hazy and haze-free)."""
    tensors = lambda data: (torch.as_tensor(data["features"], dtype=torch.float32),
                            torch.as_tensor(data["moments"], dtype=torch.float32))
    train_features, train_moments = tensors(train)
    val_features, val_moments = tensors(val)
    head.feature_mean.copy_(train_features.mean(0))
    head.feature_scale.copy_(train_features.std(0).clamp(min=1e-4))
    head.requires_grad_(True)
    optimizer = torch.optim.AdamW(head.mlp.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    generator = torch.Generator().manual_seed(args.seed)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(args.epochs, 1))  # settles, for choosing
    best, best_state = -float("inf"), None
    for epoch in range(args.epochs + 1):
        if epoch:
            for batch in torch.randperm(len(train_features), generator=generator).split(args.batch_size):
                loss = -psnr_after(head, train_features[batch], train_moments[batch]).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            schedule.step()
        with torch.no_grad():
            score = psnr_after(head, val_features, val_moments).mean().item()
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in head.state_dict().items()}
        if epoch % max(1, args.epochs // 10) == 0:
            print(f"epoch {epoch}: validation {score:.3f} dB (best {best:.3f})", flush=True)
    head.load_state_dict(best_state)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder of clear training photos")
    parser.add_argument("--depth", help="folder of <stem>.npy relative depth maps for some of them")
    parser.add_argument("--val", required=True, help="RESIDE-style folder of photos never trained on")
    parser.add_argument("--init", type=Path, default=WEIGHTS_DIR / "generator.safetensors", help="the generator")
    parser.add_argument("--samples", type=int, default=4000, help="training images to describe")
    parser.add_argument("--cache", type=Path, default=Path("runs/calibration/samples.npz"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-2)
    parser.add_argument("--minutes", type=float, help="stop describing samples after this long, and fit")
    parser.add_argument("--export", type=Path, help="default: --init, replaced")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    deadline = time.time() + args.minutes * 60 if args.minutes else float("inf")
    generator = load_generator(args.init)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    train = build_cache(generator, args, args.cache, deadline)
    val = validation_set(generator, args.val)
    for name, data in (("training samples", train), ("validation", val)):
        print(report(f"{name}: uncalibrated", plain_psnr(data["moments"]), plain_psnr(data["dcp_moments"]), data["level"]))
    head = generator.calibration
    best = fit(head, train, val, args)
    with torch.no_grad():
        for name, data in (("training samples", train), ("validation", val)):
            scores = psnr_after(head, torch.as_tensor(data["features"], dtype=torch.float32),
                                torch.as_tensor(data["moments"], dtype=torch.float32)).numpy()
            print(report(f"{name}: calibrated", scores, plain_psnr(data["dcp_moments"]), data["level"]))
    metadata = read_metadata(args.init)
    config = {**json.loads(metadata.pop("config")), "calibration": True}
    export = args.export or args.init
    save_weights(generator, export, config, **metadata, calibration_samples=len(train["features"]),
                 calibration_val_psnr=f"{best:.3f}", calibration_data=args.data)
    print(f"wrote {export}")


if __name__ == "__main__":
    main()
