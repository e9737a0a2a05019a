"""Build the training and held-out test sets from freely licensed photographs on disk.

Sources are Debian wallpaper packages and the photographs bundled with
scikit-image. Clear images go to `<out>/train/clear` and `<out>/test/clear`; the
test split is also hazed once, with a fixed seed, into `<out>/test/hazy` in the
RESIDE layout (`<name>_<beta>_<airlight>.png` beside `clear/<name>.png`).

    sudo apt-get install mate-backgrounds plasma-workspace-wallpapers lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
    python -m dehaze.prepare_data --out data
"""

import argparse
import csv
import fnmatch
import glob
import os
import re
import subprocess
from pathlib import Path

import numpy as np

from .image_io import fit_within, load_image, save_image
from .scattering import depth_from_disparity, random_haze

LOMIRI = "/usr/share/backgrounds"
MATE = "/usr/share/backgrounds/mate/nature"
PLASMA = "/usr/share/wallpapers"

# (name, path): Debian wallpaper photographs, and "skimage:<file>" for scikit-image's bundled photos
PHOTOGRAPHS = [
    *[(Path(f).stem, f"{LOMIRI}/{f}") for f in [
        "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Kleiber_by_Lukas_Baubkus.jpg",
        "Picture_0B_by_freespace.jpg", "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg",
        "aitzgorri_by_Aitzol_Berasategi.jpg", "free_by_Peter_Nerlich.jpg", "friends_by_Aitzol_Berasategi.jpg",
        "greentock_by_Peter_Nerlich.jpg", "life_by_Aitzol_Berasategi.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg"]],
    *[(f"mate_{n}", f"{MATE}/{n}.jpg") for n in [
        "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops",
        "Storm", "TwoWings", "Wood", "YellowFlower"]],
    *[(f"plasma_{n}", f"{PLASMA}/{n}") for n in [
        "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
        "Kite", "MilkyWay", "OneStandsOut", "Path", "Volna", "summer_1am"]],
    *[(f"skimage_{Path(n).stem}", f"skimage:{n}")
      for n in ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]],
]
SKIMAGE_LICENSES = {  # from the docstrings of skimage.data
    "astronaut.png": "public domain (NASA)",
    "chelsea.png": "CC0 (Stefan van der Walt)",
    "coffee.png": "CC0 (Rachel Michetti)",
    "rocket.jpg": "public domain (SpaceX)",
    "motorcycle_left.png": "Middlebury 2014 stereo dataset (Scharstein et al., GCPR 2014); skimage.data states no license",
}

# Held out of training: chosen by hand to span landscapes, close-ups and indoor scenes.
TEST_NAMES = {
    "picosdeeuropa_by_Aitzol_Berasategi", "Bridge_by_Sander_Klootwijk", "mate_Storm", "mate_GreenMeadow",
    "plasma_Path", "plasma_EveningGlow", "plasma_ColdRipple", "skimage_coffee",
}

MAX_SIDE = 768
HAZES_PER_TEST_IMAGE = 3
EXAMPLE_NAMES = ["picosdeeuropa_by_Aitzol_Berasategi", "mate_Storm", "plasma_Path", "skimage_coffee"]
EXAMPLE_SIDE = 640


def resolve_path(source: str) -> str:
    """File of a source: skimage's data folder, a Plasma wallpaper's largest image, or a plain path."""
    if source.startswith("skimage:"):
        import skimage.data

        return os.path.join(os.path.dirname(skimage.data.__file__), source.split(":", 1)[1])
    if os.path.isdir(source):
        sizes = glob.glob(f"{source}/contents/images/*x*.*")
        width_times_height = lambda p: np.prod([int(v) for v in Path(p).stem.split("x")])
        return max(sizes, key=width_times_height)
    return source


def debian_provenance(path: str):
    """(package, license, copyright) of an installed file, from dpkg and the package's DEP-5 copyright file."""
    try:
        owner = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", "unknown", "unknown"
    package = owner.split(":")[0]
    license_name, holder = "unknown", "unknown"
    copyright_file = Path(f"/usr/share/doc/{package}/copyright")
    text = copyright_file.read_text(errors="replace") if copyright_file.is_file() else ""
    for stanza in text.split("\n\n"):  # DEP-5: the last stanza whose Files pattern matches wins
        fields = dict(re.findall(r"^(Files|Copyright|License):[ \t]*(.*(?:\n[ \t]+.*)*)", stanza, re.M))
        patterns = fields.get("Files", "").split()
        if any(p == "*" or fnmatch.fnmatch(path, "*/" + p) or Path(p).name == Path(path).name for p in patterns):
            license_name = fields.get("License", "unknown").splitlines()[0].strip()
            holder = " ".join(fields.get("Copyright", "unknown").split())
    return package, license_name, holder


def provenance(source: str, path: str):
    if source.startswith("skimage:"):
        return "scikit-image", SKIMAGE_LICENSES[source.split(":", 1)[1]], "see skimage.data"
    return debian_provenance(path)


def motorcycle_depth() -> np.ndarray:
    """Real relative depth of skimage's stereo motorcycle, from its ground-truth disparity."""
    import skimage.data

    return depth_from_disparity(skimage.data.stereo_motorcycle()[2])


def hazy_name(name: str, beta: float, airlight: float) -> str:
    return f"{name}_{beta:.2f}_{airlight:.2f}.png"


def prepare(out: Path, max_side: int = MAX_SIDE, seed: int = 0) -> None:
    for folder in ("train/clear", "train/depth", "test/clear", "test/hazy"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for name, source in PHOTOGRAPHS:
        path = resolve_path(source)
        if not os.path.isfile(path):
            print(f"skipping {name}: {path} not found (install the package that provides it)")
            continue
        package, license_name, holder = provenance(source, path)
        split = "test" if name in TEST_NAMES else "train"
        clear = fit_within(load_image(path), max_side)
        save_image(clear, out / split / "clear" / f"{name}.png")
        depth = None
        if name == "skimage_motorcycle_left":
            depth = fit_within(motorcycle_depth(), max_side)
            if split == "train":
                np.save(out / "train" / "depth" / f"{name}.npy", depth)
        if split == "test":
            for _ in range(HAZES_PER_TEST_IMAGE):
                hazy, _, beta, airlight = random_haze(clear, rng, depth)
                save_image(hazy, out / "test" / "hazy" / hazy_name(name, beta, airlight))
        rows.append({"name": name, "split": split, "package": package, "license": license_name,
                     "copyright": holder, "source": path, "width": clear.shape[1], "height": clear.shape[0]})
        print(f"{split:5s} {name}")
    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{sum(r['split'] == 'train' for r in rows)} train, {sum(r['split'] == 'test' for r in rows)} test -> {out}")


def write_examples(test: Path, out: Path, side: int = EXAMPLE_SIDE) -> None:
    """Small JPEG (hazy, clear) pairs of held-out photos, for the app's examples."""
    out.mkdir(parents=True, exist_ok=True)
    for name in EXAMPLE_NAMES:
        hazy_path = sorted((test / "hazy").glob(f"{name}_*.png"))[0]
        for kind, path in (("hazy", hazy_path), ("clear", test / "clear" / f"{name}.png")):
            save_image(fit_within(load_image(path), side), out / f"{name}_{kind}.jpg")
    print(f"wrote {len(EXAMPLE_NAMES)} example pairs to {out}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data"))
    parser.add_argument("--max-side", type=int, default=MAX_SIDE, help="downscale photos so the long side fits")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test split's haze")
    parser.add_argument("--examples", type=Path, help="also write small example pairs for the app here")
    args = parser.parse_args(argv)
    prepare(args.out, args.max_side, args.seed)
    if args.examples:
        write_examples(args.out / "test", args.examples)


if __name__ == "__main__":
    main()
