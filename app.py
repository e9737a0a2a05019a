"""Gradio demo and API of the dehaze library.

    python app.py            # then open http://localhost:7860

Endpoints (see README): /dehaze (one method) and /compare (all methods,
before/after sliders, transmission maps, PSNR/SSIM against a ground truth).
"""

from functools import lru_cache
from pathlib import Path

import gradio as gr

from dehaze import ImageError, dehaze, load_image
from dehaze.image_io import to_uint8
from dehaze.metrics import score

try:  # ZeroGPU on Hugging Face Spaces: borrow a GPU for each call
    import spaces

    on_gpu = spaces.GPU
except ImportError:
    on_gpu = lambda function: function

METHODS = {"GAN": "gan", "DCP": "dcp", "MSCNN": "mscnn"}
MAX_PIXELS = 12_000_000
LAUNCH_OPTIONS = {"max_file_size": "20mb"}
QUEUE_OPTIONS = {"max_size": 16, "default_concurrency_limit": 1}
EXAMPLES_DIR = Path(__file__).parent / "examples"


class ImageUpload(gr.Image):
    """An image drop zone that hands the handler the uploaded file's path undecoded, so that
    dehaze's loader, not Gradio's, reads it and explains what is wrong with a bad file."""

    is_template = True  # rendered by the frontend's Image component

    def preprocess(self, payload):
        return None if payload is None else payload.path


def read_image(path, what: str):
    if not path:
        raise gr.Error(f"Please upload a {what}.")
    try:
        return load_image(path, MAX_PIXELS)
    except ImageError as error:
        raise gr.Error(str(error)) from None


@lru_cache(maxsize=2)
def read_hazy(path):
    """The uploaded hazy photo, decoded once for all methods and the scores."""
    return read_image(path, "hazy photo")


@lru_cache(maxsize=6)
def dehaze_file(path: str, method: str):
    """The result of one method on one uploaded file; cached so /compare reuses /dehaze's work."""
    if method not in METHODS:
        raise gr.Error(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    return dehaze(read_hazy(path), METHODS[method])


@on_gpu
def dehaze_one(hazy_path, method="GAN"):
    """Dehaze with one method; returns the dehazed image."""
    return to_uint8(dehaze_file(hazy_path, method).image)


@on_gpu
def compare(hazy_path, clear_path=None, progress=gr.Progress()):
    """Every method on one photo: GAN-vs-baseline sliders, transmission maps, scores against a ground truth."""
    results = {}
    for done, method in enumerate(METHODS):
        progress(done / len(METHODS), desc=f"Running {method}")
        results[method] = dehaze_file(hazy_path, method)
    scores = []
    if clear_path:
        clear = read_image(clear_path, "ground truth")
        outputs = {"Hazy input": read_hazy(hazy_path), **{m: r.image for m, r in results.items()}}
        try:
            scores = [[name, *score(image, clear).values()] for name, image in outputs.items()]
        except ValueError as error:
            raise gr.Error(f"The ground truth must have the hazy photo's size: {error}.") from None
    gan = to_uint8(results["GAN"].image)
    return (
        (to_uint8(results["DCP"].image), gan),
        (to_uint8(results["MSCNN"].image), gan),
        to_uint8(results["DCP"].transmission),
        to_uint8(results["MSCNN"].transmission),
        [[name, round(p, 2), round(s, 4)] for name, p, s in scores],
    )


def example_rows():
    return [[str(hazy), "GAN", str(hazy.with_name(hazy.name.replace("_hazy", "_clear")))]
            for hazy in sorted(EXAMPLES_DIR.glob("*_hazy.jpg"))]


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="dehaze") as demo:
        gr.Markdown(
            "# dehaze\nDrop a hazy photo. A conditional GAN removes the haze; Dark Channel Prior (He et al.) "
            "and MSCNN (Ren et al.) are shown beside it. Add the clear ground truth to score every method."
        )
        with gr.Row():
            with gr.Column():
                hazy = ImageUpload(type="filepath", label="Hazy photo", sources=["upload", "clipboard"], elem_id="hazy")
                method = gr.Radio(list(METHODS), value="GAN", label="Method")
                clear = ImageUpload(type="filepath", label="Clear ground truth (optional)", sources=["upload"])
                run = gr.Button("Dehaze", variant="primary")
            dehazed = gr.Image(label="Dehazed", format="png", interactive=False, elem_id="dehazed")
        with gr.Row():
            slider_dcp = gr.ImageSlider(label="DCP | GAN", format="png", interactive=False, elem_id="slider-dcp")
            slider_mscnn = gr.ImageSlider(label="MSCNN | GAN", format="png", interactive=False, elem_id="slider-mscnn")
        with gr.Row():
            transmission_dcp = gr.Image(label="DCP transmission", format="png", interactive=False)
            transmission_mscnn = gr.Image(label="MSCNN transmission", format="png", interactive=False)
        scores = gr.Dataframe(headers=["", "PSNR (dB)", "SSIM"], label="Scores against the ground truth",
                              interactive=False)
        gr.Examples(example_rows(), inputs=[hazy, method, clear], cache_examples=False)
        run.click(dehaze_one, [hazy, method], dehazed, api_name="dehaze").success(
            compare, [hazy, clear], [slider_dcp, slider_mscnn, transmission_dcp, transmission_mscnn, scores],
            api_name="compare",
        )
    return demo.queue(**QUEUE_OPTIONS)


if __name__ == "__main__":
    build_demo().launch(**LAUNCH_OPTIONS)
