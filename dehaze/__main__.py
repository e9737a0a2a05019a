"""Command line: python -m dehaze photo.jpg [clip.mp4 folder/ "shots/*.png" ...] -o out --method gan|dcp|mscnn"""

import argparse
import glob
import sys
from pathlib import Path

import av
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from .image_io import ImageError, load_image, save_image
from .pipeline import METHODS, WORKING_SIZE, dehaze_same_size
from .video import VIDEO_SUFFIXES, dehaze_video, is_video
from .weights import MODEL_FILES, load_model


def expand_inputs(patterns) -> tuple:
    """Files named by each argument (a file, a folder's photos and clips, or a glob), and the arguments that named none."""
    files, unmatched = [], []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and media_kind(p))
        elif glob.has_magic(pattern):
            found = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        else:
            found = [path]  # a missing file is reported when it is read
        files += [f for f in found if f not in files]
        if not found:
            unmatched.append(pattern)
    return files, unmatched


def media_kind(path: Path):
    """'video' or 'image', by the file's content, else by its suffix (its reader then says what is wrong); or None."""
    if is_photo(path):
        return "image"
    if is_video(path) or path.suffix.lower() in VIDEO_SUFFIXES:
        return "video"
    return "image" if path.suffix.lower() in Image.registered_extensions() else None


def is_photo(path: Path) -> bool:
    """Whether Pillow recognises the file; its MPEG plugin reads only the header of MPEG video, never a picture."""
    try:
        with Image.open(path) as image:
            return image.format != "MPEG"
    except (UnidentifiedImageError, OSError):
        return False


def same_size_groups(files, batch_size: int, report):
    """(path, image) runs of up to batch_size consecutive readable images of one size; unreadable files are reported."""
    group = []
    for path in files:
        try:
            image = load_image(path)
        except ImageError as error:
            report(path, error)
            continue
        if group and (len(group) == batch_size or group[0][1].shape != image.shape):
            yield group
            group = []
        group.append((path, image))
    if group:
        yield group


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dehaze",
                                     description="Dehaze photos and video clips: files, folders or globs.")
    parser.add_argument("inputs", nargs="+", metavar="input",
                        help="hazy photo (PNG, JPEG, TIFF, WebP, ...) or video clip (MP4, MOV, MKV, ...), a folder of "
                             "them, or a quoted glob ('shots/*.jpg'); clips are told from photos by their content")
    parser.add_argument("-o", "--output", type=Path,
                        help="output file for one input file, else a folder; default <input>_<method>.png beside each "
                             "photo and <input>_<method>.mp4 beside each clip")
    parser.add_argument("--method", choices=METHODS, default="gan")
    parser.add_argument("--working-size", type=int, default=WORKING_SIZE, metavar="N",
                        help="methods run on at most N x N pixels; larger images are lifted to full size")
    parser.add_argument("--strength", type=float, default=1.0,
                        help="fraction of the haze density to remove, per pixel (not a cross-fade): 0 keeps the input, 1 (default) all")
    parser.add_argument("--transmission", type=Path,
                        help="also save the transmission map of photos (dcp, mscnn): a file for one input file, else a folder")
    parser.add_argument("--batch-size", type=int, default=4,
                        help="consecutive photos of one size dehazed together (one network pass on a GPU)")
    args = parser.parse_args(argv)
    if not 0 <= args.strength <= 1:
        parser.error(f"--strength must be between 0 and 1, got {args.strength:g}")
    if args.transmission and args.method == "gan":
        parser.error("method gan has no transmission map")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if args.method in MODEL_FILES:
        try:
            load_model(args.method)  # once, before any input: a file this version cannot build fails every one alike
        except (OSError, ValueError) as error:
            print(f"error: cannot load the {args.method} weights: {error}", file=sys.stderr)
            return 2

    files, unmatched = expand_inputs(args.inputs)
    kinds = {path: media_kind(path) for path in files}
    clips = [path for path in files if kinds[path] == "video"]
    photos = [path for path in files if kinds[path] != "video"]  # load_image refuses what is neither, saying why
    single = len(args.inputs) == 1 and len(files) == 1 and not Path(args.inputs[0]).is_dir()
    failures = len(unmatched)
    for pattern in unmatched:
        print(f"error: no photos or clips match {pattern}", file=sys.stderr)

    def destination(folder, path, suffix, extension=".png"):
        if single and folder and not folder.is_dir():
            return folder
        folder = folder or path.parent
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{path.stem}_{args.method}{suffix}{extension}"

    progress = tqdm(total=len(files), unit="file", disable=single or not files)

    def report(path, error):
        nonlocal failures
        failures += 1
        progress.write(f"error: {path}: {error}" if not single else f"error: {error}", file=sys.stderr)
        progress.update()

    written = {}  # output path -> the input it was written for

    def unclaimed(output):
        if output in written:
            raise ValueError(f"{output} was already written for {written[output]}; rename one of them")
        return output

    for group in same_size_groups(photos, args.batch_size, report):
        results = dehaze_same_size([image for _, image in group], args.method, args.working_size, args.strength)
        for (path, _), result in zip(group, results):
            try:
                output = unclaimed(destination(args.output, path, ""))
                save_image(result.image, output)
                written[output] = path
                if args.transmission:
                    save_image(result.transmission, destination(args.transmission, path, "_transmission"))
            except (OSError, ValueError) as error:
                report(path, error)
                continue
            progress.write(f"wrote {output}")
            progress.update()
    for path in clips:
        try:
            output = unclaimed(destination(args.output, path, "", ".mp4"))
            dehaze_clip(path, output, args)
            written[output] = path
        except (OSError, ValueError, av.FFmpegError) as error:
            report(path, error)
            continue
        progress.write(f"wrote {output}")
        progress.update()
    progress.close()
    if failures:
        print(f"{failures} of {len(files) + len(unmatched)} inputs failed", file=sys.stderr)
    return 2 if failures else 0


def dehaze_clip(path: Path, output: Path, args):
    """`dehaze_video` with a progress bar of the clip's frames, gone when the clip is done."""
    with tqdm(unit="frame", desc=path.name, leave=False) as bar:
        def advance(done, total):
            bar.total = total
            bar.update(done - bar.n)

        dehaze_video(path, output, args.method, args.strength, advance, args.working_size)


if __name__ == "__main__":
    sys.exit(main())
