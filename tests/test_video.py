"""dehaze_video: no flicker, pans that stay put, what a clip keeps, and bad input. Clips are made here with PyAV."""

import shutil
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from dehaze import VideoError, dehaze, dehaze_video, load_image
from dehaze.guided_filter import resize_tensor, to_array, to_tensor
from dehaze.image_io import resize
from dehaze.pipeline import apply_map, working_map
from dehaze.scattering import synthesize_haze
from dehaze.video import EXACT, SteadyFrames
from tests.conftest import EXAMPLES

WIDTH, HEIGHT = 96, 64
AIRLIGHT = (0.8, 0.84, 0.9)


def hazy_scene(width: int, height: int, photo: str = "skimage_coffee") -> np.ndarray:
    """An example photo in dense haze that thickens towards the top, as distance grows."""
    clear = resize(load_image(EXAMPLES / f"{photo}_clear.jpg"), width, height)
    transmission = np.linspace(0.12, 0.6, height, dtype=np.float32)[:, None].repeat(width, axis=1)
    return synthesize_haze(clear, transmission, AIRLIGHT)


def noisy(image: np.ndarray, rng, sigma: float = 0.02) -> np.ndarray:
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 1)


def write_clip(path, frames, rate=24, pix_fmt="yuv420p", timestamps=None, rotation=0, audio=None):
    """Frames (float RGB in [0, 1]) as a nearly lossless H.264 clip; `audio` names a codec for a second of a tone."""
    deep = pix_fmt.endswith("10le")
    with av.open(str(path), "w") as clip:
        video = clip.add_stream("libx264", rate=rate, options={"crf": "12"})
        video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0], pix_fmt
        if timestamps is not None:
            video.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            video.set_display_rotation(rotation)
        sound = clip.add_stream(audio, rate=48000, layout="mono") if audio else None
        for index, frame in enumerate(frames):
            samples = np.rint(frame * (65535 if deep else 255)).astype(np.uint16 if deep else np.uint8)
            picture = av.VideoFrame.from_ndarray(samples, format="rgb48le" if deep else "rgb24")
            picture = picture.reformat(format=pix_fmt, interpolation=EXACT)
            picture.pts = index if timestamps is None else timestamps[index]
            clip.mux(video.encode(picture))
        clip.mux(video.encode())
        if sound:
            tone = (0.2 * np.sin(np.arange(48000) * 2 * np.pi * 440 / 48000)).astype(np.float32)
            for start in range(0, 48000, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 48000, start
                clip.mux(sound.encode(chunk))
            clip.mux(sound.encode())


def read_frames(path) -> list:
    with av.open(str(path)) as clip:
        return [frame.to_ndarray(format="rgb24", interpolation=EXACT).astype(np.float32) / 255
                for frame in clip.decode(video=0)]


def low_frequency_change(frames) -> float:
    """Mean absolute change between consecutive frames of what a Gaussian of sigma 4 px keeps: flicker, not noise."""
    lows = [gaussian_filter(frame, (4, 4, 0)) for frame in frames]
    return float(np.mean([np.abs(after - before).mean() for before, after in zip(lows, lows[1:])]))


def pan_error(frames, step: int) -> float:
    """Mean absolute difference between consecutive frames of a pan by `step` px, where they show the same place."""
    return float(np.mean([np.abs(before[:, step:] - after[:, :-step]).mean() for before, after in zip(frames, frames[1:])]))


@pytest.mark.parametrize("method", ["dcp", "mscnn", "gan"])
def test_a_still_hazy_scene_with_sensor_noise_does_not_flicker(tmp_path, method):
    rng = np.random.default_rng(0)
    scene = hazy_scene(WIDTH, HEIGHT)
    write_clip(tmp_path / "still.mp4", [noisy(scene, rng) for _ in range(20)])
    frames = read_frames(tmp_path / "still.mp4")
    dehaze_video(tmp_path / "still.mp4", tmp_path / "out.mp4", method)
    ours = read_frames(tmp_path / "out.mp4")
    each_alone = [dehaze(frame, method).image for frame in frames]
    flicker = low_frequency_change(ours)
    assert flicker <= 0.5 * low_frequency_change(each_alone) or flicker <= 3 * low_frequency_change(frames)
    assert np.abs(np.diff([frame.mean() for frame in ours])).max() <= 1 / 255


@pytest.mark.parametrize("method", ["dcp", "mscnn", "gan"])
def test_a_pan_across_a_still_photo_stays_in_place(tmp_path, method):
    """Where consecutive frames show the same place, they agree as well as the input's frames do.

    One map held exactly to the scene would not be enough: it multiplies each frame's own
    noise by up to 1 / t (here 1.5-2.3x the input's difference between frames, unencoded).
    """
    step, count = 4, 12
    panorama = hazy_scene(WIDTH + step * count, HEIGHT)
    rng = np.random.default_rng(1)
    write_clip(tmp_path / "pan.mp4", [noisy(panorama[:, step * i : step * i + WIDTH], rng, 0.01) for i in range(count)])
    frames = read_frames(tmp_path / "pan.mp4")
    dehaze_video(tmp_path / "pan.mp4", tmp_path / "out.mp4", method)
    assert pan_error(read_frames(tmp_path / "out.mp4"), step) <= 1.2 * pan_error(frames, step)


def test_frames_are_averaged_where_only_noise_differs_and_taken_as_they_are_where_something_moves():
    """A dark square crosses a still hazy scene with fresh noise in every frame: the noise falls, no trail is left."""
    rng = np.random.default_rng(6)
    scene = to_tensor(hazy_scene(WIDTH, HEIGHT))
    steady = SteadyFrames()
    for index in range(10):
        frame = scene.clone()
        frame[:, 20:36, 8 * index : 8 * index + 16] = 0.1  # the square moves 8 px a frame
        frame = (frame + 0.01 * torch.from_numpy(rng.standard_normal(frame.shape, dtype=np.float32))).clamp(0, 1)
        averaged = steady.average(frame, None if index == 0 else (0, 0), (1.0, 1.0))
    background = averaged[:, 44:, :]  # away from the square: only noise differed
    assert float((background - scene[:, 44:, :]).std()) < 0.6 * float((frame[:, 44:, :] - scene[:, 44:, :]).std())
    trail = (slice(None), slice(20, 36), slice(8 * 9 - 16, 8 * 9))  # where the square was in the last two frames
    assert float((averaged[trail] - frame[trail]).abs().max()) < 0.05


@pytest.mark.parametrize("method", ["dcp", "gan"])
def test_a_scene_cut_starts_afresh(tmp_path, method):
    """The first frame of a new shot is dehazed as that frame alone would be, with nothing of the last shot."""
    rng = np.random.default_rng(5)
    first, second = hazy_scene(WIDTH, HEIGHT), hazy_scene(WIDTH, HEIGHT, "plasma_Path") * 0.8
    write_clip(tmp_path / "cut.mp4", [noisy(first, rng, 0.01) for _ in range(10)] + [noisy(second, rng, 0.01)] * 2)
    frames = read_frames(tmp_path / "cut.mp4")
    dehaze_video(tmp_path / "cut.mp4", tmp_path / "out.mp4", method)  # carried over the cut: 17 to 38 / 255 off
    assert np.abs(read_frames(tmp_path / "out.mp4")[10] - dehaze(frames[10], method).image).mean() < 3 / 255


def test_frame_count_rate_size_rotation_and_audio_are_kept(tmp_path):
    rng = np.random.default_rng(2)
    scene = hazy_scene(WIDTH, HEIGHT)
    write_clip(tmp_path / "clip.mp4", [noisy(scene, rng) for _ in range(18)], rate=12, rotation=90, audio="aac")
    calls = []
    dehaze_video(tmp_path / "clip.mp4", tmp_path / "out.mp4", "dcp", progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (18, 18) and len(calls) == 18
    with av.open(str(tmp_path / "clip.mp4")) as source, av.open(str(tmp_path / "out.mp4")) as result:
        video = result.streams.video[0]
        assert (video.frames, video.average_rate, video.width, video.height) == (18, 12, WIDTH, HEIGHT)
        assert video.codec_context.name == "h264" and video.codec_context.pix_fmt == "yuv420p"
        copied = [bytes(packet) for packet in result.demux(result.streams.audio[0]) if packet.size]
        original = [bytes(packet) for packet in source.demux(source.streams.audio[0]) if packet.size]
        assert copied == original  # remuxed, not encoded again
    with av.open(str(tmp_path / "out.mp4")) as result:
        assert next(result.decode(video=0)).rotation == 90


def test_audio_that_mp4_cannot_hold_becomes_aac(tmp_path):
    frames = [hazy_scene(WIDTH, HEIGHT)] * 6
    write_clip(tmp_path / "clip.mov", frames, audio="pcm_s16le")
    dehaze_video(tmp_path / "clip.mov", tmp_path / "out.mp4", "dcp")
    with av.open(str(tmp_path / "out.mp4")) as result:
        sound = result.streams.audio[0]
        assert sound.codec_context.name == "aac" and 0.9 < float(sound.duration * sound.time_base) < 1.1


def test_variable_frame_rate_keeps_every_timestamp(tmp_path):
    milliseconds = [0, 40, 80, 200, 240, 500, 540, 580]
    write_clip(tmp_path / "vfr.mp4", [hazy_scene(WIDTH, HEIGHT)] * len(milliseconds), timestamps=milliseconds)
    dehaze_video(tmp_path / "vfr.mp4", tmp_path / "out.mp4", "dcp")
    with av.open(str(tmp_path / "out.mp4")) as result:
        times = [frame.time for frame in result.decode(video=0)]
    assert np.allclose(times, np.array(milliseconds) / 1000, atol=1e-3)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le"])
def test_strength_zero_gives_the_clip_back_from_8_and_10_bit_video(tmp_path, pix_fmt):
    """Colours survive decoding and encoding: the YUV matrix, the range, and 10-bit samples read as such."""
    scene = hazy_scene(WIDTH, HEIGHT)
    write_clip(tmp_path / "clip.mp4", [scene] * 4, pix_fmt=pix_fmt)
    dehaze_video(tmp_path / "clip.mp4", tmp_path / "out.mp4", "dcp", strength=0)
    error = read_frames(tmp_path / "out.mp4")[0] - scene
    assert np.abs(error.mean(axis=(0, 1))).max() < 1 / 255 and np.abs(error).mean() < 3 / 255


def test_odd_sizes_lose_one_row_and_column_to_4_2_0_chroma(tmp_path):
    write_clip(tmp_path / "odd.mkv", [hazy_scene(95, 63)] * 3, pix_fmt="yuv444p")
    dehaze_video(tmp_path / "odd.mkv", tmp_path / "out.mp4", "mscnn")
    assert [frame.shape for frame in read_frames(tmp_path / "out.mp4")] == [(62, 94, 3)] * 3


def cut_in_half(path):
    """A clip with its index first (faststart) and its data cut off halfway, at a packet's start."""
    write_clip(path, [hazy_scene(WIDTH, HEIGHT)] * 24)
    faststart = path.with_name("faststart.mp4")
    with av.open(str(path)) as source, av.open(str(faststart), "w", options={"movflags": "faststart"}) as copy:
        stream = copy.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.size:
                packet.stream = stream
                copy.mux(packet)
    with av.open(str(faststart)) as clip:
        starts = [packet.pos for packet in clip.demux(video=0) if packet.size]
    path.write_bytes(faststart.read_bytes()[: starts[len(starts) // 2]])
    faststart.unlink()


def bad_input(kind: str, folder):
    """A file that is no usable video, and what the error must say about it."""
    path = folder / {"photo": "photo.jpg", "sound": "sound.m4a", "tiny": "tiny.mp4"}.get(kind, f"{kind}.mp4")
    if kind == "text":
        path.write_text("not a video at all")
        return path, "is not a video file"
    if kind == "empty":
        path.touch()
        return path, "is not a video file"
    if kind == "photo":
        shutil.copy(EXAMPLES / "mate_Storm_hazy.jpg", path)
        return path, "is a still image"
    if kind == "sound":
        with av.open(str(path), "w", format="mp4") as clip:
            sound = clip.add_stream("aac", rate=48000, layout="mono")
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, 0
            clip.mux(sound.encode(chunk))
            clip.mux(sound.encode())
        return path, "has no video track"
    if kind == "tiny":
        write_clip(path, [np.full((8, 8, 3), 0.5)] * 2)
        return path, "at least 16 pixels"
    if kind == "truncated":
        cut_in_half(path)
        return path, "the file may be truncated"
    if kind == "unfinished":  # a recording stopped before its index, which comes last, was written
        write_clip(path, [hazy_scene(WIDTH, HEIGHT)] * 24)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path, "is not a video file, or it is damaged"
    return path, "No such video file"


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "photo", "sound", "tiny", "truncated", "unfinished"])
def test_bad_input_is_refused_by_name_and_leaves_no_file(tmp_path, kind):
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir(), outputs.mkdir()
    path, reason = bad_input(kind, inputs)
    with pytest.raises(VideoError, match=reason) as refused:
        dehaze_video(path, outputs / "result.mp4", "dcp")
    assert path.name in str(refused.value)
    assert list(outputs.iterdir()) == []


@pytest.mark.parametrize("method", ["dcp", "mscnn", "gan"])
def test_invisible_noise_on_a_photo_changes_no_output_pixel_visibly(method):
    """He et al.'s airlight, the single brightest candidate, moved half of this photo's DCP output by more than 0.02."""
    photo = load_image(EXAMPLES / "mate_Storm_hazy.jpg")
    noise = np.random.default_rng(4).normal(0, 1e-4, photo.shape)
    change = np.abs(dehaze(np.clip(photo + noise, 0, 1).astype(np.float32), method).image - dehaze(photo, method).image)
    assert change.max() <= 0.02


@pytest.mark.parametrize("method", ["dcp", "mscnn", "gan"])
def test_the_map_at_the_working_size_is_what_dehaze_applies(method):
    photo = load_image(EXAMPLES / "plasma_Path_hazy.jpg")
    small = resize(photo, WIDTH, HEIGHT)
    ours = to_array(apply_map(to_tensor(small), *working_map(to_tensor(small), method), 0.7))
    assert np.abs(ours - dehaze(small, method, strength=0.7).image).max() < 1e-5
    full = to_tensor(photo)  # lifted from a working size of 128 x 80
    lifted = to_array(apply_map(full, *working_map(resize_tensor(full, 80, 128), method)))
    assert np.abs(lifted - dehaze(photo, method, working_size=101).image).max() < 1e-5
