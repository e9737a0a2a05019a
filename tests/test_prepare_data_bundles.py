import re
import struct
import zlib
from collections import Counter

import pytest

from dehaze.training.prepare_data import (
    INDEPENDENT, PHOTOGRAPHS, REAL_HAZE, Photo, in_bundle, provenance, rcc_read, resolve, split_of)

RESERVED = {"lxqt-themes", "palapeli-data", "sddm-theme-maldives", "opencv-doc", "gimp-help-en", "scikit-learn"}
PHOTO = bytes(range(256)) * 3
README = b"""Copyright: Someone, 2020
License: CC-BY-SA 4.0
Files:
key.svg

Copyright: A Photographer
License: CC0-1.0
Source: https://commons.wikimedia.org/wiki/File:Example.jpg
Files:
photos/a.webp
"""


def rcc_bundle(version: int, files: dict, zstd: bool = False) -> bytes:
    """A Qt resource bundle laid out as `rcc -binary` writes it: a root folder holding `resource/`, which holds
    `files` (name: (contents, zlib-compressed)) and a `photos/` folder with a.webp, stored as is (or as zstd)."""
    entry_size = 14 if version == 1 else 22
    header_size = 24 if version >= 3 else 20
    data, names = b"", b""

    def name(text):
        nonlocal names
        offset, encoded = len(names), text.encode("utf-16-be")
        names += struct.pack(">HI", len(text), zlib.crc32(encoded)) + encoded  # any hash will do for the reader
        return offset

    def file_entry(text, contents, flags):
        nonlocal data
        offset = len(data)
        data += struct.pack(">I", len(contents)) + contents
        return struct.pack(">IHHHI", name(text), flags, 0, 1, offset)

    def folder_entry(text, count, first):
        return struct.pack(">IHII", name(text) if text else 0, 0x02, count, first)

    stored = {text: (struct.pack(">I", len(c)) + zlib.compress(c), 0x01) if compressed else (c, 0x00)
              for text, (c, compressed) in files.items()}
    entries = [folder_entry("", 1, 1), folder_entry("resource", len(files) + 1, 2)]
    entries += [file_entry(text, contents, flags) for text, (contents, flags) in stored.items()]
    entries += [folder_entry("photos", 1, len(entries) + 1), file_entry("a.webp", PHOTO, 0x04 if zstd else 0x00)]
    tree = b"".join(entry + (b"\0" * 8 if version >= 2 else b"") for entry in entries)
    assert all(len(entry) == 14 for entry in entries) and len(tree) == entry_size * len(entries)
    offsets = [header_size + len(tree), header_size + len(tree) + len(data)]
    header = b"qres" + struct.pack(">4I", version, header_size, *offsets) + (b"\0\0\0\1" if version >= 3 else b"")
    return header + tree + data + names


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_read_extracts_stored_and_zlib_compressed_files_exactly(version):
    text = "a zlib-compressed note, repeated. " * 40
    bundle = rcc_bundle(version, {"note.txt": (text.encode(), True), "README": (README, False)})
    assert rcc_read(bundle, "/resource/photos/a.webp") == PHOTO
    assert rcc_read(bundle, "/resource/note.txt").decode() == text
    assert rcc_read(bundle, "resource/README") == README


def test_rcc_read_refuses_missing_files_folders_zstd_and_other_formats():
    bundle = rcc_bundle(3, {"README": (README, False)})
    with pytest.raises(FileNotFoundError, match="not in the bundle"):
        rcc_read(bundle, "/resource/photos/b.webp")
    with pytest.raises(FileNotFoundError):
        rcc_read(bundle, "/resource/README/a.webp")  # a file is no folder
    with pytest.raises(IsADirectoryError):
        rcc_read(bundle, "/resource/photos")
    with pytest.raises(ValueError, match="zstd"):
        rcc_read(rcc_bundle(3, {}, zstd=True), "/resource/photos/a.webp")
    with pytest.raises(ValueError, match="not a Qt resource bundle"):
        rcc_read(b"PK\3\4" + bytes(20), "/resource/README")


def test_a_bundled_photo_is_extracted_to_the_cache_and_credited_from_the_readme(tmp_path):
    cache = tmp_path / "packages"
    root = cache / "some-data"
    (root / "usr/share/some").mkdir(parents=True)
    (root / ".unpacked").touch()  # as if fetch_package had run: no download
    (root / "usr/share/some/activity.rcc").write_bytes(rcc_bundle(3, {"README": (README, True)}))
    photo = Photo("some_a", "some-data", "/usr/share/some/activity.rcc:/resource/photos/a.webp")
    assert in_bundle(photo.path) == ("/usr/share/some/activity.rcc", "/resource/photos/a.webp")
    assert in_bundle("/usr/share/some/a.jpg") is None
    path = resolve(photo, cache)
    assert path == cache / "rcc/activity/resource/photos/a.webp" and path.read_bytes() == PHOTO
    assert provenance(photo, cache) == (
        "CC0-1.0", "A Photographer, https://commons.wikimedia.org/wiki/File:Example.jpg")
    unlisted = Photo("some_b", "some-data", "/usr/share/some/activity.rcc:/resource/note.txt")
    assert provenance(unlisted, cache) == ("unknown", "unknown")


def test_the_new_photos_are_unique_train_only_and_from_no_reserved_package():
    new = [photo for photo in PHOTOGRAPHS if photo.name.startswith(("tuxpaint_", "gcompris_", "endless-sky_"))]
    assert PHOTOGRAPHS[-len(new):] == new  # appended, so the val/test hazes keep their draws
    assert Counter(photo.package for photo in new) == {"tuxpaint-data": 15, "gcompris-qt-data": 79,
                                                         "endless-sky-data": 148}
    assert sum("/explore_monuments/" in p.path for p in new) == 46
    assert sum("/erase/" in p.path for p in new) == 33
    every_name = [photo.name for photo in PHOTOGRAPHS + INDEPENDENT + REAL_HAZE]
    assert len(set(every_name)) == len(every_name)
    every_source = [(photo.package, photo.path) for photo in PHOTOGRAPHS + INDEPENDENT + REAL_HAZE]
    assert len(set(every_source)) == len(every_source)  # no real hazy photo trained on under another name
    assert all(re.fullmatch(r"(tuxpaint|gcompris|endless-sky)_[A-Za-z0-9_-]+", photo.name) for photo in new)
    assert {split_of(photo.name) for photo in new} == {"train"}
    assert not {photo.package for photo in new} & (RESERVED | {photo.package for photo in INDEPENDENT})
    assert all(in_bundle(p.path) and p.path.endswith(".webp") for p in new if p.package == "gcompris-qt-data")
