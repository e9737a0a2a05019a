"""The app's API through gradio_client, against the launched app."""

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from dehaze import load_image
from dehaze.metrics import psnr
from tests.conftest import EXAMPLES

HAZY = EXAMPLES / "skimage_coffee_hazy.jpg"
CLEAR = EXAMPLES / "skimage_coffee_clear.jpg"


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def test_named_endpoints_are_listed(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/dehaze", "/compare"} <= set(endpoints)


@pytest.mark.parametrize("method", ["GAN", "DCP", "MSCNN"])
def test_dehaze_endpoint_returns_a_lossless_full_size_image(client, method):
    output = client.predict(handle_file(HAZY), method, api_name="/dehaze")
    assert output.endswith(".png")
    dehazed, hazy, clear = load_image(output), load_image(HAZY), load_image(CLEAR)
    assert dehazed.shape == hazy.shape
    assert psnr(dehazed, clear) > psnr(hazy, clear)


def test_compare_endpoint_scores_every_method_against_the_ground_truth(client):
    slider_dcp, slider_mscnn, transmission_dcp, transmission_mscnn, scores = client.predict(
        handle_file(HAZY), handle_file(CLEAR), api_name="/compare")
    assert len(slider_dcp) == len(slider_mscnn) == 2
    assert load_image(slider_dcp[1]).shape == load_image(HAZY).shape
    assert np.asarray(Image.open(transmission_dcp)).ndim == 2
    table = {row[0]: [float(value) for value in row[1:]] for row in scores["data"]}
    assert set(table) == {"Hazy input", "GAN", "DCP", "MSCNN"}
    assert table["DCP"][0] > table["Hazy input"][0] + 3 and table["GAN"][0] > table["Hazy input"][0] + 3
    assert all(0 < ssim <= 1 for _, ssim in table.values())


def test_compare_without_ground_truth_has_no_scores(client):
    *_, scores = client.predict(handle_file(HAZY), None, api_name="/compare")
    assert scores["data"] in ([], [[]], [["", "", ""]])


def write_bad_inputs(folder):
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "corrupt.png")
    (folder / "corrupt.png").write_bytes((folder / "corrupt.png").read_bytes()[:70])
    (folder / "notes.png").write_text("just text")
    Image.new("RGB", (1, 1)).save(folder / "dot.png")
    Image.new("RGB", (4000, 3200)).save(folder / "huge.png")
    return {"corrupt.png": "corrupt", "notes.png": "not an image", "dot.png": "at least 16", "huge.png": "limit is 12 MP"}


def test_bad_uploads_get_clear_errors(client, tmp_path):
    for name, message in write_bad_inputs(tmp_path).items():
        with pytest.raises(Exception, match=message):
            client.predict(handle_file(tmp_path / name), "DCP", api_name="/dehaze")
    with pytest.raises(Exception, match="Please upload a hazy photo"):
        client.predict(None, "DCP", api_name="/dehaze")
    with pytest.raises(Exception, match="ground truth must have the hazy photo's size"):
        client.predict(handle_file(HAZY), handle_file(EXAMPLES / "mate_Storm_clear.jpg"), api_name="/compare")


def test_unusual_but_valid_images_are_dehazed(client, tmp_path):
    hazy = load_image(HAZY)
    gray = Image.fromarray((hazy.mean(axis=2) * 255).astype(np.uint8), mode="L")
    rgba = Image.fromarray(np.dstack([(hazy * 255).astype(np.uint8), np.full(hazy.shape[:2], 255, np.uint8)]))
    deep = Image.fromarray((hazy.mean(axis=2) * 65535).astype(np.uint16))
    for name, image in {"gray.png": gray, "rgba.png": rgba, "deep.png": deep}.items():
        image.save(tmp_path / name)
        output = load_image(client.predict(handle_file(tmp_path / name), "DCP", api_name="/dehaze"))
        assert output.shape == hazy.shape, name


def test_queue_is_bounded():
    import app

    demo = app.build_demo()
    assert demo._queue.max_size == app.QUEUE_OPTIONS["max_size"] > 0
    assert demo._queue.default_concurrency_limit == app.QUEUE_OPTIONS["default_concurrency_limit"]
