"""Datasets: paired hazy/clear folders in the RESIDE layout, and haze synthesized on the fly.

RESIDE layout: `root/hazy/<id>_<params>.<ext>` with its clear image at
`root/clear/<id>.<ext>` (`gt/` or `GT/` also work), e.g. SOTS's
`hazy/0001_0.8_0.2.jpg` and `clear/0001.png`, or ITS's `hazy/1_1_0.90179.png`
and `clear/1.png`.
"""

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..dcp import dehaze_dcp
from ..image_io import ImageError, fit_within, load_image, resize
from .haze import DIM_STOPS, LEVEL_PROBABILITIES, darker_exposure, random_haze, sky_mask
from .haze_geodesic import geodesic_haze
from .haze_layered import layered_haze
from .haze_patchy import PatchyHaze, patchy_haze

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
CLEAR_FOLDER_NAMES = ("clear", "gt", "GT")
TRAINING_SCALES = (384, 512, 640)  # longer sides of the copies training crops come from
DEVICE_SYNTHESIZERS = {"patchy": patchy_haze, "layered": layered_haze,
                       "geodesic": geodesic_haze}  # batched in torch, for `haze_on_device`
HAZED_MAPS = ("hazy", "clear", "clean_hazy", "transmission", "airlight", "noise", "dcp")  # what they write


def list_images(folder) -> list:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, C) or (H, W) float array to a (C, H, W) tensor."""
    image = image[:, :, None] if image.ndim == 2 else image
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class PairedFolderDataset(Dataset):
    """(name, hazy, clear) float arrays from a RESIDE-style folder pair."""

    def __init__(self, root):
        root = Path(root)
        clear_folder = next((root / n for n in CLEAR_FOLDER_NAMES if (root / n).is_dir()), None)
        if not (root / "hazy").is_dir() or clear_folder is None:
            raise FileNotFoundError(f"{root} needs a hazy/ folder and a clear/ (or gt/) folder")
        clear_by_stem = {p.stem: p for p in list_images(clear_folder)}
        self.pairs = [(h, self.find_clear(h.stem, clear_by_stem)) for h in list_images(root / "hazy")]
        missing = [h.name for h, c in self.pairs if c is None]
        if missing:
            raise FileNotFoundError(f"no clear image for {len(missing)} hazy images, e.g. {missing[0]}")
        if not self.pairs:
            raise FileNotFoundError(f"no images in {root / 'hazy'}")

    @staticmethod
    def find_clear(hazy_stem: str, clear_by_stem: dict):
        """The clear image whose stem is the hazy stem with trailing `_<param>` fields removed."""
        parts = hazy_stem.split("_")
        for end in range(len(parts), 0, -1):
            match = clear_by_stem.get("_".join(parts[:end]))
            if match is not None:
                return match
        return None

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        hazy_path, clear_path = self.pairs[index]
        hazy, clear = load_image(hazy_path), load_image(clear_path)
        if hazy.shape != clear.shape:
            raise ImageError(f"{hazy_path.name} is {hazy.shape[:2]} but {clear_path.name} is {clear.shape[:2]}")
        return hazy_path.stem, hazy, clear


def random_crop(rng: np.random.Generator, size: int, *images):
    """The same random size x size window of each image (all of equal height and width)."""
    height, width = images[0].shape[:2]
    top, left = rng.integers(0, height - size + 1), rng.integers(0, width - size + 1)
    return [image[top : top + size, left : left + size] for image in images]


class SyntheticHazeDataset(Dataset):
    """Photos hazed on the fly, then cropped: dicts of hazy, clear, transmission, clean_hazy, sky[, dcp] maps
    in [0, 1], the airlight (3,) and the camera's noise level (see `dehaze.training.haze.HazySample`).
    `sky` marks the clear photo's sky (`haze.sky_mask`), for honest targets (`dehaze.training.targets`).

    Each photo is kept at several scales so crops see both wide views and details.
    The whole photo is hazed before cropping (`dehaze.training.haze.random_haze`: depth that
    follows the scene, linear-light scattering, camera noise and JPEG), so depth spans
    the frame as in a real scene. Where `depth_folder` holds `<stem>.npy` (relative
    depth in [0, 1], same size as the photo) it replaces the estimated depth. With
    `with_dcp`, DCP's estimate of the clear photo, computed on the whole hazy photo
    as at inference, is `dcp`. A `darker_share` of the samples are exposed darker
    before hazing (`dehaze.training.haze.darker_exposure`), for more dusk and night scenes, and a
    `dim_share` are exposed darker as a whole, haze included, for dim fog (`random_haze`'s
    `exposure`). A `device_share` of the samples are left clear, the crop alone, marked
    `on_device` for `haze_on_device` to haze on the training device with the synthesizers
    written in torch (`haze_patchy`, `haze_layered`, `haze_geodesic`): synthesizers written
    apart, so the model learns haze rather than one program's way of drawing it, and a GPU
    makes that share of the haze itself.
    """

    def __init__(self, clear_folder, crop_size=128, length=100_000, scales=TRAINING_SCALES, depth_folder=None, seed=0,
                 with_dcp=False, level_probabilities=LEVEL_PROBABILITIES, darker_share=0.0, dim_share=0.0,
                 device_share=0.0):
        self.crop_size, self.length, self.seed, self.with_dcp = crop_size, length, seed, with_dcp
        self.device_share = device_share
        self.level_probabilities, self.darker_share, self.dim_share = level_probabilities, darker_share, dim_share
        self.images = []  # (clear, depth or None) at every scale
        for path in list_images(clear_folder):
            clear = load_image(path)
            depth_path = Path(depth_folder) / f"{path.stem}.npy" if depth_folder else None
            depth = np.load(depth_path) if depth_path and depth_path.is_file() else None
            for side in scales:
                small = fit_within(clear, side)
                if min(small.shape[:2]) < crop_size:
                    continue
                small_depth = None if depth is None else resize(depth, small.shape[1], small.shape[0])
                self.images.append((small, small_depth))
        if not self.images:
            raise FileNotFoundError(f"no images of at least {crop_size} px in {clear_folder}")

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        rng = np.random.default_rng((self.seed, index))
        clear, depth = self.images[rng.integers(len(self.images))]
        if rng.random() < 0.5:
            clear = clear[:, ::-1]
            depth = None if depth is None else depth[:, ::-1]
        sky = sky_mask(clear).astype(np.float32)  # found before any darker exposure, which would hide it
        if rng.random() < self.device_share:
            return self.left_for_device(rng, clear, sky)
        exposure = 1.0
        if self.dim_share and rng.random() < self.dim_share:
            exposure = 2.0 ** -rng.uniform(*DIM_STOPS)
        elif rng.random() < self.darker_share:
            clear = darker_exposure(clear, rng)
        sample = random_haze(np.ascontiguousarray(clear), rng, depth, level_probabilities=self.level_probabilities,
                             exposure=exposure)
        maps = {"hazy": sample.hazy, "clear": sample.clear, "transmission": sample.transmission,
                "clean_hazy": sample.clean_hazy, "sky": sky}
        if self.with_dcp:
            maps["dcp"] = dehaze_dcp(sample.hazy).image
        crops = random_crop(rng, self.crop_size, *maps.values())
        return {**{name: to_tensor(crop) for name, crop in zip(maps, crops)},
                "airlight": torch.from_numpy(sample.airlight.astype(np.float32)),
                "noise": torch.tensor(sample.noise, dtype=torch.float32), "on_device": torch.tensor(False)}

    def left_for_device(self, rng, clear, sky):
        """A clear crop in every map's place, marked for `haze_on_device`; the same keys, so batches collate."""
        crop, sky = (to_tensor(image) for image in random_crop(rng, self.crop_size, np.ascontiguousarray(clear), sky))
        maps = {name: crop for name in ("hazy", "clear", "clean_hazy", *(["dcp"] if self.with_dcp else []))}
        return {**maps, "sky": sky, "transmission": torch.ones_like(crop[:1]), "airlight": torch.ones(3),
                "noise": torch.tensor(0.0), "on_device": torch.tensor(True)}


def haze_on_device(batch: dict, generator: torch.Generator, level_probabilities=LEVEL_PROBABILITIES,
                   synthesizers=("patchy",)) -> dict:
    """Haze the samples marked `on_device` where the batch is (a GPU when training has one).

    Each such sample is hazed by one of `synthesizers` (names in `DEVICE_SYNTHESIZERS`),
    drawn with `generator`: synthesizers written apart, so the model learns haze rather
    than one program's way of drawing it. `level_probabilities` (clear, light, dense) are
    the dataset's, so a run that asks for more dense haze gets it from every synthesizer.

    Their targets are as `haze.random_haze` makes them: the photo as hazed (grey for grey
    samples), or for haze-free samples the hazy photo itself, noise and compression included.
    """
    chosen = batch.get("on_device")
    if chosen is None or not chosen.any():
        return batch
    unknown = set(synthesizers) - set(DEVICE_SYNTHESIZERS)
    if not synthesizers or unknown:
        raise ValueError(f"device synthesizers must be some of {sorted(DEVICE_SYNTHESIZERS)}, got {list(synthesizers)}")
    device = batch["clear"].device
    drawn = (torch.randint(len(synthesizers), chosen.shape, generator=generator, device=device)
             if len(synthesizers) > 1 else torch.zeros_like(chosen, dtype=torch.long))  # one: the draws of runs before
    batch = {name: values.clone() if name in HAZED_MAPS else values for name, values in batch.items()}
    for index, name in enumerate(synthesizers):
        mine = chosen & (drawn == index)
        if mine.any():
            write_haze(batch, mine, DEVICE_SYNTHESIZERS[name](batch["clear"][mine], generator,
                                                              level_probabilities=level_probabilities))
    return batch


def write_haze(batch: dict, rows: torch.Tensor, haze: PatchyHaze) -> None:
    """Put a device synthesizer's haze into the batch's `rows` (bool), in place."""
    haze_free = torch.tensor([level == "clear" for level in haze.level], device=haze.hazy.device)[:, None, None, None]
    made = {"hazy": haze.hazy, "clear": torch.where(haze_free, haze.hazy, haze.clear), "clean_hazy": haze.clean_hazy,
            "transmission": haze.transmission, "airlight": haze.airlight, "noise": haze.noise_sigma}
    if "dcp" in batch:
        made["dcp"] = torch.stack([dehaze_dcp(hazy).image for hazy in haze.hazy])
    for name, values in made.items():
        batch[name][rows] = values.to(batch[name].dtype)
