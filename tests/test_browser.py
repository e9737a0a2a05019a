"""A real browser (Debian's Chromium, headless, driven by Playwright) uses the app as a person would."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

import app
from tests.conftest import EXAMPLES

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("DEHAZE_REQUIRE_BROWSER"),
    reason="Chromium is not installed (apt-get install chromium); CI sets DEHAZE_REQUIRE_BROWSER=1",
)
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]
LAPTOP, PHONE = (1280, 800), (390, 844)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def open_page(browser, app_url, viewport):
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True)
    page.goto(app_url, timeout=120_000)  # not "networkidle": the page keeps a heartbeat stream open
    page.locator("#examples .gallery-item img").last.wait_for(timeout=120_000)
    page.wait_for_function("() => [...document.querySelectorAll('#examples img')].every(i => i.complete)")
    return page


def in_view(page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_first_screen_shows_the_drop_zone_examples_and_button(browser, app_url, viewport, tmp_path):
    page = open_page(browser, app_url, viewport)
    assert page.evaluate("window.scrollY") == 0
    examples = page.locator("#examples .gallery-item")
    assert examples.count() == len(app.example_photos()) > 0
    assert in_view(page, page.locator("#hazy")) and in_view(page, examples.first)
    assert in_view(page, page.get_by_role("button", name="Dehaze", exact=True))
    page.screenshot(path=str(tmp_path / f"first_screen_{viewport[0]}.png"))
    page.close()


def test_phone_upload_shows_the_result_in_view_and_downloads_it_at_full_resolution(browser, app_url, tmp_path):
    big = tmp_path / "forest.png"
    Image.open(EXAMPLES / "plasma_Path_hazy.jpg").resize((2400, 1500), Image.BICUBIC).save(big)
    page = open_page(browser, app_url, PHONE)
    page.locator("#hazy input[type=file]").set_input_files(str(big))
    page.locator("#hazy img").wait_for(timeout=60_000)
    page.get_by_role("button", name="Dehaze", exact=True).click()

    slider_images = page.locator("#result-slider img")
    slider_images.first.wait_for(timeout=180_000)
    page.wait_for_function("() => [...document.querySelectorAll('#result-slider img')].every(i => i.complete)")
    assert slider_images.count() == 2
    widths = slider_images.evaluate_all("images => images.map(i => i.naturalWidth)")
    assert widths == [app.PREVIEW_SIDE, app.PREVIEW_SIDE]  # the page gets previews, not 2400 px images
    download_button = page.locator("#download")
    download_button.wait_for(state="visible", timeout=30_000)
    page.wait_for_function("() => window.scrollY > 0")  # brought the result into view
    page.wait_for_timeout(1000)  # the smooth scroll settles
    assert in_view(page, page.locator("#result-slider"))
    result = page.locator("#result-slider")
    assert "hazy photo" in result.inner_text() and "GAN" in result.inner_text()
    assert (result.get_attribute("data-left"), result.get_attribute("data-right")) == ("Hazy", "GAN 100%")
    page.screenshot(path=str(tmp_path / "phone_result.png"))

    with page.expect_download(timeout=60_000) as download_info:
        download_button.click()
    download = download_info.value
    assert download.suggested_filename == "forest_dehazed_gan.png"
    assert Image.open(download.path()).size == (2400, 1500)
    page.close()


def test_example_brings_its_ground_truth_and_compare_scores_every_method(browser, app_url, tmp_path):
    page = open_page(browser, app_url, LAPTOP)
    page.locator("#examples .gallery-item").nth(app.example_photos().index(str(EXAMPLES / "skimage_coffee_hazy.jpg"))).click()
    page.locator("#hazy img").wait_for(timeout=60_000)
    page.get_by_text("Compare methods, transmission maps and scores").click()
    page.locator("#clear img").wait_for(timeout=60_000)  # the example's clear partner
    page.locator("#method").get_by_text("DCP", exact=True).click()
    page.get_by_role("button", name="Compare all methods").click()
    page.locator("#scores [data-testid=cell-3-0]").wait_for(timeout=180_000)
    names = [page.locator(f"#scores [data-testid=cell-{row}-0]").inner_text().strip() for row in range(4)]
    assert names == ["Hazy input", "GAN", "DCP", "MSCNN"]
    assert page.locator("#slider-a img").count() == page.locator("#slider-b img").count() == 2
    assert "Left: GAN · right: DCP" in page.locator("#slider-a").inner_text()
    sides = [(page.locator(f"#slider-{n}").get_attribute("data-left"), page.locator(f"#slider-{n}").get_attribute("data-right"))
             for n in "ab"]
    assert sides == [("GAN", "DCP"), ("MSCNN", "DCP")]
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)

    page.locator("#hazy").get_by_role("button", name="Remove Image").click()
    page.locator("#hazy input[type=file]").set_input_files(str(EXAMPLES / "plasma_Path_hazy.jpg"))
    page.locator("#clear img").wait_for(state="detached", timeout=30_000)  # the example's truth is not this photo's
    page.close()


def test_a_720p_clip_goes_through_the_video_tab_and_plays(browser, app_url, tmp_path):
    """Ten seconds of 720p in, a dehazed H.264 MP4 out that Chromium plays beside the input."""
    from tests.test_video import hazy_scene, noisy, write_clip

    rng = np.random.default_rng(0)
    scene = hazy_scene(1280, 720, "plasma_Path")
    write_clip(tmp_path / "valley.mp4", [noisy(scene, rng, 0.01) for _ in range(10 * 24)], rate=24)
    page = open_page(browser, app_url, LAPTOP)
    page.get_by_role("tab", name="Video").click()
    page.locator("#clip input[type=file]").set_input_files(str(tmp_path / "valley.mp4"))
    page.locator("#clip video").wait_for(timeout=60_000)
    page.locator("#clip-method").get_by_text("DCP", exact=True).click()
    page.get_by_role("button", name="Dehaze clip").click()

    result = page.locator("#clip-result video")
    result.wait_for(timeout=600_000)
    assert result.evaluate("video => video.canPlayType('video/mp4; codecs=\"avc1.640028\"')") == "probably"
    result.evaluate("video => { video.muted = true; return video.play(); }")
    page.wait_for_function("() => document.querySelector('#clip-result video').currentTime > 1", timeout=30_000)
    size = result.evaluate("video => [video.videoWidth, video.videoHeight, Math.round(video.duration)]")
    assert size == [1280, 720, 10]
    page.screenshot(path=str(tmp_path / "video_tab.png"), full_page=True)
    with page.expect_download(timeout=60_000) as download_info:
        page.locator("#clip-result").get_by_role("button", name="Download").click()
    assert download_info.value.suggested_filename == "valley_dehazed_dcp.mp4"
    page.close()
