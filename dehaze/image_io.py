"""Reading, validating and writing images.

Every image inside the library is a float32 numpy array of shape (H, W, 3) with
values in [0, 1], in sRGB. `load_image` and `validate_image` turn anything a user
may hand us (paths, PIL images, arrays of any dtype, grayscale, RGBA, 16- and 32-bit,
rotated by EXIF, in another colour space by ICC profile) into that form, or raise
`ImageError` with a message a person can act on. `save_image` writes sRGB-tagged
files, 16-bit PNG where asked.
"""

import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

MIN_SIDE = 16
LATTICE_STEP = 3  # 8-bit levels between the colours Pillow converts for a 16-bit image (255 = 85 x 3)
MAX_PIXELS = 50_000_000  # 50 MP: larger images are refused before decoding
EXIF_ORIENTATION = 0x0112
SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
SRGB_ICC = SRGB_PROFILE.tobytes()
# Pillow decodes 16-bit RGB(A) to 8 bits by keeping each sample's high byte; decoding the same
# data as the opposite byte order keeps the low byte instead (see decode_16_bit_rgb).
OPPOSITE_BYTE_ORDER = {"RGB;16B": "RGB;16L", "RGB;16L": "RGB;16B", "RGBA;16B": "RGBA;16L", "RGBA;16L": "RGBA;16B"}
NATIVE_16 = {"RGB;16N": "RGB;16L" if sys.byteorder == "little" else "RGB;16B",
             "RGBA;16N": "RGBA;16L" if sys.byteorder == "little" else "RGBA;16B"}
UNSIGNED_32 = ("I;32", "I;32N", "I;32L", "I;32B")
SIGNED_32 = ("I;32S", "I;32NS", "I;32LS", "I;32BS")


class ImageError(ValueError):
    """An input that cannot be used as an image, with a human-readable reason."""


def load_image(path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file into a float32 sRGB array in [0, 1], upright, refusing more than `max_pixels`."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"No such image file: {path}")
    try:
        with Image.open(path) as image:
            check_size(image.width, image.height, max_pixels)
            sample_layout = rawmode(image)
            if sample_layout in (*OPPOSITE_BYTE_ORDER, *NATIVE_16):
                pixels = decode_16_bit_rgb(path) / 65535.0
                if not is_srgb(image.info.get("icc_profile")):
                    pixels[:, :, :3] = deep_to_srgb(pixels[:, :, :3], image.info["icc_profile"])
                return validate_image(apply_orientation(pixels, orientation(image)))
            image.load()
            return validate_image(image, integer_format=sample_layout)
    except UnidentifiedImageError:
        raise ImageError(f"{path.name} is not an image file (or its format is not supported).") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path.name} is too large: at most {max_pixels / 1e6:g} megapixels.") from None
    except (OSError, SyntaxError) as error:
        raise ImageError(f"{path.name} could not be decoded; the file may be corrupt ({error}).") from None


def source_bit_depth(path) -> int:
    """16 where the file holds more than 8 bits per sample (16-bit PNG or TIFF, 32-bit TIFF), else 8.

    Reads only the header; use it to save a result with the precision its input had.
    """
    with Image.open(path) as image:
        return 16 if image.mode in ("I", "I;16", "I;16B", "I;16L", "F") or rawmode(image).endswith(
            ("16B", "16L", "16N")) else 8


def check_size(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"Image is {width}x{height} ({width * height / 1e6:.1f} MP); the limit is {max_pixels / 1e6:g} MP."
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"Image is {width}x{height}; both sides must be at least {MIN_SIDE} pixels.")


def validate_image(image, integer_format: str = "") -> np.ndarray:
    """Convert a PIL image or numpy array to float32 RGB in [0, 1], or raise ImageError.

    A PIL image is turned upright by its EXIF orientation and converted to sRGB by its ICC profile.
    `integer_format` is the file's raw sample layout (e.g. "I;32S") where it says how to scale integers.
    """
    if image is None:
        raise ImageError("No image was given.")
    if isinstance(image, Image.Image):
        image = apply_orientation(pil_to_array(to_srgb(image), integer_format), orientation(image))
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


def rawmode(image: Image.Image) -> str:
    """How the file stores its samples (e.g. "RGB;16B"), as far as Pillow says before decoding."""
    if not image.tile:
        return ""
    args = image.tile[0].args
    return args if isinstance(args, str) else str(args[0]) if args else ""


def decode_16_bit_rgb(path) -> np.ndarray:
    """A 16-bit RGB(A) PNG or TIFF as uint16, decoded twice by Pillow: high bytes, then low bytes."""
    halves = []
    for swap in (False, True):
        with Image.open(path) as image:
            tile = image.tile[0]
            layout = NATIVE_16.get(rawmode(image), rawmode(image))
            if swap:
                layout = OPPOSITE_BYTE_ORDER[layout]
            args = layout if isinstance(tile.args, str) else (layout, *tile.args[1:])
            image.tile = [tile._replace(args=args), *image.tile[1:]]
            image.load()
            halves.append(np.asarray(image, dtype=np.uint16))
    high, low = halves
    return high << 8 | low


def orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(EXIF_ORIENTATION, 1))
    except (ValueError, TypeError, OSError, SyntaxError):  # unreadable EXIF: treat as upright
        return 1


def apply_orientation(pixels: np.ndarray, exif_orientation: int) -> np.ndarray:
    """Turn pixels as stored into the picture as shown, per EXIF orientation 1-8 (as ImageOps.exif_transpose)."""
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }.get(exif_orientation, lambda a: a)(pixels)
    return np.ascontiguousarray(turned)


def is_srgb(icc_profile) -> bool:
    """True without a profile (untagged means sRGB) or with one that describes itself as sRGB."""
    if not icc_profile:
        return True
    try:
        return "srgb" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))).lower()
    except (ImageCms.PyCMSError, OSError, TypeError):
        return True  # an unreadable profile is ignored, as browsers do


def to_srgb(image: Image.Image) -> Image.Image:
    """Convert an image with an embedded non-sRGB ICC profile (Display P3, Adobe RGB, CMYK, ...) to sRGB.

    An unreadable or unusable profile is ignored, as browsers do. Colour management is 8 bits per
    sample; 16-bit images go through `deep_to_srgb`, which keeps their precision.
    """
    icc_profile = image.info.get("icc_profile")
    if is_srgb(icc_profile):
        return image
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "CMYK"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        converted = ImageCms.profileToProfile(image.convert("RGB") if alpha else image, source, SRGB_PROFILE,
                                              outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    if alpha is not None:
        converted.putalpha(alpha)
    converted.info = {key: value for key, value in image.info.items() if key != "icc_profile"}
    return converted


def deep_to_srgb(rgb: np.ndarray, icc_profile: bytes) -> np.ndarray:
    """(H, W, 3) values in [0, 1] of more than 8 bits, converted from `icc_profile` to sRGB without losing bits.

    Pillow's colour management works on 8-bit images only, so it converts a lattice of
    colours (every third 8-bit level per channel) and each pixel is interpolated
    trilinearly between the eight lattice colours around it: smooth gradients keep their
    16-bit steps instead of falling onto 256 levels.
    """
    levels = np.arange(0, 256, LATTICE_STEP, dtype=np.uint8)
    lattice = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(len(levels) ** 2, -1, 3)
    source = Image.fromarray(lattice)
    source.info["icc_profile"] = icc_profile
    table = np.asarray(to_srgb(source), np.float32).reshape(len(levels), len(levels), len(levels), 3) / 255.0
    position = np.clip(rgb, 0.0, 1.0) * (len(levels) - 1)
    low = np.minimum(position.astype(np.int64), len(levels) - 2)
    fraction = (position - low).astype(np.float32)
    result = np.zeros(rgb.shape, np.float32)
    for corner in np.ndindex(2, 2, 2):  # the eight lattice colours around each pixel, weighted by nearness
        weight = np.prod([fraction[..., c] if bit else 1 - fraction[..., c] for c, bit in enumerate(corner)], axis=0)
        result += weight[..., None] * table[low[..., 0] + corner[0], low[..., 1] + corner[1], low[..., 2] + corner[2]]
    return result


def pil_to_array(image: Image.Image, integer_format: str = "") -> np.ndarray:
    """PIL image to an array, keeping 16- and 32-bit precision where the mode has it."""
    if image.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image, dtype=np.float64) / 65535.0
    if image.mode == "I":
        return int32_to_unit(np.asarray(image), integer_format)
    if image.mode == "F":
        return np.asarray(image, dtype=np.float32)
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    return np.asarray(image)


def int32_to_unit(samples: np.ndarray, integer_format: str) -> np.ndarray:
    """32-bit integer samples (as Pillow's signed mode "I" holds them) scaled by their type's range."""
    if integer_format in UNSIGNED_32:
        return samples.view(np.uint32) / float(2**32 - 1)
    if integer_format in SIGNED_32 and samples.min() < 0:
        raise ImageError("This image stores signed 32-bit pixels with negative values, which are not "
                         "brightness levels; export it as an 8- or 16-bit PNG, JPEG or TIFF.")
    if integer_format in SIGNED_32:
        return samples / float(2**31 - 1)
    if samples.min() < 0 or samples.max() > 65535:  # a 32-bit image whose file did not say its range
        raise ImageError("This image stores 32-bit integer pixels of unknown range; "
                         "export it as an 8- or 16-bit PNG, JPEG or TIFF.")
    return samples / 65535.0  # mode "I" holding 16-bit samples


def to_unit_float(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype in (np.uint16, np.uint32):
        return (image / float(np.iinfo(image.dtype).max)).astype(np.float32)
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    if np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
        if image.size and np.isfinite(image).all() and (image.min() < 0 or image.max() > 1):
            raise ImageError(
                f"This image stores floating-point pixels from {image.min():g} to {image.max():g} (HDR or raw "
                "data?); brightness must lie in [0, 1]. Export it as an 8- or 16-bit PNG, JPEG or TIFF.")
        return image
    if np.issubdtype(image.dtype, np.signedinteger):
        raise ImageError(f"Pixels of type {image.dtype} are signed; use uint8, uint16, uint32 or floats in [0, 1].")
    raise ImageError(f"Unsupported pixel type {image.dtype}.")


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[:, :, 3:4]
    return rgba[:, :, :3] * alpha + (1.0 - alpha)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def to_uint16(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)


def save_image(image: np.ndarray, path, bit_depth: int = 8, quality: int = 95, lossless: bool = False) -> None:
    """Write a float image in [0, 1] (RGB or single channel) to any format PIL knows, RGB tagged as sRGB.

    `bit_depth=16` writes a 16-bit PNG (for results of 16-bit inputs); other formats hold 8 bits.
    `quality` applies to JPEG and WebP only; `lossless` to WebP only.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, not {bit_depth}")
    rgb = image.ndim == 3
    if bit_depth == 16 and rgb and Path(path).suffix.lower() == ".png":
        write_png_16(to_uint16(image), path, SRGB_ICC)
        return
    Image.fromarray(to_uint8(image)).save(path, quality=quality, compress_level=1, lossless=lossless,
                                          **({"icc_profile": SRGB_ICC} if rgb else {}))


def write_png_16(rgb: np.ndarray, path, icc_profile: bytes, compress_level: int = 6) -> None:
    """A 16-bit RGB PNG with an embedded ICC profile (Pillow writes RGB PNGs at 8 bits only)."""
    height, width = rgb.shape[:2]
    rows = np.ascontiguousarray(rgb.astype(">u2")).view(np.uint8).reshape(height, width * 6)
    up = np.empty((height, width * 6 + 1), np.uint8)
    up[:, 0] = 2  # PNG filter "Up": each byte minus the one above, which compresses smooth photos
    up[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=up[1:, 1:])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n")
        file.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)))
        file.write(chunk(b"iCCP", b"sRGB\x00\x00" + zlib.compress(icc_profile)))
        file.write(chunk(b"IDAT", zlib.compress(up.tobytes(), compress_level)))
        file.write(chunk(b"IEND", b""))


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
