"""Build the training, validation and test sets from freely licensed photographs in Debian packages.

    apt-get update && apt-get install -y libedje-bin   # edje_decc, for enlightenment-data's photos
    python -m dehaze.prepare_data --out data

Every package is fetched by name (`apt-get download`) and unpacked under
`<out>/packages/`, so nothing needs installing and the sets are reproducible from
package names; photos bundled with scikit-image come from the installed library. GCompris keeps its photos
inside Qt resource bundles (`.rcc`): a photo there is named `<bundle>.rcc:<resource path>` and extracted by
`rcc_read`, and its credit is read from the README beside it in the bundle.
Photos are split by name into three sets that never share a photo:

- train: clear photos at up to 640 px, the largest copy training crops from, as lossless
  WebP (46 MB for 190 photos, so the split fits beside the repository in the 64 MiB a
  lent GPU machine receives); haze is synthesized on the fly (`dehaze.haze`).
- val: photos never trained on, each hazed once light and once dense with a fixed
  seed, for choosing checkpoints and settings.
- test: the held-out photos, hazed the same way with another seed; score it rarely.

`--independent` writes only `<out>/independent`, from packages reserved for an
independent test of generalization (never used for training, validation or
tuning). Hazy files are named `<photo>_<level>_<beta>_<airlight>.png` beside
`clear/<photo>.png` (the RESIDE layout `dehaze.evaluate` reads). `manifest.csv`
lists each photo's package, license, copyright and source.
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

from .datasets import TRAINING_SCALES
from .haze import random_haze
from .image_io import fit_within, load_image, save_image
from .scattering import depth_from_disparity


@dataclass(frozen=True)
class Photo:
    name: str
    package: str  # a Debian package, or "scikit-image" / "scikit-learn"
    # inside the package; a Plasma wallpaper folder or an .edj file is resolved to its largest image, and
    # `<bundle>.rcc:<resource path>` names a file inside a Qt resource bundle
    path: str
    license: str = ""  # where neither the package's copyright file nor a bundle's README credits it readably


def photos(package, folder, names, prefix, suffix=".jpg", license=""):
    return [Photo(f"{prefix}_{Path(n).stem}", package, f"{folder}/{n}{suffix}", license) for n in names]


LOMIRI = "/usr/share/backgrounds"
SCRATCH = "/usr/share/scratch/Media/Backgrounds"
ENLIGHTENMENT = "/usr/share/enlightenment/data/backgrounds"
LEMONLDAP = "/usr/share/lemonldap-ng/portal/htdocs/static/common/backgrounds"
KPHOTOALBUM = "/usr/share/kphotoalbum/demo"
LIFEOGRAPH = "/usr/share/net.sourceforge.Lifeograph/backgrounds"
TUXPAINT = "/usr/share/tuxpaint/templates"
MONUMENTS = "/usr/share/gcompris-qt/rcc/explore_monuments.rcc:/gcompris/src/activities/explore_monuments/resource"
ERASE = "/usr/share/gcompris-qt/rcc/erase.rcc:/gcompris/src/activities/erase/resource"

PHOTOGRAPHS = [
    *[Photo(n, "lomiri-wallpapers-16.04", f"{LOMIRI}/{n}.jpg") for n in [
        "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
        "Wine_by_Jakkub_Mede", "free_by_Peter_Nerlich", "picosdeeuropa_by_Aitzol_Berasategi",
        "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi", "aitzgorri_by_Aitzol_Berasategi",
        "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich", "life_by_Aitzol_Berasategi"]],
    Photo("Kleiber_by_Lukas_Baubkus", "lomiri-wallpapers-20.04", f"{LOMIRI}/Kleiber_by_Lukas_Baubkus.jpg"),
    *photos("mate-backgrounds", "/usr/share/backgrounds/mate/nature", [
        "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm",
        "TwoWings", "Wood", "YellowFlower"], "mate"),
    *photos("plasma-workspace-wallpapers", "/usr/share/wallpapers", [
        "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
        "MilkyWay", "OneStandsOut", "Path", "Volna", "summer_1am"], "plasma", suffix=""),
    *photos("scratch", f"{SCRATCH}/Nature", [
        "beach-malibu", "canyon", "flower-bed", "forest", "garden-rock", "grand-canyon", "gravel-desert", "hill",
        "lake", "pathway", "tree", "water-and-rocks", "wave", "woods-and-bench"], "scratch"),
    *photos("scratch", f"{SCRATCH}/Outdoors", [
        "bench-with-view", "boardwalk", "building-at-mit", "castle", "city-with-water", "city-with-water2",
        "driveway", "hay_field", "houses", "mansion", "parking-ramp", "pool", "route66", "silos", "train-tracks1",
        "train-tracks2", "village", "wooden-house"], "scratch"),
    *photos("scratch", f"{SCRATCH}/Indoors", ["hall", "kitchen", "room1"], "scratch"),
    *photos("enlightenment-data", ENLIGHTENMENT, [
        "Bamboo", "Dunes", "Green-Maple", "Lichen-Branches", "Mountain", "Peaks", "Red-Maple",
        "Sea-of-Lanterns", "Snow-Trees", "Spruce-Needles", "Sunset-Clouds", "Sunset-Hills", "White-Flower",
        "Yellow-Flower"], "enlightenment", suffix=".edj"),
    *photos("liblemonldap-ng-portal-perl", LEMONLDAP, [
        "1280px-Anse_Source_d'Argent_2-La_Digue", "1280px-Autumn-clear-water-waterfall-landscape_-_Virginia_-_ForestWander",
        "1280px-BrockenSnowedTrees", "1280px-Cedar_Breaks_National_Monument_partially",
        "1280px-Parry_Peak_from_Winter_Park", "Aletschgletscher_mit_Pinus_cembra1"], "wikimedia"),
    *photos("kphotoalbum", KPHOTOALBUM, [
        "skagen", "skagen_2", "cold_water", "sunset", "snow", "pool", "new_wave_1", "new_wave_2", "bar55",
        "donna", "jesper", "spiff"], "kphotoalbum", license="GPL-2+ (the package's license; its copyright file is not machine-readable)"),
    *photos("lifeograph", LIFEOGRAPH, ["street", "snow", "horizon", "trams", "cloister", "sands", "pier"], "lifeograph"),
    *[Photo(f"skimage_{Path(n).stem}", "scikit-image", n, license) for n, license in [
        ("astronaut.png", "public domain (NASA)"), ("chelsea.png", "CC0 (Stefan van der Walt)"),
        ("coffee.png", "CC0 (Rachel Michetti)"), ("rocket.jpg", "public domain (SpaceX)"),
        ("motorcycle_left.png", "Middlebury 2014 stereo dataset (Scharstein et al., GCPR 2014); skimage.data states no license")]],
    # Tux Paint's photo templates, credited to Bill Kendrick in its AUTHORS file, less those 480 px or less on the
    # short side (mossy_bark, trees_above, trees_at_dusk, wool_mill_machine)
    *photos("tuxpaint-data", TUXPAINT, [
        "burnt_bark", "cliff", "corn_maze", "jellyfish", "lighthouse", "mossy_log", "mudstone", "ocean_splash",
        "ocean_waves", "redwoods_above", "rocks", "sheep", "spiders_web", "sun_behind_clouds", "sun_behind_leaves"],
        "tuxpaint"),
    # GCompris's landmark photos (1024 px wide), less cabrillo and victoriaMemorial (under 460 px on the short
    # side) and castleClinton (black and white)
    *photos("gcompris-qt-data", MONUMENTS, [
        "wonders/chichenItza", "wonders/christTheRedeemer", "wonders/colosseum", "wonders/greatWallofChina",
        "wonders/machuPicchu", "wonders/petra", "wonders/tajMahal", "india/ajantaCave", "india/charminar",
        "india/gatewayofIndia", "india/goldenTemple", "india/greatStupa", "india/hawaMahal", "india/konarkSunTemple",
        "india/mysorePalace", "india/qutubMinar", "india/rangGhar", "france/arlesAmphitheater",
        "france/chateaudeChambord", "france/chateaudeChenonceau", "france/citedeCarcassonne", "france/eiffelTower",
        "france/montStMichel", "france/palaisdesPapes", "france/pontduGard", "france/reimsCathedral",
        "france/rocamadour", "germany/berlinCathedral", "germany/brandenburgGate", "germany/neuschwansteinCastle",
        "germany/schwerinPalace", "germany/trierImperialBaths", "germany/wormsCathedral", "usa/canyondeChelly",
        "usa/castillodeSanMarcos", "usa/fortSumter", "usa/georgeWashingtonBirthplace", "usa/lincolnMemorial",
        "usa/mountRushmore", "usa/navajo", "usa/statueofLiberty", "egypt/bentPyramid", "egypt/greatPyramidOfGiza",
        "egypt/meidumPyramid", "egypt/redPyramid"], "gcompris", suffix=".webp"),
    *photos("gcompris-qt-data", MONUMENTS, ["germany/aulaPalatina"], "gcompris", suffix=".webp",
            license="Public Domain (Berthold Werner, https://commons.wikimedia.org/wiki/File:Trier_Konstantinbasilika_"
                    "BW_1.JPG; the bundle's README credits it under the misspelt name germany/audaPalatina.webp)"),
    # GCompris's animal photos (1920x1080)
    *photos("gcompris-qt-data", ERASE, [
        "alpaca", "bee", "butterfly", "calf", "camels", "caterpillar", "chamaeleon", "cheetah", "crab", "dolphin",
        "flying_fox", "gibbon", "giraffe", "goat", "gorilla", "gosling", "heron", "horse", "kingfisher", "kitten",
        "long_nosed_monkey", "macaque", "meerkats", "northern_harrier", "nubian_ibex", "penguin", "pika",
        "red_panda", "rhinoceros", "spoonbills", "squirrel", "swans", "toucan"], "gcompris", suffix=".webp"),
]

# Never trained on: chosen by hand to span landscapes, cities, close-ups and indoor scenes from every source.
VALIDATION_NAMES = {
    "sunset_by_Aitzol_Berasategi", "mate_Dune", "plasma_Kite", "scratch_grand-canyon", "scratch_lake",
    "scratch_city-with-water", "scratch_village", "scratch_kitchen", "enlightenment_Peaks", "enlightenment_Sunset-Hills",
    "wikimedia_1280px-Cedar_Breaks_National_Monument_partially", "kphotoalbum_skagen", "lifeograph_street",
    "skimage_chelsea",
}
TEST_NAMES = {
    "picosdeeuropa_by_Aitzol_Berasategi", "Bridge_by_Sander_Klootwijk", "mate_Storm", "mate_GreenMeadow",
    "plasma_Path", "plasma_EveningGlow", "plasma_ColdRipple", "skimage_coffee",
}
# Reserved for an independent test of generalization: never train, validate or tune on these.
INDEPENDENT = [
    *photos("lxqt-themes", "/usr/share/lxqt/wallpapers", ["after-the-rain", "Butterfly-Kenneth-Wimer"], "lxqt"),
    *photos("palapeli-data", "/usr/share/palapeli/collection", [
        "cincinnati-bridge", "european-honey-bee", "panther-chameleon-female", "castle-maintenon"], "palapeli"),
    *photos("opencv-doc", "/usr/share/doc/opencv-doc/examples/data", [
        "fruits", "baboon", "home", "aero1", "messi5", "building", "orange", "leuvenA"], "opencv"),
    *photos("gimp-help-en", "/usr/share/gimp/2.0/help/en/images/tutorials", [
        "quickie-jpeg-example", "quickie-crop-example-result"], "gimp"),
    *[Photo(f"sklearn_{Path(n).stem}", "scikit-learn", n, "CC-BY-2.0 (Flickr, see sklearn.datasets.load_sample_images)")
      for n in ["china.jpg", "flower.jpg"]],
]

# Real hazy photos with no clear version: never trained on, shown as examples and in the model card's sheet.
REAL_HAZE = [
    Photo("real_lifeograph_fog", "lifeograph", f"{LIFEOGRAPH}/fog.jpg"),
    Photo("real_kphotoalbum_grand_canyon_3", "kphotoalbum", f"{KPHOTOALBUM}/grand_canyon_3.jpg",
          "GPL-2+ (the package's license; its copyright file is not machine-readable)"),
    Photo("real_enlightenment_Foggy-Trees", "enlightenment-data", f"{ENLIGHTENMENT}/Foggy-Trees.edj"),
]
EXAMPLES = {"picosdeeuropa_by_Aitzol_Berasategi": "light", "mate_Storm": "dense", "plasma_Path": "dense",
            "skimage_coffee": "light"}  # test photos, so the app's examples were never trained on
EXAMPLE_SIDE = 640

MAX_SIDE = {"train": max(TRAINING_SCALES), "val": 768, "test": 768, "independent": 768}
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
            clear = fit_within(load_image(path), MAX_SIDE[split])
        except (subprocess.CalledProcessError, OSError, ImportError, ValueError) as error:
            print(f"skipping {photo.name}: {error}")
            continue
        (out / split / "clear").mkdir(parents=True, exist_ok=True)
        if split == "train":
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
        license_name, holder = provenance(photo, cache)
        rows.append({"name": photo.name, "split": split, "package": photo.package, "license": license_name,
                     "copyright": holder, "source": photo.path, "width": clear.shape[1], "height": clear.shape[0]})
        print(f"{split:11s} {photo.name}")
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    counts = {split: sum(r["split"] == split for r in rows) for split in SEEDS | {"train": 0}}
    print(", ".join(f"{n} {split}" for split, n in counts.items() if n), f"-> {out}")


def write_examples(out: Path, cache: Path, seed: int = 7) -> None:
    """The app's examples: test photos hazed as in training (hazy and clear JPEGs), and the real hazy photos."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    by_name = {photo.name: photo for photo in PHOTOGRAPHS}
    for name, level in EXAMPLES.items():
        clear = fit_within(load_image(resolve(by_name[name], cache)), EXAMPLE_SIDE)
        hazy = random_haze(clear, rng, known_depth(name, clear.shape), level=level, grayscale=False).hazy
        save_image(clear, out / f"{name}_clear.jpg")
        save_image(hazy, out / f"{name}_hazy.jpg")
    for photo in REAL_HAZE:
        save_image(fit_within(load_image(resolve(photo, cache)), EXAMPLE_SIDE), out / f"{photo.name}.jpg")
    print(f"wrote {len(EXAMPLES)} hazy/clear pairs and {len(REAL_HAZE)} real hazy photos to {out}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data"))
    parser.add_argument("--independent", action="store_true",
                        help="build only the independent test set, from the reserved packages")
    parser.add_argument("--examples", type=Path, help="only write the app's example photos to this folder")
    args = parser.parse_args(argv)
    if args.examples:
        write_examples(args.examples, args.out / "packages")
    else:
        prepare(args.out, args.independent)


if __name__ == "__main__":
    main()
