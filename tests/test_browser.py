"""A real browser (Debian's Chromium, headless, driven by Playwright) uses the app as a person would."""

import os
import shutil

import pytest

from tests.conftest import EXAMPLES

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("DEHAZE_REQUIRE_BROWSER"),
    reason="Chromium is not installed (apt-get install chromium); CI sets DEHAZE_REQUIRE_BROWSER=1",
)
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]


def test_upload_dehaze_and_compare_in_the_browser(app_url, tmp_path):
    from PIL import Image
    from playwright.sync_api import sync_playwright

    hazy = EXAMPLES / "plasma_Path_hazy.jpg"
    size = list(Image.open(hazy).size)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        page.goto(app_url, wait_until="networkidle")
        page.locator("#hazy input[type=file]").set_input_files(str(hazy))
        page.locator("#hazy img").wait_for(timeout=60_000)
        page.get_by_role("button", name="Dehaze", exact=True).click()

        output = page.locator("#dehazed img")
        output.wait_for(timeout=180_000)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=output.element_handle())
        assert output.evaluate("img => [img.naturalWidth, img.naturalHeight]") == size
        assert ".png" in output.get_attribute("src")

        slider_images = page.locator("#slider-dcp img")
        slider_images.first.wait_for(timeout=180_000)
        assert slider_images.count() == 2
        assert page.locator("#slider-mscnn img").count() == 2
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        browser.close()
