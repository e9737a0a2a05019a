"""Gradio demo and API of the dehaze library.

    python app.py            # then open http://localhost:7860

Endpoints (see README): /dehaze runs the chosen method and returns a before/after preview and the
full-resolution result as a file; /compare runs every method for the sliders, transmission maps and
PSNR/SSIM against an optional ground truth; /dehaze_video dehazes a clip into an H.264 MP4. All model
work shares one queue slot.
"""

import atexit
import logging
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple, Optional

import gradio as gr
import numpy as np
from starlette.middleware import Middleware
from starlette.responses import JSONResponse

from dehaze import ImageError, VideoError, dehaze, dehaze_video, load_image, save_image
from dehaze.image_io import fit_within, source_bit_depth, to_uint8
from dehaze.metrics import score
from dehaze.video import ClipFacts, clip_facts

try:  # ZeroGPU on Hugging Face Spaces: borrow a GPU for each call
    import spaces

    on_gpu = spaces.GPU
except ImportError:
    on_gpu = lambda function: function

METHODS = {"GAN": "gan", "DCP": "dcp", "MSCNN": "mscnn"}
ABOUT_METHODS = """**About the methods.** **GAN**: a ResNet generator that predicts the haze's transmission map \
and airlight and removes the haze by the scattering model, so it can deepen what the photo holds but cannot paint \
shapes into fog. Its PatchGAN critic was on for its first 2,000 training steps and off for the last 11,500: with the \
critic, it drew shapes into real hazy photos that it did not draw without; DeblurGAN's perceptual (VGG) term, \
measured too, did no better and is off (see the model card). **DCP**: He et \
al.'s Dark Channel Prior. **MSCNN**: Ren et al.'s multi-scale CNN for the transmission map."""
MAX_PIXELS = 12_000_000
MAX_FILE_MB = 20  # a photo
MAX_CLIP_MB, MAX_CLIP_SECONDS, MAX_CLIP_SIZE = 100, 60, (1920, 1080)  # a clip: 1080p at most, either way up
# Gradio bounds each uploaded file (by the largest kind, a clip), not how many one upload request carries; the
# page sends one per request.
MAX_UPLOAD_REQUEST_BYTES = MAX_CLIP_MB * 1024 * 1024 + 64 * 1024
PREVIEW_SIDE = 1280  # long side of what the sliders and maps show: a laptop screen at full width
PREVIEWS_CACHED = 12  # (upload, method, strength) previews kept so /compare reuses /dehaze's work
MODEL_WORK = "model-work"  # one concurrency group: /dehaze and /compare never run models at once
QUEUE_OPTIONS = {"max_size": 16, "default_concurrency_limit": 1}
DELETE_CACHE = (600, 3600)  # every 10 minutes, delete uploads and results older than an hour
DOWNLOAD_KEPT_SECONDS = 600  # our copy of a result file; Gradio serves its own copy, made on return
CLIP_SLACK_SECONDS = 1  # a clip may run this much past what it declares (or past the limit) before it is stopped
EXAMPLES_DIR = Path(__file__).parent / "examples"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"}
DOWNLOADS = Path(tempfile.mkdtemp(prefix="dehaze-downloads-"))
atexit.register(shutil.rmtree, DOWNLOADS, ignore_errors=True)
log = logging.getLogger("dehaze.app")


class Preview(NamedTuple):
    """One method's result at preview size: what the page shows, never the full-resolution arrays."""

    image: np.ndarray
    transmission: Optional[np.ndarray]


PREVIEWS: "OrderedDict[tuple, Preview]" = OrderedDict()


class ImageUpload(gr.Image):
    """An image drop zone that hands the handler the uploaded file's path undecoded, so that
    dehaze's loader, not Gradio's, reads it (upright, in sRGB, at full precision) and explains
    what is wrong with a bad file."""

    is_template = True  # rendered by the frontend's Image component

    def preprocess(self, payload):
        return None if payload is None else payload.path


class MethodChoice(gr.Radio):
    """Method radio buttons whose API values reach `check_request` unvalidated: Gradio's own check
    would print a traceback for a caller's typo, ours logs one line."""

    is_template = True

    def preprocess(self, payload):
        return payload


class StrengthSlider(gr.Slider):
    """A 0-100 % slider whose API values reach `check_request` unvalidated (see MethodChoice)."""

    is_template = True

    def preprocess(self, payload):
        return payload


class UploadLimit:
    """ASGI middleware refusing an upload request larger than `max_bytes` before reading it."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].rstrip("/").endswith("/upload"):
            length = dict(scope["headers"]).get(b"content-length", b"")
            if not length.isdigit() or int(length) > self.max_bytes:
                log.warning("refused an upload request of %s bytes", length.decode() or "unknown")
                message = f"One upload may carry at most {self.max_bytes // 2**20} MB with a declared length."
                return await JSONResponse({"detail": message}, status_code=413)(scope, receive, send)
        return await self.app(scope, receive, send)


def launch_options() -> dict:
    """Keyword arguments for `launch`, fresh each time (Gradio adds to app_kwargs)."""
    return {"max_file_size": f"{MAX_CLIP_MB}mb", "css": CSS,
            "app_kwargs": {"middleware": [Middleware(UploadLimit, max_bytes=MAX_UPLOAD_REQUEST_BYTES)]}}


def refuse(message: str) -> gr.Error:
    """A user's mistake: one line in the server log, the message on the page, no traceback."""
    log.warning("refused: %s", message)
    return gr.Error(message, print_exception=False)


def check_file_size(path, what: str, limit_mb: int) -> None:
    megabytes = os.path.getsize(path) / 2**20
    if megabytes > limit_mb:
        raise refuse(f"{what.capitalize()}: the file is {megabytes:.0f} MB; the limit is {limit_mb} MB.")


def read_image(path, what: str) -> np.ndarray:
    if not path:
        raise refuse(f"Please upload a {what}.")
    check_file_size(path, what, MAX_FILE_MB)
    try:
        return load_image(path, MAX_PIXELS)
    except ImageError as error:
        raise refuse(f"{what.capitalize()}: {error}") from None


def read_clip(path) -> ClipFacts:
    """What the uploaded clip declares, checked against the page's bounds before any frame is decoded."""
    if not path:
        raise refuse("Please upload a hazy clip.")
    check_file_size(path, "hazy clip", MAX_CLIP_MB)
    try:
        facts = clip_facts(path)
    except VideoError as error:
        raise refuse(f"Hazy clip: {error}") from None
    if facts.seconds and facts.seconds > MAX_CLIP_SECONDS + CLIP_SLACK_SECONDS:
        raise refuse(f"Hazy clip: it lasts {facts.seconds:.0f} s; the limit is {MAX_CLIP_SECONDS} s. Trim it first.")
    if max(facts.width, facts.height) > max(MAX_CLIP_SIZE) or min(facts.width, facts.height) > min(MAX_CLIP_SIZE):
        raise refuse(f"Hazy clip: its frames are {facts.width}x{facts.height}; the limit is "
                     f"{MAX_CLIP_SIZE[0]}x{MAX_CLIP_SIZE[1]} (1080p). Scale it down first.")
    return facts


def frame_progress(facts: ClipFacts, progress):
    """dehaze_video's progress callback: the page's progress bar, and a stop for a clip that runs past the limit
    (its declared duration can be missing or wrong)."""
    limit = (MAX_CLIP_SECONDS + CLIP_SLACK_SECONDS) * facts.frame_rate if facts.frame_rate else None

    def report(done: int, total):
        if limit and done > limit:
            raise refuse(f"Hazy clip: it runs past {MAX_CLIP_SECONDS} s, the limit. Trim it first.")
        progress((done, total), desc="Dehazing frames", unit="frames")

    return report


def check_request(method: str, strength) -> float:
    """The method name checked and the strength in percent turned into dehaze's fraction."""
    if method not in METHODS:
        raise refuse(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 100:
        raise refuse(f"Strength must be a percentage from 0 to 100, not {strength!r}.")
    return float(strength) / 100


def to_preview(image: np.ndarray) -> np.ndarray:
    return to_uint8(fit_within(image, PREVIEW_SIDE))


def run_method(hazy: np.ndarray, upload: str, method: str, strength: float):
    """Full-resolution result of one method; its preview is kept, the full arrays are not."""
    result = dehaze(hazy, METHODS[method], strength=strength)
    transmission = None if result.transmission is None else to_preview(result.transmission)
    PREVIEWS[upload, method, strength] = Preview(to_preview(result.image), transmission)
    while len(PREVIEWS) > PREVIEWS_CACHED:
        PREVIEWS.popitem(last=False)
    return result


def preview_of(hazy: np.ndarray, hazy_path: str, method: str, strength: float) -> Preview:
    """The cached preview of this upload, method and strength, or the method run now."""
    key = (hazy_path, method, strength)
    if key in PREVIEWS:
        PREVIEWS.move_to_end(key)
    else:
        run_method(hazy, hazy_path, method, strength)
    return PREVIEWS[key]


def download_path(upload: str, method: str, suffix: str) -> Path:
    """Where a result is written, named after the upload (`<stem>_dehazed_<method><suffix>`), in a folder of its
    own; our earlier results are removed."""
    for folder in DOWNLOADS.iterdir():
        if time.time() - folder.stat().st_mtime > DOWNLOAD_KEPT_SECONDS:
            shutil.rmtree(folder, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=DOWNLOADS)) / f"{Path(upload).stem}_dehazed_{method.lower()}{suffix}"


def write_download(image: np.ndarray, hazy_path: str, method: str) -> str:
    """The full-resolution result as a file: JPEG (quality 95) for a JPEG upload, else PNG, 16-bit where the
    upload had more than 8 bits."""
    suffix = ".jpg" if Path(hazy_path).suffix.lower() in (".jpg", ".jpeg") else ".png"
    path = download_path(hazy_path, method, suffix)
    save_image(image, path, bit_depth=source_bit_depth(hazy_path) if suffix == ".png" else 8)
    return str(path)


@on_gpu
def dehaze_photo(hazy_photo, method="GAN", strength=100):
    """The chosen method only: a (hazy, dehazed) preview pair and the full-resolution result as a file.

    Args:
        hazy_photo: the photo to dehaze (JPEG, PNG, TIFF, WebP; at most 12 MP and 20 MB)
        method: "GAN", "DCP" or "MSCNN"
        strength: percent of the haze removed, 0 (the photo unchanged) to 100 (the full result)
    """
    fraction = check_request(method, strength)
    hazy = read_image(hazy_photo, "hazy photo")
    result = run_method(hazy, hazy_photo, method, fraction)
    download = write_download(result.image, hazy_photo, method)
    return (to_preview(hazy), PREVIEWS[hazy_photo, method, fraction].image), download


@on_gpu
def dehaze_clip(hazy_clip, method="GAN", strength=100, progress=gr.Progress()):
    """The chosen method over every frame of a clip, without flicker: an H.264 MP4 with the clip's frame rate,
    frame count, rotation and audio.

    Args:
        hazy_clip: the clip to dehaze (MP4, MOV, MKV, WebM, AVI, ...; at most 60 s, 1920x1080 and 100 MB)
        method: "GAN", "DCP" or "MSCNN"
        strength: percent of the haze removed, 0 (the clip unchanged) to 100 (the full result)
    """
    fraction = check_request(method, strength)
    facts = read_clip(hazy_clip)
    destination = download_path(hazy_clip, method, ".mp4")
    try:
        dehaze_video(hazy_clip, destination, METHODS[method], fraction, progress=frame_progress(facts, progress))
    except VideoError as error:
        raise refuse(f"Hazy clip: {error}") from None
    return str(destination)


def name_result_sides(method, strength):
    """Page only: name both sides of the result slider and show the download."""
    return (gr.ImageSlider(label=f"Left: hazy photo · right: {method} at {strength:g}% strength"),
            gr.DownloadButton(visible=True))


@on_gpu
def compare(hazy_photo, method="GAN", ground_truth=None, strength=100, progress=gr.Progress()):
    """The two other methods against the chosen one, DCP and MSCNN transmission maps and, with a
    ground truth, PSNR/SSIM of every method.

    Both uploads are checked before any model runs. Scores are computed at full resolution;
    without a ground truth, previews cached by /dehaze are reused.

    Args:
        hazy_photo: the photo to dehaze
        method: the method the others are shown against: "GAN", "DCP" or "MSCNN"
        ground_truth: optional clear photo of the same scene, same size, for PSNR/SSIM
        strength: percent of the haze removed, 0 to 100
    """
    fraction = check_request(method, strength)
    hazy = read_image(hazy_photo, "hazy photo")
    clear = read_image(ground_truth, "ground truth") if ground_truth else None
    if clear is not None and clear.shape != hazy.shape:
        raise refuse(f"The ground truth is {clear.shape[1]}x{clear.shape[0]} but the hazy photo is "
                     f"{hazy.shape[1]}x{hazy.shape[0]}; upload the clear photo of the same scene at the same size.")
    previews, scores = {}, []
    if clear is not None:
        scores.append(["Hazy input", *score(hazy, clear).values()])
    for done, name in enumerate(METHODS):
        progress(done / len(METHODS), desc=f"Running {name}")
        if clear is None:
            previews[name] = preview_of(hazy, hazy_photo, name, fraction)
        else:
            scores.append([name, *score(run_method(hazy, hazy_photo, name, fraction).image, clear).values()])
            previews[name] = PREVIEWS[hazy_photo, name, fraction]
    pairs = [(previews[other].image, previews[method].image) for other in METHODS if other != method]
    return (*pairs, previews["DCP"].transmission, previews["MSCNN"].transmission,
            [[name, round(p, 2), round(s, 4)] for name, p, s in scores])


def name_compare_sides(method):
    """Page only: name both sides of the comparison sliders."""
    return tuple(gr.ImageSlider(label=f"Left: {other} · right: {method}") for other in METHODS if other != method)


def example_ground_truth(hazy_path: str):
    """The clear partner of the example just picked (`x_hazy.jpg` -> `x_clear.*` in examples/), or
    None for a hazy photo without one; and whether the ground truth now comes from an example."""
    stem = Path(hazy_path).stem
    partners = [path for path in EXAMPLES_DIR.glob(stem.replace("_hazy", "_clear") + ".*")
                if "_hazy" in stem and path.suffix.lower() in IMAGE_SUFFIXES]
    return (str(partners[0]), True) if partners else (None, False)


def forget_example_ground_truth(from_example: bool):
    """A new hazy upload drops an example's ground truth (it belongs to another photo), not the user's own."""
    return (None if from_example else gr.skip()), False


def example_photos() -> list:
    """Every image in examples/ that is not a clear partner, so the lead can add or rename photos freely."""
    return [str(path) for path in sorted(EXAMPLES_DIR.iterdir())
            if path.suffix.lower() in IMAGE_SUFFIXES and "_clear" not in path.stem]


# On a phone the result sits below the controls: bring it into view when Dehaze is pressed (its
# progress shows there) and again once the new result has been laid out (which resets the scroll);
# on a wide screen it is beside the button already and nothing moves.
SCROLL_TO_RESULT = """async (...inputs) => {
    await new Promise(resolve => setTimeout(resolve, 200));
    const result = document.getElementById("result");
    if (result && result.getBoundingClientRect().top > window.innerHeight / 2) {
        result.scrollIntoView({behavior: "smooth", block: "start"});
    }
    return inputs;
}"""
# Badges on a slider's bottom corners name its sides (data-left, data-right, set by the JS below).
NAME_SIDES = """(id, left, right) => {
    const slider = document.getElementById(id);
    if (slider) { slider.dataset.left = left; slider.dataset.right = right; }
}"""
NAME_RESULT_SIDES = f"""async (method, strength) => {{
    ({NAME_SIDES})("result-slider", "Hazy", method + " " + strength + "%");
    return await ({SCROLL_TO_RESULT})(method, strength);
}}"""
NAME_COMPARE_SIDES = f"""(method) => {{
    const others = {list(METHODS)}.filter(name => name !== method);
    ({NAME_SIDES})("slider-a", others[0], method);
    ({NAME_SIDES})("slider-b", others[1], method);
    return [method];
}}"""
# Example thumbnails in one row that scrolls sideways, so the button stays on a phone's first screen.
CSS = """
#examples .gallery { flex-wrap: nowrap; overflow-x: auto; }
#examples .gallery-item .container { width: 68px; height: 51px; }
.named-sides[data-left]::before, .named-sides[data-right]::after {
    position: absolute; bottom: 10px; z-index: 100; padding: 2px 8px; border-radius: 4px;
    background: rgba(0, 0, 0, 0.6); color: #fff; font-size: 13px; pointer-events: none;
}
.named-sides[data-left]::before { content: attr(data-left); left: 10px; }
.named-sides[data-right]::after { content: attr(data-right); right: 10px; }
"""


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="dehaze", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown("### dehaze: remove haze from a photo or a clip\nDrop a photo or pick an example, then press "
                    "**Dehaze**; clips go in the **Video** tab.")
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Photo", elem_id="photo-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=320):
                        hazy = ImageUpload(type="filepath", label="Hazy photo", sources=["upload", "clipboard"],
                                           elem_id="hazy", height=220)
                        examples = gr.Examples(example_photos(), inputs=[hazy], label="Examples (click one)",
                                               examples_per_page=12, cache_examples=False, elem_id="examples")
                        with gr.Row():
                            method = MethodChoice(list(METHODS), value="GAN", label="Method", elem_id="method",
                                                  min_width=200)
                            strength = StrengthSlider(0, 100, value=100, step=1,
                                                      label="Strength (%): 0 keeps the photo", elem_id="strength",
                                                      min_width=200)
                        run = gr.Button("Dehaze", variant="primary", elem_id="run")
                    with gr.Column(scale=1, min_width=320, elem_id="result"):
                        result = gr.ImageSlider(label="Before / after", format="png", interactive=False,
                                                elem_id="result-slider", elem_classes="named-sides", max_height=560)
                        download = gr.DownloadButton("Download full resolution", visible=False, size="md",
                                                     elem_id="download")
                with gr.Accordion("Compare methods, transmission maps and scores", open=False, elem_id="compare"):
                    with gr.Row():
                        clear = ImageUpload(type="filepath", label="Clear ground truth (optional, for PSNR/SSIM)",
                                            sources=["upload"], elem_id="clear", height=200)
                        scores = gr.Dataframe(headers=["", "PSNR (dB)", "SSIM"], label="Scores against the ground truth",
                                              elem_id="scores", interactive=False)
                    compare_button = gr.Button("Compare all methods", elem_id="compare-button")
                    with gr.Row():
                        slider_a = gr.ImageSlider(label="Other method · chosen method", format="png",
                                                  interactive=False, elem_id="slider-a", elem_classes="named-sides")
                        slider_b = gr.ImageSlider(label="Other method · chosen method", format="png",
                                                  interactive=False, elem_id="slider-b", elem_classes="named-sides")
                    with gr.Row():
                        transmission_dcp = gr.Image(label="DCP transmission (dark = dense haze)", format="png",
                                                    interactive=False, elem_id="transmission-dcp")
                        transmission_mscnn = gr.Image(label="MSCNN transmission (dark = dense haze)", format="png",
                                                      interactive=False, elem_id="transmission-mscnn")
            with gr.Tab("Video", elem_id="video-tab"):
                gr.Markdown(f"Clips of up to {MAX_CLIP_SECONDS} s, {MAX_CLIP_SIZE[0]}x{MAX_CLIP_SIZE[1]} and "
                            f"{MAX_CLIP_MB} MB. Every frame is dehazed with one map carried through each shot, "
                            "so nothing flickers; the result is an H.264 MP4 with the clip's sound.")
                with gr.Row():
                    clip = gr.Video(label="Hazy clip", sources=["upload"], include_audio=True, elem_id="clip",
                                    height=320)
                    clip_result = gr.Video(label="Dehazed clip", interactive=False, buttons=["download"],
                                           elem_id="clip-result", height=320)
                with gr.Row():
                    clip_method = MethodChoice(list(METHODS), value="GAN", label="Method", elem_id="clip-method",
                                               min_width=200)
                    clip_strength = StrengthSlider(0, 100, value=100, step=1, label="Strength (%): 0 keeps the clip",
                                                   elem_id="clip-strength", min_width=200)
                clip_run = gr.Button("Dehaze clip", variant="primary", elem_id="clip-run")
        gr.Markdown(ABOUT_METHODS, elem_id="about-methods")
        truth_from_example = gr.State(False)
        examples.load_input_event.then(example_ground_truth, hazy, [clear, truth_from_example],
                                       api_name="example_ground_truth", api_visibility="private", queue=False)
        hazy.upload(forget_example_ground_truth, truth_from_example, [clear, truth_from_example],
                    api_name="forget_example_ground_truth", api_visibility="private", queue=False)
        clear.upload(lambda: False, None, truth_from_example, api_name="own_ground_truth",
                     api_visibility="private", queue=False)
        run.click(dehaze_photo, [hazy, method, strength], [result, download], api_name="dehaze",
                  concurrency_id=MODEL_WORK, concurrency_limit=1, js=SCROLL_TO_RESULT).success(
            name_result_sides, [method, strength], [result, download], js=NAME_RESULT_SIDES,
            api_name="name_result_sides", api_visibility="private", queue=False)
        compare_button.click(compare, [hazy, method, clear, strength],
                             [slider_a, slider_b, transmission_dcp, transmission_mscnn, scores], api_name="compare",
                             concurrency_id=MODEL_WORK, concurrency_limit=1).success(
            name_compare_sides, method, [slider_a, slider_b], js=NAME_COMPARE_SIDES, api_name="name_compare_sides",
            api_visibility="private", queue=False)
        clip_run.click(dehaze_clip, [clip, clip_method, clip_strength], clip_result, api_name="dehaze_video",
                       concurrency_id=MODEL_WORK, concurrency_limit=1)
    return demo.queue(**QUEUE_OPTIONS)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    build_demo().launch(**launch_options())
