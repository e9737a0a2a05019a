import numpy as np
import pytest
from PIL import Image

from dehaze.image_io import ImageError, fit_within, load_image, save_image, validate_image


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
