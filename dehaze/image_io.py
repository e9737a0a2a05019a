"""Reading, validating and writing images.

Every image inside the library is a float32 numpy array of shape (H, W, 3) with
values in [0, 1]. `load_image` and `validate_image` turn anything a user may
hand us (paths, PIL images, arrays of any dtype, grayscale, RGBA, 16-bit) into
that form, or raise `ImageError` with a message a person can act on.
"""

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MIN_SIDE = 16
MAX_PIXELS = 50_000_000  # 50 MP: larger images are refused before decoding


class ImageError(ValueError):
    """An input that cannot be used as an image, with a human-readable reason."""


def load_image(path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file into a float32 RGB array in [0, 1], refusing more than `max_pixels`."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"No such image file: {path}")
    try:
        with Image.open(path) as image:
            check_size(image.width, image.height, max_pixels)
            image.load()
            return validate_image(image)
    except UnidentifiedImageError:
        raise ImageError(f"{path.name} is not an image file (or its format is not supported).") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path.name} is too large: at most {max_pixels / 1e6:g} megapixels.") from None
    except (OSError, SyntaxError) as error:
        raise ImageError(f"{path.name} could not be decoded; the file may be corrupt ({error}).") from None


def check_size(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"Image is {width}x{height} ({width * height / 1e6:.1f} MP); the limit is {max_pixels / 1e6:g} MP."
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"Image is {width}x{height}; both sides must be at least {MIN_SIDE} pixels.")


def validate_image(image) -> np.ndarray:
    """Convert a PIL image or numpy array to float32 RGB in [0, 1], or raise ImageError."""
    if image is None:
        raise ImageError("No image was given.")
    if isinstance(image, Image.Image):
        image = pil_to_array(image)
    if not isinstance(image, np.ndarray):
        raise ImageError(f"Expected an image, got {type(image).__name__}.")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageError(f"Expected a grayscale, RGB or RGBA image, got an array of shape {image.shape}.")
    check_size(image.shape[1], image.shape[0])
    image = to_unit_float(image)
    if not np.isfinite(image).all():
        raise ImageError("Image contains NaN or infinite values.")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        image = composite_on_white(image)
    return np.ascontiguousarray(image, dtype=np.float32)


def pil_to_array(image: Image.Image) -> np.ndarray:
    """PIL image to an array, keeping 16-bit precision where the mode has it."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(image, dtype=np.float64) / 65535.0
    if image.mode == "F":
        return np.asarray(image, dtype=np.float32)
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    return np.asarray(image)


def to_unit_float(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    if np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
        if image.size and np.isfinite(image).all() and (image.min() < 0 or image.max() > 1):
            raise ImageError("Float images must have values in [0, 1].")
        return image
    raise ImageError(f"Unsupported pixel type {image.dtype}.")


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[:, :, 3:4]
    return rgba[:, :, :3] * alpha + (1.0 - alpha)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_image(image: np.ndarray, path) -> None:
    """Write a float image in [0, 1] (RGB or single channel) to any format PIL knows."""
    Image.fromarray(to_uint8(image)).save(path, quality=95)  # quality applies to JPEG and WebP only


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a float image (H, W) or (H, W, C) with antialiasing."""
    channels = [image] if image.ndim == 2 else [image[:, :, c] for c in range(image.shape[2])]
    resized = [np.asarray(Image.fromarray(c.astype(np.float32), mode="F").resize((width, height), Image.BICUBIC)) for c in channels]
    out = resized[0] if image.ndim == 2 else np.stack(resized, axis=2)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def fit_within(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale so the longer side is at most max_side; never upscale."""
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return image
    return resize(image, max(1, round(width * scale)), max(1, round(height * scale)))
