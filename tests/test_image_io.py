import io
import struct
import zlib

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps

from dehaze.image_io import ImageError, fit_within, load_image, save_image, source_bit_depth, to_uint8, validate_image
from tests.colour_profiles import display_p3_icc, p3_to_srgb_linear, srgb_decode, srgb_encode


def test_rgb_uint8_becomes_unit_float():
    image = validate_image(np.full((20, 30, 3), 255, np.uint8))
    assert image.dtype == np.float32 and image.shape == (20, 30, 3) and image.max() == 1.0


def test_grayscale_is_repeated_to_rgb(tmp_path):
    Image.fromarray(np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1)), mode="L").save(tmp_path / "g.png")
    image = load_image(tmp_path / "g.png")
    assert image.shape == (32, 32, 3)
    assert np.array_equal(image[:, :, 0], image[:, :, 2])


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[:, :10] = (255, 0, 0, 255)  # opaque red left, transparent right
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert np.allclose(image[0, 0], (1, 0, 0)) and np.allclose(image[0, -1], (1, 1, 1))


def test_16_bit_png_keeps_precision(tmp_path):
    values = np.linspace(0, 65535, 64 * 64).astype(np.uint16).reshape(64, 64)
    Image.fromarray(values).save(tmp_path / "deep.png")
    image = load_image(tmp_path / "deep.png")
    assert np.allclose(image[:, :, 0], values / 65535.0, atol=1e-6)
    assert len(np.unique(image)) > 256  # more levels than 8 bits could hold


def test_corrupt_file_gives_clear_error(tmp_path):
    path = tmp_path / "broken.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(ImageError, match="corrupt|not an image"):
        load_image(path)


def test_non_image_gives_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "notes.txt")


def test_tiny_image_is_refused(tmp_path):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    with pytest.raises(ImageError, match="at least"):
        load_image(tmp_path / "dot.png")


def test_huge_image_is_refused_before_decoding(tmp_path):
    Image.new("RGB", (4000, 3001)).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match="limit is 12 MP"):
        load_image(tmp_path / "big.png", max_pixels=12_000_000)


def test_missing_file_and_bad_arrays():
    with pytest.raises(ImageError, match="No such image"):
        load_image("/nonexistent/photo.jpg")
    with pytest.raises(ImageError, match="shape"):
        validate_image(np.zeros((20, 20, 2)))
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        validate_image(np.full((20, 20, 3), 2.0))
    with pytest.raises(ImageError, match="No image"):
        validate_image(None)


def test_save_and_reload_round_trip(tmp_path):
    image = np.random.default_rng(0).random((24, 40, 3)).astype(np.float32)
    save_image(image, tmp_path / "x.png")
    assert np.abs(load_image(tmp_path / "x.png") - image).max() <= 0.5 / 255 + 1e-6


def test_fit_within_downscales_only():
    image = np.zeros((100, 300, 3), np.float32)
    assert fit_within(image, 150).shape == (50, 150, 3)
    assert fit_within(image, 1000) is image


def test_exif_orientation_is_applied_as_viewers_do(tmp_path):
    """A phone photo stored sideways with EXIF Orientation loads as it is shown, for all eight orientations."""
    stored = np.zeros((40, 64, 3), np.uint8)
    stored[:20, :32] = (255, 0, 0)  # red top-left corner: every turn and flip moves it somewhere else
    stored[:, 60:] = (0, 0, 255)
    for exif_orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        path = tmp_path / f"o{exif_orientation}.jpg"
        Image.fromarray(stored).save(path, exif=exif, quality=95)
        expected = np.asarray(ImageOps.exif_transpose(Image.open(path))).astype(np.float32) / 255
        loaded = load_image(path)
        assert loaded.shape == expected.shape, exif_orientation
        assert np.array_equal(loaded, expected), exif_orientation
    assert load_image(tmp_path / "o6.jpg").shape == (64, 40, 3)


def test_display_p3_photo_is_converted_to_srgb_and_saved_tagged_srgb(tmp_path):
    p3_colour = np.array([200, 100, 50])
    Image.new("RGB", (32, 32), tuple(p3_colour)).save(tmp_path / "p3.png", icc_profile=display_p3_icc())
    expected = srgb_encode(p3_to_srgb_linear() @ srgb_decode(p3_colour / 255)) * 255
    loaded = load_image(tmp_path / "p3.png")
    assert np.abs(loaded[5, 5] * 255 - expected).max() < 1.0
    assert np.abs(expected - p3_colour).max() > 10  # the conversion matters for this colour
    for name in ("out.png", "out.jpg"):
        save_image(loaded, tmp_path / name)
        with Image.open(tmp_path / name) as saved:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(saved.info["icc_profile"]))
            assert "sRGB" in ImageCms.getProfileDescription(profile)
        assert np.abs(load_image(tmp_path / name)[5, 5] * 255 - expected).max() < 1.5


def test_p3_to_srgb_matrix_matches_the_published_one():
    published = [[1.2249, -0.2247, 0.0], [-0.0420, 1.0419, 0.0], [-0.0197, -0.0786, 1.0979]]
    assert np.allclose(p3_to_srgb_linear(), published, atol=1e-3)


def test_16_bit_rgb_png_and_tiff_keep_their_precision(tmp_path):
    """Pillow alone would read these as 8-bit; every 16-bit level must survive."""
    rng = np.random.default_rng(0)
    deep = rng.integers(0, 65536, (48, 40, 3), dtype=np.uint16)
    for name in ("deep.png", "deep.tif"):
        cv2.imwrite(str(tmp_path / name), deep[:, :, ::-1])  # OpenCV writes BGR
        assert source_bit_depth(tmp_path / name) == 16
        assert np.array_equal(np.round(load_image(tmp_path / name) * 65535).astype(np.uint16), deep), name


def test_16_bit_result_is_written_as_16_bit_png(tmp_path):
    image = np.random.default_rng(1).random((30, 50, 3)).astype(np.float32)
    save_image(image, tmp_path / "deep.png", bit_depth=16)
    written = cv2.imread(str(tmp_path / "deep.png"), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    assert written.dtype == np.uint16
    assert np.abs(written / 65535.0 - image).max() <= 0.5 / 65535 + 1e-7
    assert np.abs(load_image(tmp_path / "deep.png") - image).max() <= 0.5 / 65535 + 1e-7
    with Image.open(tmp_path / "deep.png") as saved:
        assert "sRGB" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(saved.info["icc_profile"])))
    assert source_bit_depth(tmp_path / "deep.png") == 16
    save_image(image, tmp_path / "plain.png")
    assert source_bit_depth(tmp_path / "plain.png") == 8


def test_32_bit_integer_tiff_is_read_by_its_range(tmp_path):
    ramp = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    tifffile.imwrite(tmp_path / "u32.tif", np.round(ramp * (2**32 - 1)).astype(np.uint32))
    assert np.allclose(load_image(tmp_path / "u32.tif")[:, :, 0], ramp, atol=1e-6)
    tifffile.imwrite(tmp_path / "i32.tif", np.round(ramp * (2**31 - 1)).astype(np.int32))
    assert np.allclose(load_image(tmp_path / "i32.tif")[:, :, 0], ramp, atol=1e-6)
    tifffile.imwrite(tmp_path / "negative.tif", np.round((ramp - 0.5) * 2**31).astype(np.int32))
    with pytest.raises(ImageError, match="negative values"):
        load_image(tmp_path / "negative.tif")


def test_out_of_range_float_tiff_says_what_to_do(tmp_path):
    tifffile.imwrite(tmp_path / "hdr.tif", np.linspace(0, 4, 64 * 64, dtype=np.float32).reshape(64, 64))
    with pytest.raises(ImageError, match="from 0 to 4.*Export it as an 8- or 16-bit"):
        load_image(tmp_path / "hdr.tif")


def with_icc_profile(png: bytes, icc_profile: bytes) -> bytes:
    """The PNG with an iCCP chunk (name, 0, compression 0, zlib data) after its header; OpenCV cannot write one."""
    data = b"P3\x00\x00" + zlib.compress(icc_profile)
    chunk = struct.pack(">I", len(data)) + b"iCCP" + data + struct.pack(">I", zlib.crc32(b"iCCP" + data))
    header_end = 8 + 8 + 13 + 4  # signature, IHDR length and type, IHDR data, CRC
    return png[:header_end] + chunk + png[header_end:]


def test_16_bit_display_p3_photo_keeps_its_precision_through_the_conversion(tmp_path):
    """Pillow converts colour at 8 bits; a smooth 16-bit P3 ramp must come out with the right colours and no banding."""
    ramp = np.linspace(0.2, 0.8, 4000)
    p3 = np.stack([ramp, 0.5 - 0.3 * ramp, np.full_like(ramp, 0.3)], axis=1)[None].repeat(16, axis=0)
    ok, png = cv2.imencode(".png", np.round(p3 * 65535).astype(np.uint16)[:, :, ::-1])
    (tmp_path / "deep_p3.png").write_bytes(with_icc_profile(png.tobytes(), display_p3_icc()))
    loaded = load_image(tmp_path / "deep_p3.png")[8]
    expected = srgb_encode(srgb_decode(p3[8]) @ p3_to_srgb_linear().T)
    assert np.abs(loaded - expected).max() < 1.5 / 255
    assert len(np.unique(loaded[:, 0])) > 1000  # an 8-bit conversion leaves at most 256 levels


def test_lossless_webp_keeps_every_8_bit_value(tmp_path, clear_photo):
    save_image(clear_photo, tmp_path / "photo.webp", lossless=True)
    assert np.array_equal(to_uint8(load_image(tmp_path / "photo.webp")), to_uint8(clear_photo))
    save_image(clear_photo, tmp_path / "lossy.webp")
    assert not np.array_equal(to_uint8(load_image(tmp_path / "lossy.webp")), to_uint8(clear_photo))
