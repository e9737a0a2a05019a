"""Dehazing video without flicker, streamed frame by frame with PyAV.

Dehazing every frame on its own flickers: the airlight and the transmission a method
estimates move with sensor noise and compression from one frame to the next, and dense
haze magnifies each such change up to ten times. Here the expensive estimate, the map
J = a I + b at the working size (`pipeline.working_map`), is carried over a shot
(`SteadyMap`): the method's airlight and its map are averaged over time where the scene
holds still, the map moves along with the camera's pan, and a scene cut starts afresh.
The method runs on every KEY_INTERVAL[method]-th frame, and the map is applied at full
resolution to every frame (`pipeline.apply_map`).

The method sees each frame as it is. An earlier version also showed it the frames
averaged over time, so that their noise would cancel; measured, that bought no less
flicker (the averaged map already gives it) and cost up to 1.1 dB wherever the camera
zoomed, which a whole-pixel shift does not follow (bench/bench_video.py). The map is
applied, though, to the frames averaged over time (`SteadyFrames`) wherever they agree
within their noise: dehazing multiplies the sensor noise by up to 1 / t, and noise that
is new in every frame made consecutive frames of a pan disagree where they show the same
place by up to 2.4x as much as the input's own frames did.

Frames are decoded, dehazed and encoded one at a time, so memory stays flat however long
the clip. The output is H.264 in MP4 (yuv420p, CRF 18) with the input's timestamps,
rotation and audio (copied, or AAC where MP4 cannot hold the codec; subtitle and data
tracks are left out), written to a temporary file beside the destination that is renamed
when it is complete.
"""

import math
import os
import secrets
from pathlib import Path
from typing import NamedTuple, Optional

import av
import numpy as np
import torch
import torch.nn.functional as F

from .guided_filter import box_filter, default_device, resize_tensor, to_array, to_tensor
from .image_io import MIN_SIDE
from .pipeline import METHODS, WORKING_SIZE, apply_map, check_strength, working_map, working_shape

# The method runs on every k-th frame of a shot; within 0.5 dB PSNR of running it on every frame (bench/bench_video.py)
KEY_INTERVAL = {"dcp": 1, "mscnn": 2, "gan": 4}
AIRLIGHT_WEIGHT = 0.1  # share of a key frame's airlight estimate in the running airlight
MAP_WEIGHT = 0.1  # where the scene holds still, share of the method's latest map in the running map, per frame
CHANGE_RADIUS = 4  # px at the working size: the image's change is averaged over 9 x 9 pixels, so noise cancels...
CHANGE_SCALE = 0.05  # ...and a change of this much takes the key frame's map outright (a moving object)
FRAME_WEIGHT = 0.25  # where a frame agrees with the running frame within its noise, its share in it
MOTION_BLOCK = 4  # px at full size: frames are compared in blocks of 4 x 4 pixels...
MOTION_MARGIN = 1.5  # ...and a block that differs by more than 1.5x the noise floor is moving...
# ...the floor being the blocks' median difference (compression leaves some places noisier than others), at most...
NOISE_CEILING = 6 / 255  # ...6/255 (sensor noise of sigma 0.02): a change of the whole image is no noise
CUT_HISTOGRAM = 0.35  # a new shot: grey-level histograms this far apart (total variation, 0 to 1)...
CUT_DIFFERENCE = 0.12  # ...or 16 px thumbnails this different on average
# x264: visually lossless for most viewers, without blocks in smooth haze. "veryfast" encodes a noisy 720p frame in
# 20 ms where "medium" took 48 (beside a training run), at the same PSNR (38.2 dB) and for 10% more bytes
CRF, PRESET = 18, "veryfast"
MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}  # copied as they are; anything else becomes AAC
ENDS_EARLY_FRAMES = 2  # frames ending more than two frame intervals (and 2%) before the declared duration: cut off
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                  ".wmv", ".flv", ".3gp", ".ogv"}
OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mov")
UNSPECIFIED = 2  # FFmpeg's AVCOL_SPC/PRI/TRC_UNSPECIFIED
# swscale's default conversion darkened every RGB -> 4:2:0 -> RGB round trip by 1.2/255 on average; these flags do
# not (DEEP_EXACT for 16-bit RGB, which FULL_CHR_H_INT garbles in FFmpeg 8.1: green off by half its range)
_FLAGS = av.video.reformatter.Interpolation
DEEP_EXACT = _FLAGS.BILINEAR | _FLAGS.ACCURATE_RND | _FLAGS.FULL_CHR_H_INP
EXACT = DEEP_EXACT | _FLAGS.FULL_CHR_H_INT


class VideoError(ValueError):
    """An input that cannot be used as a video, with a human-readable reason that names the file."""


def dehaze_video(source, destination, method: str = "gan", strength: float = 1.0, progress=None,
                 working_size: int = WORKING_SIZE) -> Path:
    """Dehaze the clip `source` into the H.264 MP4 file `destination`, frame by frame; returns the destination.

    `progress(done, total)` is called after each frame, total being the frame count the
    clip declares (None where it declares none). Input that is not a usable video raises
    `VideoError`; no output file is left behind then, nor after any other error.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}")
    strength = check_strength(strength)
    source, destination = Path(source), Path(destination)
    if destination.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"{destination.name}: the output is H.264 in MP4; name it {destination.stem}.mp4")
    if not destination.parent.is_dir():
        raise FileNotFoundError(f"No such folder for {destination.name}: {destination.parent}")
    if destination.exists() and destination.resolve() == source.resolve():
        raise VideoError(f"{source.name}: the output would overwrite its own input; choose another destination")
    partial = destination.with_name(f".{destination.stem}.{secrets.token_hex(4)}.part.mp4")  # beside it: same file system
    with open_clip(source) as clip:
        try:
            with av.open(str(partial), "w", format="mp4") as output:
                Transcoder(clip, output, source.name).run(SteadyMap(method, working_size), strength, progress)
            os.replace(partial, destination)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return destination


def is_video(path) -> bool:
    """Whether the file holds moving pictures that `dehaze_video` can read, judged by its content."""
    try:
        open_clip(Path(path)).close()
    except VideoError:
        return False
    return True


def open_clip(path: Path):
    """The PyAV container of a video file, or VideoError: missing, unreadable, a still image, no video track."""
    if not path.is_file():
        raise VideoError(f"No such video file: {path}")
    try:
        clip = av.open(str(path), metadata_errors="replace")
    except av.FFmpegError as error:
        raise VideoError(f"{path.name} is not a video file, or it is damaged ({error.strerror}).") from None
    if clip.format.name == "image2" or clip.format.name.endswith("_pipe"):  # PyAV reads photos as one-frame videos
        clip.close()
        raise VideoError(f"{path.name} is a still image, not a video.")
    if video_stream(clip) is None:
        clip.close()
        raise VideoError(f"{path.name} has no video track.")
    return clip


class ClipFacts(NamedTuple):
    """What a clip declares about itself, read without decoding it: enough to refuse a clip before working on it."""

    width: int
    height: int
    seconds: Optional[float]  # None where neither the stream nor the container says
    frame_rate: Optional[float]


def clip_facts(path) -> ClipFacts:
    """The size, duration and frame rate `path` declares; VideoError where it is not a usable video."""
    with open_clip(Path(path)) as clip:
        video = video_stream(clip)
        if video.duration and video.time_base:
            seconds = float(video.duration * video.time_base)
        else:
            seconds = clip.duration / av.time_base if clip.duration else None
        rate = video.average_rate or video.guessed_rate
        return ClipFacts(video.codec_context.width, video.codec_context.height, seconds, float(rate) if rate else None)


def video_stream(clip):
    """The clip's first video stream that is not a still (the cover art of a music file), or None."""
    return next((s for s in clip.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None)


class SteadyMap:
    """The dehazing map of a clip at the working size, carried from frame to frame (see the module's docstring)."""

    def __init__(self, method: str, working_size: int = WORKING_SIZE):
        self.method, self.working_size = method, working_size
        self.key_interval = KEY_INTERVAL[method]
        self.previous = None  # the last frame at the working size: where the camera moved, and how much the scene did
        self.frames = SteadyFrames()
        self.start_shot()

    def start_shot(self):
        """Forget what was kept from frames before a scene cut."""
        self.airlight = self.estimate = self.map = None  # the method's latest (a, b) and the running one
        self.since_key = 0
        self.shift = None  # the camera's move since the last frame, at the working size; None at a shot's first frame
        self.frames.start_shot()

    def dehaze(self, full: torch.Tensor, strength: float) -> torch.Tensor:
        """The (3, H, W) frame dehazed with the carried map, applied to the frames averaged where they agree.

        At a strength below 1 the map amplifies less noise, and the frame is averaged as
        much less: at 0 the frame comes back exactly as it is.
        """
        height, width = working_shape(*full.shape[-2:], self.working_size)
        small = full if (height, width) == tuple(full.shape[-2:]) else resize_tensor(full, height, width)
        a, b = self.map_for(small)
        scale = (full.shape[-2] / height, full.shape[-1] / width)
        averaged = self.frames.average(full, self.shift, scale)
        return apply_map(averaged if strength == 1 else torch.lerp(full, averaged, strength), a, b, strength)

    def map_for(self, small: torch.Tensor) -> tuple:
        """(a, b) for this frame at the working size.

        The method runs every `key_interval` frames, and the map moves towards its latest
        estimate frame by frame, so that no key frame is a step. Where the scene moved, the
        map takes the new estimate outright.
        """
        change = None
        if self.previous is None or is_scene_cut(self.previous, small):
            self.start_shot()
        else:
            self.shift = global_shift(self.previous, small)
            self.follow(self.shift)
            change = local_change(shifted(self.previous, self.shift), small)
        self.previous = small
        if self.estimate is None or self.since_key >= self.key_interval:
            self.estimate, self.since_key = working_map(small, self.method, self.settle_airlight), 0
        self.since_key += 1
        if self.map is None:
            self.map = self.estimate
        else:
            weight = share_of_new(change, MAP_WEIGHT)
            self.map = tuple(torch.lerp(kept, new, weight) for kept, new in zip(self.map, self.estimate))
        return self.map

    def follow(self, shift: tuple):
        """Move what is kept along with the camera's pan."""
        self.estimate = tuple(shifted(kept, shift) for kept in self.estimate)
        self.map = tuple(shifted(kept, shift) for kept in self.map)

    def settle_airlight(self, estimate: torch.Tensor) -> torch.Tensor:
        """The running airlight with this key frame's `estimate` averaged in (exponentially)."""
        self.airlight = estimate if self.airlight is None else torch.lerp(self.airlight, estimate, AIRLIGHT_WEIGHT)
        return self.airlight


class SteadyFrames:
    """The frames of a shot at full size, averaged over time wherever they agree within their noise.

    The average moves with the camera: the pan found at the working size is refined to the
    whole pixel at full size against the average itself, so that rounding does not add up
    over frames. Blocks of MOTION_BLOCK pixels that differ from the moved average by more
    than MOTION_MARGIN times the noise floor take the new frame outright: a moving object,
    a zoom, or fine detail that a whole-pixel shift does not bring back into place. So
    only what differs by noise alone is averaged, and nothing leaves a ghost behind.
    """

    def __init__(self):
        self.start_shot()

    def start_shot(self):
        self.kept = None

    def average(self, frame: torch.Tensor, coarse_shift, scale: tuple) -> torch.Tensor:
        """The running average with the (3, H, W) `frame` taken in; `coarse_shift` is the working size's pan."""
        if self.kept is None:  # a shot's first frame (`Transcoder` keeps every frame at the first one's size)
            self.kept = frame
            return frame
        around = (round(coarse_shift[0] * scale[0]), round(coarse_shift[1] * scale[1]))
        shift = refined_shift(self.kept, frame, around, radius=math.ceil(max(scale) / 2))
        moved = shifted(self.kept, shift)
        weight = share_of_frame(moved, frame)
        dy, dx = shift  # the strips the pan uncovers hold nothing of the past
        weight[:, : max(dy, 0)] = weight[:, weight.shape[1] + min(dy, 0):] = 1.0
        weight[:, :, : max(dx, 0)] = weight[:, :, weight.shape[2] + min(dx, 0):] = 1.0
        self.kept = torch.lerp(moved, frame, weight)
        return self.kept


def refined_shift(before: torch.Tensor, after: torch.Tensor, around: tuple, radius: int) -> tuple:
    """The whole-pixel shift within `radius` of `around` that best carries `before` onto `after`.

    Judged by the mean absolute difference of their green channels (no full-size grey copy
    to make) on every 4th pixel of the part that all candidates cover.
    """
    grey_before, grey_after = before[1], after[1]
    height, width = grey_after.shape
    margin = max(abs(around[0]), abs(around[1])) + radius
    if 2 * margin + 8 > min(height, width):
        return around

    def cost(dy, dx):
        return (grey_after[margin : height - margin : 4, margin : width - margin : 4]
                - grey_before[margin - dy : height - margin - dy : 4, margin - dx : width - margin - dx : 4]).abs().mean()

    candidates = [(around[0] + dy, around[1] + dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    return min(candidates, key=lambda shift: float(cost(*shift)))


def share_of_frame(kept: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """(1, H, W): per pixel, the new frame's share in the running average (FRAME_WEIGHT to 1), from how far they differ."""
    difference = (frame[:, ::2, ::2] - kept[:, ::2, ::2]).abs().mean(0)[None, None]  # every 2nd pixel: 15x faster
    blocks = box_filter(F.avg_pool2d(difference, MOTION_BLOCK // 2, ceil_mode=True), 1)  # 12 x 12 px: noise cancels
    floor = blocks.median().clamp(0.5 / 255, NOISE_CEILING)
    excess = F.max_pool2d(blocks / floor - MOTION_MARGIN, 3, stride=1, padding=1)  # a moving edge's neighbours too
    weight = (FRAME_WEIGHT + excess).clamp(FRAME_WEIGHT, 1.0)
    return F.interpolate(weight, size=frame.shape[-2:], mode="bilinear", align_corners=False)[0]


def local_change(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Per pixel, how much the scene changed: the local mean of the difference, in which sensor noise cancels."""
    return box_filter(after - before, CHANGE_RADIUS).abs().mean(0)


def share_of_new(change: torch.Tensor, still_share: float) -> torch.Tensor:
    """Per pixel, the share of the new in a running average: `still_share` where the scene held still, all where it
    changed by CHANGE_SCALE, so that a moving object leaves no ghost behind."""
    return (still_share + change / CHANGE_SCALE).clamp(max=1.0)


def is_scene_cut(before: torch.Tensor, after: torch.Tensor) -> bool:
    """Whether two consecutive frames belong to different shots: their tones or their layout differ a lot."""
    def histogram(image):
        return torch.histc(image.mean(0), bins=32, min=0.0, max=1.0) / image[0].numel()

    tone_change = (histogram(after) - histogram(before)).abs().sum() / 2
    thumbnails = F.adaptive_avg_pool2d(torch.stack([before, after]), 16)
    return bool(tone_change > CUT_HISTOGRAM or (thumbnails[1] - thumbnails[0]).abs().mean() > CUT_DIFFERENCE)


def global_shift(before: torch.Tensor, after: torch.Tensor) -> tuple:
    """The whole-pixel translation (dy, dx) that carries `before` onto `after`: phase correlation of their grey levels.

    Each frequency is weighted by its share of the cross-power over the mean, so the noise
    of the weak frequencies of hazy, low-contrast frames does not swamp the peak.
    """
    height, width = before.shape[-2:]
    grey = torch.stack([before.mean(0), after.mean(0)])
    window = torch.outer(torch.hann_window(height, periodic=False, device=grey.device),
                         torch.hann_window(width, periodic=False, device=grey.device))
    spectra = torch.fft.rfft2((grey - grey.mean((1, 2), keepdim=True)) * window)
    cross = spectra[1] * spectra[0].conj()
    correlation = torch.fft.irfft2(cross / (cross.abs() + cross.abs().mean()), s=(height, width))
    dy, dx = divmod(int(correlation.argmax()), width)
    return (dy + height // 2) % height - height // 2, (dx + width // 2) % width - width // 2


def shifted(image: torch.Tensor, shift: tuple) -> torch.Tensor:
    """A (C, H, W) image moved by whole pixels (dy, dx), the uncovered border filled from the nearest edge."""
    dy, dx = shift
    if dy == dx == 0:
        return image
    height, width = image.shape[-2:]
    padded = F.pad(image[None], (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)), mode="replicate")[0]
    return padded[:, max(-dy, 0) : max(-dy, 0) + height, max(-dx, 0) : max(-dx, 0) + width]


class Transcoder:
    """Decodes a clip's video, dehazes and encodes it frame by frame, and carries its audio along."""

    def __init__(self, clip, output, name: str):
        self.clip, self.output, self.name = clip, output, name
        self.video = video_stream(clip)
        self.video.thread_type = "AUTO"
        self.audio = {stream: add_audio_stream(output, stream) for stream in clip.streams.audio}
        self.encoder = None  # made from the first frame, which tells the size, colours and rotation
        self.size = self.matrix = self.last_pts = None  # the first frame's size and YUV matrix, the last timestamp
        self.waiting = []  # audio packets demuxed before that; the container's header needs every stream first

    def run(self, steady: SteadyMap, strength: float, progress=None):
        total = self.video.frames or None
        done, last = 0, None
        for packet in self.packets():
            if packet.stream is not self.video:
                self.carry_audio(packet)
                continue
            for frame in self.decoded(packet):
                self.encode(self.dehazed(frame, steady, strength), frame)
                done, last = done + 1, frame
                if progress:
                    progress(done, total)
        if last is None:
            raise VideoError(f"{self.name} has no frame that could be decoded.")
        self.check_complete(last)
        self.flush()

    def packets(self):
        try:
            yield from self.clip.demux(self.video, *self.audio)
        except av.FFmpegError as error:
            raise self.damaged(error) from None

    def decoded(self, packet) -> list:
        try:
            return packet.decode()
        except av.FFmpegError as error:
            raise self.damaged(error) from None

    def damaged(self, error) -> VideoError:
        return VideoError(f"{self.name} could not be decoded to the end; the file may be truncated or corrupt ({error}).")

    def dehazed(self, frame, steady: SteadyMap, strength: float) -> np.ndarray:
        """The frame as 8-bit RGB, dehazed; cropped to even sides, as 4:2:0 chroma needs them."""
        if min(frame.width, frame.height) < MIN_SIDE:
            raise VideoError(f"{self.name} is {frame.width}x{frame.height}; both sides must be at least {MIN_SIDE} pixels.")
        if self.size is not None and (frame.width, frame.height) != self.size:
            frame = frame.reformat(*self.size)  # a stream that changes its size mid-clip keeps the first one
        rgb = rgb_array(frame, colour_matrix(frame))
        rgb = rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]
        dehazed = steady.dehaze(to_tensor(rgb, default_device()), strength)
        return np.rint(to_array(dehazed) * 255).astype(np.uint8)

    def encode(self, rgb: np.ndarray, source):
        if self.encoder is None:
            self.start_encoder(source, rgb.shape[1], rgb.shape[0])
            for packet in self.waiting:
                self.carry_audio(packet)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", dst_colorspace=self.matrix, dst_color_range=av.video.reformatter.ColorRange.MPEG,
            interpolation=EXACT)
        frame.pts, frame.time_base = self.next_pts(source), self.video.time_base
        self.output.mux(self.encoder.encode(frame))

    def start_encoder(self, first, width: int, height: int):
        """The H.264 stream, at the clip's frame rate and time base, tagged with its colours and rotation."""
        self.size, self.matrix = (first.width, first.height), colour_matrix(first)
        rate = self.video.average_rate or self.video.guessed_rate or 30
        self.encoder = self.output.add_stream("libx264", rate=rate, options={"crf": str(CRF), "preset": PRESET})
        self.encoder.width, self.encoder.height, self.encoder.pix_fmt = width, height, "yuv420p"
        self.encoder.codec_context.time_base = self.video.time_base
        self.encoder.codec_context.colorspace = self.matrix
        self.encoder.codec_context.color_range = av.video.reformatter.ColorRange.MPEG
        if first.color_primaries != UNSPECIFIED:
            self.encoder.codec_context.color_primaries = first.color_primaries
        if first.color_trc != UNSPECIFIED:
            self.encoder.codec_context.color_trc = first.color_trc
        if first.rotation:
            self.encoder.set_display_rotation(first.rotation)

    def next_pts(self, frame) -> int:
        """The frame's own timestamp (variable frame rates stay as they were), kept strictly increasing."""
        pts = frame.pts
        if pts is None:  # a stream without timestamps: one frame interval after the last
            interval = round(1 / (self.encoder.codec_context.framerate * self.video.time_base))
            pts = 0 if self.last_pts is None else self.last_pts + max(1, interval)
        if self.last_pts is not None:
            pts = max(pts, self.last_pts + 1)
        self.last_pts = pts
        return pts

    def carry_audio(self, packet):
        if self.encoder is None:
            self.waiting.append(packet)
            return
        target, copied = self.audio[packet.stream]
        if copied:
            if packet.dts is not None:  # not the empty packet that ends a stream
                packet.stream = target
                self.output.mux(packet)
            return
        for frame in self.decoded(packet):
            self.output.mux(target.encode(frame))

    def check_complete(self, last):
        """VideoError where the frames end well before the duration the clip declares: a file cut off at a packet."""
        if not self.video.duration or last.pts is None:
            return
        start = (self.video.start_time or 0) * self.video.time_base
        declared = float(self.video.duration * self.video.time_base)
        decoded = float(last.time + (last.duration or 0) * last.time_base - start)
        interval = 1 / float(self.encoder.codec_context.framerate)
        if declared - decoded > max(ENDS_EARLY_FRAMES * interval, 0.02 * declared):
            raise VideoError(f"{self.name} ends after {decoded:.2f} s of the {declared:.2f} s it declares; "
                             "the file may be truncated.")

    def flush(self):
        for target, copied in self.audio.values():
            if not copied:
                self.output.mux(target.encode(None))
        self.output.mux(self.encoder.encode(None))


def colour_matrix(frame) -> int:
    """The frame's YUV matrix; where it names none, BT.709 from 720 lines up and BT.601 below, as players assume."""
    if frame.colorspace != UNSPECIFIED:
        return frame.colorspace
    reformatter = av.video.reformatter.Colorspace
    return reformatter.ITU709 if frame.height >= 720 else reformatter.ITU601


def rgb_array(frame, matrix) -> np.ndarray:
    """The frame as an (H, W, 3) float32 array in [0, 1]: 16 bits per sample where the video has more than 8."""
    deep = frame.format.components[0].bits > 8
    rgb = frame.to_ndarray(format="rgb48le" if deep else "rgb24", src_colorspace=matrix,
                           src_color_range=frame.color_range, interpolation=DEEP_EXACT if deep else EXACT)
    return rgb.astype(np.float32) / (65535.0 if deep else 255.0)


def add_audio_stream(output, stream) -> tuple:
    """(the output stream for an audio stream, whether its packets are copied): MP4 holds the codec, or AAC it is."""
    codec = stream.codec_context.codec.canonical_name
    if codec in MP4_AUDIO:
        return output.add_stream_from_template(stream), True
    return output.add_stream("aac", rate=stream.codec_context.sample_rate, layout=stream.codec_context.layout), False
