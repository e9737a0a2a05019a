"""dehaze: single-image dehazing with a conditional GAN, Dark Channel Prior and MSCNN.

    from dehaze import dehaze, load_image, save_image
    result = dehaze(load_image("photo.jpg"), method="gan")
    save_image(result.image, "photo_dehazed.png")
"""

from .image_io import ImageError, load_image, save_image, validate_image
from .pipeline import METHODS, dehaze
from .scattering import DehazeResult

__all__ = ["METHODS", "DehazeResult", "ImageError", "dehaze", "load_image", "save_image", "validate_image"]
__version__ = "0.1.0"
