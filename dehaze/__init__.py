"""dehaze: single-image dehazing with a conditional GAN, Dark Channel Prior and MSCNN.

    from dehaze import dehaze, dehaze_video, load_image, save_image
    result = dehaze(load_image("photo.jpg"), method="gan")
    save_image(result.image, "photo_dehazed.png")
    dehaze_video("clip.mp4", "clip_dehazed.mp4", method="gan")
"""

import os

# Torch's OpenMP threads spin while they wait; on a small shared CPU (2 cores here, with
# a training run or another request beside) that spinning starves the working threads:
# DCP on a 512 px image took 2.0 s spinning and 0.42 s passive under load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .image_io import ImageError, load_image, save_image, validate_image
from .pipeline import METHODS, dehaze
from .scattering import DehazeResult
from .video import VideoError, dehaze_video

__all__ = ["METHODS", "DehazeResult", "ImageError", "VideoError", "dehaze", "dehaze_video", "load_image", "save_image",
           "validate_image"]
__version__ = "0.1.0"
