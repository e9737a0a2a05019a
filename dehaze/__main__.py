"""Command line: python -m dehaze photo.jpg -o out.png --method gan|dcp|mscnn"""

import argparse
import sys
from pathlib import Path

from .image_io import ImageError, load_image, save_image
from .pipeline import METHODS, WORKING_SIZE, dehaze


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dehaze", description="Dehaze a photo.")
    parser.add_argument("input", type=Path, help="hazy image (PNG, JPEG, TIFF, WebP, ...)")
    parser.add_argument("-o", "--output", type=Path, help="output image; default <input>_<method>.png")
    parser.add_argument("--method", choices=METHODS, default="gan")
    parser.add_argument("--working-size", type=int, default=WORKING_SIZE,
                        help="long side at which the method runs; larger images are lifted to full size")
    parser.add_argument("--transmission", type=Path, help="also save the transmission map (dcp, mscnn)")
    args = parser.parse_args(argv)
    try:
        result = dehaze(load_image(args.input), args.method, args.working_size)
    except (ImageError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output = args.output or args.input.with_name(f"{args.input.stem}_{args.method}.png")
    save_image(result.image, output)
    print(f"wrote {output}")
    if args.transmission:
        if result.transmission is None:
            print(f"error: method {args.method} has no transmission map", file=sys.stderr)
            return 2
        save_image(result.transmission, args.transmission)
        print(f"wrote {args.transmission}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
