"""Build the training, validation and test sets from freely licensed photographs in Debian packages.

    apt-get update && apt-get install -y libedje-bin   # edje_decc, for enlightenment-data's photos
    python -m dehaze.training.prepare_data --out data

Every package is fetched by name (`apt-get download`) and unpacked under
`<out>/packages/`, so nothing needs installing and the sets are reproducible from
package names; photos bundled with scikit-image come from the installed library. GCompris keeps its photos
inside Qt resource bundles (`.rcc`): a photo there is named `<bundle>.rcc:<resource path>` and extracted by
`rcc_read`, and its credit is read from the README beside it in the bundle.
The photos and their splits are listed in `photos.csv` beside this file (chosen by hand: validation
and test span landscapes, cities, close-ups and indoor scenes from every source; photos of 480 px
or less on the short side, and black-and-white ones, were left out, except endless-sky-data's
720 x 360 landscapes, chosen by a rule given in the file). The splits never share a photo:

- train: clear photos at up to 640 px, the largest copy training crops from, as lossless
  WebP, or JPEGs of at most 768 px copied as they are (57 MB for 338 photos, so the split
  fits beside the repository in the 64 MiB a lent GPU machine receives); haze is
  synthesized on the fly (`dehaze.training.haze`).
- val: photos never trained on, each hazed once light and once dense with a fixed
  seed, for choosing checkpoints and settings.
- test: the held-out photos, hazed the same way with another seed; score it rarely.

`--independent` writes only `<out>/independent`, from packages reserved for an
independent test of generalization (never used for training, validation or
tuning). Hazy files are named `<photo>_<level>_<beta>_<airlight>.png` beside
`clear/<photo>.png` (the RESIDE layout `dehaze.training.evaluate` reads). `manifest.csv`
lists each photo's package, license, copyright and source.

`--real` writes only `<out>/real`: every photo of the `real` split (real haze, fog or mist,
with no clear version; never trained on), fitted within 768 px, as `<photo>.png`, and its
`manifest.csv`.
"""

import argparse
import csv
import fnmatch
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..image_io import fit_within, load_image, save_image
from ..scattering import depth_from_disparity
from .datasets import TRAINING_SCALES
from .haze import random_haze


@dataclass(frozen=True)
class Photo:
    name: str
    package: str  # a Debian package, or "scikit-image" / "scikit-learn"
    # inside the package; a Plasma wallpaper folder or an .edj file is resolved to its largest image, and
    # `<bundle>.rcc:<resource path>` names a file inside a Qt resource bundle
    path: str
    license: str = ""  # where neither the package's copyright file nor a bundle's README credits it readably


PHOTO_LIST = Path(__file__).with_name("photos.csv")
SPLITS = ("train", "val", "test", "independent", "real")


def read_photo_list(path=PHOTO_LIST) -> list:
    """(split, Photo) for each row of `photos.csv` (name, split, package, path, license), in the file's order.

    Splits: train, val (never trained on, for choosing), test (held out, scored rarely),
    independent (packages reserved for an independent check, never trained, validated or
    tuned on) and real (real hazy photos without a clear version, never trained on). The
    order matters: val and test photos are hazed one after another from one seed per split.
    """
    with open(path, newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    for row in rows:
        if row["split"] not in SPLITS:
            raise ValueError(f"{path}: {row['name']} has unknown split {row['split']!r}; use one of {', '.join(SPLITS)}")
    return [(row["split"], Photo(row["name"], row["package"], row["path"], row["license"])) for row in rows]


PHOTO_LIST_ROWS = read_photo_list()
PHOTOGRAPHS = [photo for split, photo in PHOTO_LIST_ROWS if split in ("train", "val", "test")]
VALIDATION_NAMES = {photo.name for split, photo in PHOTO_LIST_ROWS if split == "val"}
TEST_NAMES = {photo.name for split, photo in PHOTO_LIST_ROWS if split == "test"}
INDEPENDENT = [photo for split, photo in PHOTO_LIST_ROWS if split == "independent"]  # never train, validate or tune on
REAL_HAZE = [photo for split, photo in PHOTO_LIST_ROWS if split == "real"]
EXAMPLES = {"picosdeeuropa_by_Aitzol_Berasategi": "light", "mate_Storm": "dense", "plasma_Path": "dense",
            "skimage_coffee": "light"}  # test photos, so the app's examples were never trained on
EXAMPLE_REAL_HAZE = ("real_lifeograph_fog", "real_kphotoalbum_grand_canyon_3", "real_enlightenment_Foggy-Trees")
EXAMPLE_SIDE = 640

MAX_SIDE = {"train": max(TRAINING_SCALES), "val": 768, "test": 768, "independent": 768, "real": 768}
# A training photo that comes as a JPEG this small is copied as it is: lossless WebP of its pixels took three
# times the room, and training fits it within its scales as it loads it anyway.
KEPT_JPEG_SIDE = 768
HAZE_LEVELS = ("light", "dense")
SEEDS = {"val": 123, "test": 0, "independent": 2026}


def fetch_package(package: str, cache: Path) -> Path:
    """Unpack a Debian package (downloaded by name, no install) under `cache`; returns its root."""
    root = cache / package
    if not (root / ".unpacked").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", package], cwd=cache, check=True, capture_output=True)
        deb = max(cache.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        deb.unlink()
        (root / ".unpacked").touch()
    return root


RCC_COMPRESSED, RCC_DIRECTORY, RCC_COMPRESSED_ZSTD = 0x01, 0x02, 0x04


def rcc_read(bundle: bytes, resource: str) -> bytes:
    """A file's bytes from a Qt resource bundle (`rcc -binary`'s .rcc), by its resource path.

    GCompris ships its photos only inside such bundles. A bundle is a header ("qres", format version, and the
    offsets of its tree, data and names sections), a tree of fixed-size entries whose directories point to a run
    of child entries, length-prefixed UTF-16 names, and length-prefixed file contents.
    """
    magic, version, tree, data, names = struct.unpack_from(">4s4I", bundle)
    if magic != b"qres":
        raise ValueError("not a Qt resource bundle")
    entry_size = 14 if version == 1 else 22  # name offset, flags, 8 bytes of kind-specific fields; v2+ add a time

    def entry_name(index: int) -> str:
        offset = names + struct.unpack_from(">I", bundle, tree + index * entry_size)[0]
        length = struct.unpack_from(">H", bundle, offset)[0]
        return bundle[offset + 6:offset + 6 + 2 * length].decode("utf-16-be")  # after the length and a hash

    index = 0  # the root directory
    for part in resource.strip("/").split("/"):
        flags, count, first = struct.unpack_from(">HII", bundle, tree + index * entry_size + 4)
        children = range(first, first + count) if flags & RCC_DIRECTORY else []
        index = next((child for child in children if entry_name(child) == part), None)
        if index is None:
            raise FileNotFoundError(f"{resource} is not in the bundle")
    flags, offset = struct.unpack_from(">H4xI", bundle, tree + index * entry_size + 4)  # skips country, language
    if flags & RCC_DIRECTORY:
        raise IsADirectoryError(resource)
    size = struct.unpack_from(">I", bundle, data + offset)[0]
    content = bundle[data + offset + 4:data + offset + 4 + size]
    if flags & RCC_COMPRESSED_ZSTD:
        raise ValueError(f"{resource} is zstd-compressed, which this reader does not decode")
    return zlib.decompress(content[4:]) if flags & RCC_COMPRESSED else content  # qCompress: length, then zlib


def in_bundle(path: str):
    """(bundle, resource path) of a Photo.path into a Qt resource bundle, written `<bundle>.rcc:<resource>`."""
    bundle, separator, resource = path.partition(".rcc:")
    return (bundle + ".rcc", resource) if separator else None


def resolve(photo: Photo, cache: Path) -> Path:
    """The image file of a photo: scikit-image/learn's data, a Plasma wallpaper's largest size, an .edj's image,
    or a file extracted from a Qt resource bundle."""
    if photo.package == "scikit-image":
        import skimage.data

        return Path(skimage.data.__file__).parent / photo.path
    if photo.package == "scikit-learn":
        import sklearn.datasets

        return Path(sklearn.datasets.__file__).parent / "images" / photo.path
    root = fetch_package(photo.package, cache)
    if bundled := in_bundle(photo.path):
        bundle, resource = bundled
        out = cache / "rcc" / Path(bundle).stem / resource.lstrip("/")
        if not out.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(rcc_read((root / bundle.lstrip("/")).read_bytes(), resource))
        return out
    path = root / photo.path.lstrip("/")
    if path.is_dir():
        pixels = lambda p: np.prod([int(v) for v in p.stem.split("x")])
        return max(path.glob("contents/images/*x*.*"), key=pixels)
    if path.suffix == ".edj":
        out = (cache / "edj" / path.stem).resolve()
        if not (out / "img.png").is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["edje_decc", str(path.resolve())], cwd=out.parent, check=True, capture_output=True)
        return out / "img.png"
    return path


def debian_provenance(package: str, root: Path, path: str):
    """(license, copyright) of a file, from the package's DEP-5 copyright file; the last matching stanza wins."""
    copyright_file = root / "usr/share/doc" / package / "copyright"
    text = copyright_file.read_text(errors="replace") if copyright_file.is_file() else ""
    license_name, holder = "unknown", "unknown"
    for stanza in text.split("\n\n"):
        fields = dict(re.findall(r"^(Files|Copyright|License):[ \t]*(.*(?:\n[ \t]+.*)*)", stanza, re.M))
        patterns = fields.get("Files", "").split()
        # Files patterns name source paths: match a pattern's file name, or its last folder and file name
        if any(p == "*" or Path(p).name == Path(path).name or fnmatch.fnmatch(path, "*/" + "/".join(p.split("/")[-2:]))
               for p in patterns):
            license_name = fields.get("License", "unknown").splitlines()[0].strip()
            holder = " ".join(fields.get("Copyright", "unknown").split())
    return license_name, holder


def readme_stanzas(text: str):
    """The fields of each stanza of a GCompris resource README: DEP-5-like, but a field's further lines
    (a list of files) are not indented."""
    for stanza in text.split("\n\n"):
        fields, key = {}, None
        for line in stanza.strip().splitlines():
            field = re.match(r"([A-Z][a-z]+):[ \t]*(.*)", line)
            if field:
                key, line = field.groups()
            if key:
                fields[key] = f"{fields.get(key, '')} {line}".strip()
        yield fields


def bundle_provenance(bundle: bytes, resource: str):
    """(license, credit) of a file in a GCompris bundle, from the README in its folder or a parent folder, which
    credits each photo by author, source (mostly Wikimedia Commons), license and changes: the package's copyright
    file does not list these photos (only older .jpg ones)."""
    for folder in PurePosixPath(resource).parents:
        try:
            text = rcc_read(bundle, f"{folder}/README").decode()
        except FileNotFoundError:
            continue
        name = str(PurePosixPath(resource).relative_to(folder))
        for fields in readme_stanzas(text):
            if name in fields.get("Files", "").split():
                changes = fields.get("Comments") and f"changes: {fields['Comments']}"
                credit = ", ".join(filter(None, [fields.get("Copyright"), fields.get("Source"), changes]))
                return fields.get("License", "unknown"), credit
    return "unknown", "unknown"


def provenance(photo: Photo, cache: Path):
    if photo.license:
        return photo.license, f"see the {photo.package} package"
    if bundled := in_bundle(photo.path):
        bundle, resource = bundled
        return bundle_provenance((cache / photo.package / bundle.lstrip("/")).read_bytes(), resource)
    return debian_provenance(photo.package, cache / photo.package, photo.path)


def motorcycle_depth() -> np.ndarray:
    """Real relative depth of skimage's stereo motorcycle, from its ground-truth disparity."""
    import skimage.data

    return depth_from_disparity(skimage.data.stereo_motorcycle()[2])


def known_depth(name: str, shape):
    return fit_within(motorcycle_depth(), max(shape[:2])) if name == "skimage_motorcycle_left" else None


def hazy_name(name: str, level: str, beta: float, airlight) -> str:
    return f"{name}_{level}_{beta:.2f}_{float(np.mean(airlight)):.2f}.png"


def split_of(name: str) -> str:
    return "test" if name in TEST_NAMES else "val" if name in VALIDATION_NAMES else "train"


def manifest_row(photo: Photo, split: str, image: np.ndarray, cache: Path) -> dict:
    """A photo's line of manifest.csv: where it came from, its license and its size as written."""
    license_name, holder = provenance(photo, cache)
    return {"name": photo.name, "split": split, "package": photo.package, "license": license_name,
            "copyright": holder, "source": photo.path, "width": image.shape[1], "height": image.shape[0]}


def write_csv(rows: list, path) -> None:
    """Rows of dicts with the same keys as a CSV file with a header (manifests, scores)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def prepare(out: Path, independent: bool = False) -> None:
    """Write train/val/test under `out`, or with `independent` only the independent test set."""
    cache = out / "packages"
    rows, rngs = [], {split: np.random.default_rng(seed) for split, seed in SEEDS.items()}
    if independent:
        sets, manifest = [(photo, "independent") for photo in INDEPENDENT], out / "independent" / "manifest.csv"
    else:
        sets, manifest = [(photo, split_of(photo.name)) for photo in PHOTOGRAPHS], out / "manifest.csv"
    for split in {split for _, split in sets}:  # a rerun must not leave hazes of another draw, or photos of another format
        for folder in ("clear", "hazy", "depth"):
            shutil.rmtree(out / split / folder, ignore_errors=True)
        if split != "train":
            (out / split / "hazy").mkdir(parents=True)
    for photo, split in sets:
        try:
            path = resolve(photo, cache)
            original = load_image(path)
        except (subprocess.CalledProcessError, OSError, ImportError, ValueError) as error:
            print(f"skipping {photo.name}: {error}")
            continue
        (out / split / "clear").mkdir(parents=True, exist_ok=True)
        kept = split == "train" and path.suffix.lower() in (".jpg", ".jpeg") and max(original.shape[:2]) <= KEPT_JPEG_SIDE
        clear = original if kept else fit_within(original, MAX_SIDE[split])
        if kept:
            shutil.copyfile(path, out / split / "clear" / f"{photo.name}.jpg")
        elif split == "train":
            save_image(clear, out / split / "clear" / f"{photo.name}.webp", lossless=True)
        else:
            save_image(clear, out / split / "clear" / f"{photo.name}.png")
        depth = known_depth(photo.name, clear.shape)
        if split == "train" and depth is not None:
            (out / "train" / "depth").mkdir(parents=True, exist_ok=True)
            np.save(out / "train" / "depth" / f"{photo.name}.npy", depth)
        if split != "train":
            for level in HAZE_LEVELS:
                sample = random_haze(clear, rngs[split], depth, level=level, grayscale=False)
                save_image(sample.hazy, out / split / "hazy" / hazy_name(photo.name, level, sample.beta, sample.airlight))
        rows.append(manifest_row(photo, split, clear, cache))
        print(f"{split:11s} {photo.name}")
    write_csv(rows, manifest)
    counts = {split: sum(r["split"] == split for r in rows) for split in SEEDS | {"train": 0}}
    print(", ".join(f"{n} {split}" for split, n in counts.items() if n), f"-> {out}")


def prepare_real(out: Path) -> None:
    """Write the real hazy photos (the `real` split, no clear version) to `out/real`, with a manifest."""
    cache, folder = out / "packages", out / "real"
    shutil.rmtree(folder, ignore_errors=True)  # a rerun must not keep photos since dropped from the list
    folder.mkdir(parents=True)
    rows = []
    for photo in REAL_HAZE:
        try:
            image = fit_within(load_image(resolve(photo, cache)), MAX_SIDE["real"])
        except (subprocess.CalledProcessError, OSError, ImportError, ValueError) as error:
            print(f"skipping {photo.name}: {error}")
            continue
        save_image(image, folder / f"{photo.name}.png")
        rows.append(manifest_row(photo, "real", image, cache))
        print(f"real        {photo.name}")
    write_csv(rows, folder / "manifest.csv")
    print(f"{len(rows)} of {len(REAL_HAZE)} real hazy photos -> {folder}")


def write_examples(out: Path, cache: Path, seed: int = 7) -> None:
    """The app's examples: test photos hazed as in training (hazy and clear JPEGs), and three real hazy photos."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    by_name = {photo.name: photo for photo in PHOTOGRAPHS}
    for name, level in EXAMPLES.items():
        clear = fit_within(load_image(resolve(by_name[name], cache)), EXAMPLE_SIDE)
        hazy = random_haze(clear, rng, known_depth(name, clear.shape), level=level, grayscale=False).hazy
        save_image(clear, out / f"{name}_clear.jpg")
        save_image(hazy, out / f"{name}_hazy.jpg")
    real = [photo for photo in REAL_HAZE if photo.name in EXAMPLE_REAL_HAZE]
    for photo in real:
        save_image(fit_within(load_image(resolve(photo, cache)), EXAMPLE_SIDE), out / f"{photo.name}.jpg")
    print(f"wrote {len(EXAMPLES)} hazy/clear pairs and {len(real)} real hazy photos to {out}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data"))
    parser.add_argument("--independent", action="store_true",
                        help="build only the independent test set, from the reserved packages")
    parser.add_argument("--examples", type=Path, help="only write the app's example photos to this folder")
    parser.add_argument("--real", action="store_true",
                        help="build only the real hazy photos (no clear version), for measuring only")
    args = parser.parse_args(argv)
    if args.examples:
        write_examples(args.examples, args.out / "packages")
    elif args.real:
        prepare_real(args.out)
    else:
        prepare(args.out, args.independent)


if __name__ == "__main__":
    main()
