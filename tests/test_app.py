"""The app's API through gradio_client, against the launched app."""

import io
import threading
import time

import av
import cv2
import gradio as gr
import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image, ImageCms

import app
from dehaze import load_image
from dehaze.image_io import save_image
from dehaze.metrics import psnr
from tests.colour_profiles import display_p3_icc, p3_to_srgb_linear, srgb_decode, srgb_encode
from tests.conftest import EXAMPLES
from tests.test_video import hazy_scene, noisy, read_frames, write_clip

HAZY = EXAMPLES / "skimage_coffee_hazy.jpg"
CLEAR = EXAMPLES / "skimage_coffee_clear.jpg"


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


@pytest.fixture
def model_work(monkeypatch):
    """(start, end) of every dehaze() call the app makes while the test runs."""
    intervals, real_dehaze, lock = [], app.dehaze, threading.Lock()

    def recording_dehaze(*args, **kwargs):
        start = time.monotonic()
        try:
            return real_dehaze(*args, **kwargs)
        finally:
            with lock:
                intervals.append((start, time.monotonic()))

    monkeypatch.setattr(app, "dehaze", recording_dehaze)
    app.PREVIEWS.clear()
    return intervals


def srgb_icc_description(path) -> str:
    with Image.open(path) as image:
        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"])))


def test_named_endpoints_are_listed(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/dehaze", "/compare", "/dehaze_video"} <= set(endpoints)
    assert [p["parameter_name"] for p in endpoints["/dehaze"]["parameters"]] == ["hazy_photo", "method", "strength"]
    assert [p["parameter_name"] for p in endpoints["/compare"]["parameters"]] == [
        "hazy_photo", "method", "ground_truth", "strength"]
    assert [p["parameter_default"] for p in endpoints["/dehaze"]["parameters"][1:]] == ["GAN", 100]
    assert [p["parameter_name"] for p in endpoints["/dehaze_video"]["parameters"]] == ["hazy_clip", "method", "strength"]


@pytest.mark.parametrize("method", ["GAN", "DCP", "MSCNN"])
def test_dehaze_returns_a_preview_pair_and_the_full_result_named_after_the_upload(client, method):
    (before, after), download = client.predict(handle_file(HAZY), method, 100, api_name="/dehaze")
    assert download.endswith(f"skimage_coffee_hazy_dehazed_{method.lower()}.jpg")  # a JPEG upload gets a JPEG
    dehazed, hazy, clear = load_image(download), load_image(HAZY), load_image(CLEAR)
    assert dehazed.shape == hazy.shape
    assert psnr(dehazed, clear) > psnr(hazy, clear)
    assert load_image(before).shape == load_image(after).shape == hazy.shape  # 640 px: the preview is full size
    assert psnr(load_image(after), dehazed) > 40  # the preview shows the result, not a different one


def test_default_strength_keeps_the_full_result(client):
    """Callers that do not pass strength get what the API gave before it existed."""
    (_, default), _ = client.predict(handle_file(HAZY), "DCP", api_name="/dehaze")
    (_, full), _ = client.predict(handle_file(HAZY), "DCP", 100, api_name="/dehaze")
    assert np.array_equal(load_image(default), load_image(full))


@pytest.mark.parametrize("method", ["GAN", "DCP", "MSCNN"])
def test_strength_zero_returns_the_input(client, method, tmp_path):
    save_image(load_image(HAZY), tmp_path / "photo.png")
    _, download = client.predict(handle_file(tmp_path / "photo.png"), method, 0, api_name="/dehaze")
    assert download.endswith("photo_dehazed_" + method.lower() + ".png")
    assert np.abs(load_image(download) - load_image(tmp_path / "photo.png")).max() <= 1 / 255 + 1e-6


def test_half_strength_lies_between_input_and_full_removal(client, tmp_path):
    save_image(load_image(HAZY), tmp_path / "photo.png")
    results = {s: load_image(client.predict(handle_file(tmp_path / "photo.png"), "DCP", s, api_name="/dehaze")[1])
               for s in (0, 50, 100)}
    assert 0.2 < np.abs(results[50] - results[0]).mean() / np.abs(results[100] - results[0]).mean() < 0.8


def test_large_upload_gets_screen_sized_previews_and_a_full_resolution_download(client, tmp_path):
    big = cv2.resize(cv2.imread(str(HAZY)), (2400, 1600), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "big.png"), big)
    (before, after), download = client.predict(handle_file(tmp_path / "big.png"), "DCP", 100, api_name="/dehaze")
    assert Image.open(before).size == Image.open(after).size == (app.PREVIEW_SIDE, app.PREVIEW_SIDE * 2 // 3)
    assert Image.open(download).size == (2400, 1600) and download.endswith("big_dehazed_dcp.png")


def test_exif_rotated_phone_photo_keeps_its_displayed_orientation(client, tmp_path):
    """A JPEG stored sideways with Orientation=6, as phones write them, comes back as it is shown."""
    upright = cv2.imread(str(HAZY))
    cv2.imwrite(str(tmp_path / "upright.jpg"), upright, [cv2.IMWRITE_JPEG_QUALITY, 98])
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright[:, :, ::-1], 1)))
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=98)
    assert stored.size == (upright.shape[0], upright.shape[1])  # stored sideways
    (_, after), download = client.predict(handle_file(tmp_path / "phone.jpg"), "DCP", 100, api_name="/dehaze")
    _, reference = client.predict(handle_file(tmp_path / "upright.jpg"), "DCP", 100, api_name="/dehaze")
    assert load_image(download).shape == load_image(after).shape == upright.shape
    assert np.abs(load_image(download) - load_image(reference)).mean() < 0.01


def test_display_p3_upload_comes_back_tagged_srgb_with_the_right_colours(client, tmp_path):
    p3_colour = np.array([200, 100, 50])
    pixels = np.asarray(Image.open(HAZY).convert("RGB")).copy()
    pixels[:64, :64] = p3_colour
    Image.fromarray(pixels).save(tmp_path / "p3.png", icc_profile=display_p3_icc())
    _, download = client.predict(handle_file(tmp_path / "p3.png"), "GAN", 0, api_name="/dehaze")
    assert "sRGB" in srgb_icc_description(download)
    expected = srgb_encode(p3_to_srgb_linear() @ srgb_decode(p3_colour / 255)) * 255
    assert np.abs(load_image(download)[32, 32] * 255 - expected).max() < 1.5


def test_16_bit_upload_gets_a_16_bit_download(client, tmp_path):
    eight_bit = cv2.imread(str(HAZY)).astype(np.uint16)
    deep = eight_bit * 256 + np.arange(eight_bit.shape[1], dtype=np.uint16)[None, :, None] % 256  # low bytes vary
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    _, download = client.predict(handle_file(tmp_path / "deep.png"), "MSCNN", 0, api_name="/dehaze")
    written = cv2.imread(download, cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16
    assert np.abs(written.astype(int) - deep).max() <= 1


def test_compare_scores_every_method_against_the_ground_truth(client):
    slider_a, slider_b, transmission_dcp, transmission_mscnn, scores = client.predict(
        handle_file(HAZY), "GAN", handle_file(CLEAR), 100, api_name="/compare")
    assert len(slider_a) == len(slider_b) == 2
    assert load_image(slider_a[1]).shape == load_image(HAZY).shape
    assert np.asarray(Image.open(transmission_dcp)).ndim == 2 and np.asarray(Image.open(transmission_mscnn)).ndim == 2
    table = {row[0]: [float(value) for value in row[1:]] for row in scores["data"]}
    assert set(table) == {"Hazy input", "GAN", "DCP", "MSCNN"}
    assert table["DCP"][0] > table["Hazy input"][0] + 3 and table["GAN"][0] > table["Hazy input"][0] + 3
    assert all(0 < ssim <= 1 for _, ssim in table.values())


def test_compare_without_ground_truth_has_no_scores_and_reuses_dehaze_work(client, model_work):
    client.predict(handle_file(HAZY), "DCP", 100, api_name="/dehaze")
    assert len(model_work) == 1
    *_, scores = client.predict(handle_file(HAZY), "DCP", None, 100, api_name="/compare")
    assert scores["data"] in ([], [[]], [["", "", ""]])
    assert len(model_work) == 1 + 2  # only GAN and MSCNN ran again


def assert_refused_in_one_log_line_each(caplog, capfd, count: int):
    """The app logged `count` refusals, one line each, and printed no traceback."""
    refusals = [record for record in caplog.records if record.name == "dehaze.app"]
    assert len(refusals) == count and all("\n" not in record.getMessage() for record in refusals)
    assert "Traceback" not in capfd.readouterr().err


def write_bad_inputs(folder):
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "corrupt.png")
    (folder / "corrupt.png").write_bytes((folder / "corrupt.png").read_bytes()[:70])
    (folder / "notes.png").write_text("just text")
    Image.new("RGB", (1, 1)).save(folder / "dot.png")
    Image.new("RGB", (4000, 3200)).save(folder / "huge.png")
    return {"corrupt.png": "corrupt", "notes.png": "not an image", "dot.png": "at least 16", "huge.png": "limit is 12 MP"}


def test_bad_uploads_get_clear_errors_and_one_log_line_each(client, tmp_path, caplog, capfd):
    for name, message in write_bad_inputs(tmp_path).items():
        with pytest.raises(Exception, match=f"Hazy photo: .*{message}"):
            client.predict(handle_file(tmp_path / name), "DCP", 100, api_name="/dehaze")
    with pytest.raises(Exception, match="Please upload a hazy photo"):
        client.predict(None, "DCP", 100, api_name="/dehaze")
    with pytest.raises(Exception, match="Strength must be a percentage from 0 to 100"):
        client.predict(handle_file(HAZY), "DCP", 150, api_name="/dehaze")
    with pytest.raises(Exception, match="Unknown method 'dcp'; choose one of GAN, DCP, MSCNN"):
        client.predict(handle_file(HAZY), "dcp", 100, api_name="/dehaze")
    assert_refused_in_one_log_line_each(caplog, capfd, 7)


def test_a_bad_ground_truth_is_named_before_any_method_runs(client, tmp_path, model_work):
    write_bad_inputs(tmp_path)
    with pytest.raises(Exception, match="Ground truth: .*not an image"):
        client.predict(handle_file(HAZY), "GAN", handle_file(tmp_path / "notes.png"), 100, api_name="/compare")
    with pytest.raises(Exception, match="ground truth is 640x427 but the hazy photo is 600x400"):
        client.predict(handle_file(HAZY), "GAN", handle_file(EXAMPLES / "mate_Storm_clear.jpg"), 100,
                       api_name="/compare")
    assert model_work == []


def test_unusual_but_valid_images_are_dehazed(client, tmp_path):
    hazy = load_image(HAZY)
    gray = Image.fromarray((hazy.mean(axis=2) * 255).astype(np.uint8), mode="L")
    rgba = Image.fromarray(np.dstack([(hazy * 255).astype(np.uint8), np.full(hazy.shape[:2], 255, np.uint8)]))
    deep = Image.fromarray((hazy.mean(axis=2) * 65535).astype(np.uint16))
    for name, image in {"gray.png": gray, "rgba.png": rgba, "deep.png": deep}.items():
        image.save(tmp_path / name)
        _, download = client.predict(handle_file(tmp_path / name), "DCP", 100, api_name="/dehaze")
        assert load_image(download).shape == hazy.shape, name


def test_model_work_of_different_endpoints_never_overlaps(client, model_work):
    """/dehaze and /compare share one concurrency group: their model calls run one after another."""
    jobs = [client.submit(handle_file(HAZY), "GAN", None, 100, api_name="/compare"),
            client.submit(handle_file(CLEAR), "DCP", 100, api_name="/dehaze"),
            client.submit(handle_file(HAZY), "MSCNN", 37, api_name="/dehaze")]
    for job in jobs:
        job.result(timeout=300)
    intervals = sorted(model_work)
    assert len(intervals) == 3 + 1 + 1
    assert all(end <= next_start for (_, end), (next_start, _) in zip(intervals, intervals[1:]))


def test_a_clip_comes_back_dehazed_as_h264_mp4_with_every_frame(client, tmp_path):
    rng = np.random.default_rng(0)
    scene = hazy_scene(160, 96)
    write_clip(tmp_path / "drone.mov", [noisy(scene, rng, 0.01) for _ in range(12)], rate=12, audio="aac")
    result = client.predict(handle_file(tmp_path / "drone.mov"), "DCP", 100, api_name="/dehaze_video")
    path = result
    assert path.endswith("drone_dehazed_dcp.mp4")
    with av.open(path) as clip:
        video = clip.streams.video[0]
        assert (video.codec_context.name, video.codec_context.pix_fmt, video.frames) == ("h264", "yuv420p", 12)
        assert len(clip.streams.audio) == 1
    frames = read_frames(path)
    assert frames[0].shape == scene.shape
    assert np.std(frames[-1]) > 1.5 * np.std(scene)  # haze removed: contrast restored


def test_strength_zero_gives_the_clip_back(client, tmp_path):
    scene = hazy_scene(96, 64)
    write_clip(tmp_path / "clip.mp4", [scene] * 6)
    result = client.predict(handle_file(tmp_path / "clip.mp4"), "GAN", 0, api_name="/dehaze_video")
    returned, sent = read_frames(result), read_frames(tmp_path / "clip.mp4")
    error = returned[-1] - sent[-1]  # only what a second H.264 encoding costs
    assert len(returned) == 6 and np.abs(error.mean(axis=(0, 1))).max() < 1 / 255 and np.abs(error).mean() < 3 / 255


def write_bad_clips(folder):
    """Clips the page refuses, and what the refusal must say."""
    (folder / "notes.mp4").write_text("just text")
    Image.new("RGB", (64, 64)).save(folder / "still.png")
    write_clip(folder / "long.mp4", [np.full((16, 16, 3), 0.5)] * (app.MAX_CLIP_SECONDS + 3), rate=1)
    write_clip(folder / "wide.mp4", [np.full((64, 2048, 3), 0.5)] * 2)
    return {"notes.mp4": "is not a video file", "still.png": "is a still image", "long.mp4": "the limit is 60 s",
            "wide.mp4": "the limit is 1920x1080"}


def test_bad_clips_get_clear_errors_and_one_log_line_each(client, tmp_path, caplog, capfd):
    results_before = set(app.DOWNLOADS.glob("*/*"))
    for name, message in write_bad_clips(tmp_path).items():
        with pytest.raises(Exception, match=f"Hazy clip: .*{message}"):
            client.predict(handle_file(tmp_path / name), "DCP", 100, api_name="/dehaze_video")
    with pytest.raises(Exception, match="Please upload a hazy clip"):
        client.predict(None, "DCP", 100, api_name="/dehaze_video")
    with pytest.raises(Exception, match="Unknown method 'fast'"):
        client.predict(handle_file(tmp_path / "long.mp4"), "fast", 100, api_name="/dehaze_video")
    assert_refused_in_one_log_line_each(caplog, capfd, 6)
    assert set(app.DOWNLOADS.glob("*/*")) == results_before  # refused before any work


def test_a_clip_longer_than_it_declares_is_stopped_and_leaves_no_file(tmp_path, monkeypatch):
    write_clip(tmp_path / "clip.mp4", [hazy_scene(32, 32)] * 16, rate=4)  # 4 s
    monkeypatch.setattr(app, "MAX_CLIP_SECONDS", 1)
    facts = app.clip_facts(tmp_path / "clip.mp4")._replace(seconds=None)  # as a stream that declares no duration
    destination = tmp_path / "out.mp4"
    with pytest.raises(gr.Error, match="runs past 1 s"):
        app.dehaze_video(tmp_path / "clip.mp4", destination, "dcp", progress=app.frame_progress(facts, lambda *a, **k: None))
    assert list(tmp_path.iterdir()) == [tmp_path / "clip.mp4"]


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.mp4"
    with open(big, "wb") as file:
        file.truncate((app.MAX_CLIP_MB + 1) * 2**20)  # sparse: no disk used
    with pytest.raises(gr.Error, match="the file is 101 MB; the limit is 100 MB"):
        app.read_clip(str(big))
    photo = tmp_path / "big.png"
    with open(photo, "wb") as file:
        file.truncate((app.MAX_FILE_MB + 1) * 2**20)
    with pytest.raises(gr.Error, match="the file is 21 MB; the limit is 20 MB"):
        app.read_image(str(photo), "hazy photo")


def test_one_upload_request_is_bounded(app_url):
    upload = app_url + "gradio_api/upload"
    small = {"files": ("a.png", (EXAMPLES / "skimage_coffee_hazy.jpg").read_bytes(), "image/jpeg")}
    assert httpx.post(upload, files=small).status_code == 200
    chunk = b"\0" * (40 * 2**20)
    many = [("files", (f"{n}.mp4", chunk, "video/mp4")) for n in range(3)]  # each under the per-file limit
    response = httpx.post(upload, files=many)
    assert response.status_code == 413 and "at most 100 MB" in response.json()["detail"]


def test_queue_and_cache_are_bounded():
    demo = app.build_demo()
    assert demo._queue.max_size == app.QUEUE_OPTIONS["max_size"] > 0
    assert demo.delete_cache == app.DELETE_CACHE
    model_events = [fn for fn in demo.fns.values() if fn.api_name in ("dehaze", "compare", "dehaze_video")]
    assert len(model_events) == 3
    assert all(fn.concurrency_id == app.MODEL_WORK and fn.concurrency_limit == 1 for fn in model_events)
