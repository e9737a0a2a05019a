import subprocess
import sys

import numpy as np
import pytest

from dehaze import ImageError, dehaze, load_image
from dehaze.training.evaluate import main as evaluate_main
from dehaze.image_io import resize, save_image
from dehaze.metrics import psnr
from tests.conftest import EXAMPLES


def test_large_images_are_lifted_to_full_resolution(hazy_pair):
    hazy, clear = hazy_pair[:2]
    big_hazy, big_clear = (resize(image, 1280, 960) for image in (hazy, clear))
    lifted = dehaze(big_hazy, "dcp", working_size=320)
    direct = dehaze(big_hazy, "dcp", working_size=1280)
    assert lifted.image.shape == big_hazy.shape and lifted.transmission.shape == big_hazy.shape[:2]
    assert psnr(lifted.image, direct.image) > 25
    assert psnr(lifted.image, big_clear) > psnr(big_hazy, big_clear) + 3


def test_bad_method_and_bad_image_fail_clearly():
    with pytest.raises(ValueError, match="Unknown method 'sharpen'"):
        dehaze(np.zeros((32, 32, 3), np.float32), "sharpen")
    with pytest.raises(ImageError, match="at least 16"):
        dehaze(np.zeros((1, 1, 3), np.float32), "dcp")


@pytest.mark.parametrize("method", ["gan", "mscnn"])
def test_shipped_models_dehaze_held_out_examples(method):
    """The trained weights in weights/ beat the hazy input on every held-out example pair, by 2 dB on average."""
    gains = []
    for hazy_path in sorted(EXAMPLES.glob("*_hazy.jpg")):
        hazy = load_image(hazy_path)
        clear = load_image(str(hazy_path).replace("_hazy", "_clear"))
        result = dehaze(hazy, method)
        assert result.image.shape == hazy.shape
        gains.append(psnr(result.image, clear) - psnr(hazy, clear))
        assert gains[-1] > 0.5, hazy_path.name
    assert np.mean(gains) > 2


def test_command_line_dehazes_a_file_and_reports_bad_input(tmp_path):
    hazy = EXAMPLES / "mate_Storm_hazy.jpg"
    out, transmission = tmp_path / "out.png", tmp_path / "t.png"
    done = subprocess.run([sys.executable, "-m", "dehaze", str(hazy), "-o", str(out), "--method", "dcp",
                           "--transmission", str(transmission)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert load_image(out).shape == load_image(hazy).shape and transmission.is_file()
    (tmp_path / "bad.jpg").write_text("no")
    done = subprocess.run([sys.executable, "-m", "dehaze", str(tmp_path / "bad.jpg")], capture_output=True, text=True)
    assert done.returncode == 2 and "not an image" in done.stderr


def test_evaluation_cli_reports_levels_wins_and_haze_free_scores(tmp_path, capsys):
    for kind in ("hazy", "clear"):
        (tmp_path / kind).mkdir()
    for hazy_path, level in zip(sorted(EXAMPLES.glob("*_hazy.jpg"))[:2], ("light", "dense")):
        name = hazy_path.name.replace("_hazy.jpg", "")
        save_image(load_image(hazy_path), tmp_path / "hazy" / f"{name}_{level}_1.00_0.90.png")
        save_image(load_image(str(hazy_path).replace("_hazy", "_clear")), tmp_path / "clear" / f"{name}.png")
    evaluate_main([str(tmp_path), "--methods", "input", "dcp", "--csv", str(tmp_path / "scores.csv")])
    table = capsys.readouterr().out
    assert "(2 hazy images" in table and "beats DCP" in table and "haze-free" in table
    rows = [r.split(",") for r in (tmp_path / "scores.csv").read_text().splitlines()]
    assert rows[0] == ["image", "level", "method", "psnr", "ssim", "seconds"]
    assert sorted(r[1] for r in rows[1:9]) == ["dense", "dense", "haze-free", "haze-free", "haze-free", "haze-free",
                                               "light", "light"]
    means = {(r[1], r[2]): float(r[3]) for r in rows if r[0] == "MEAN"}
    assert means[("", "dcp")] > means[("", "input")]
    assert means[("haze-free", "input")] == float("inf") > means[("haze-free", "dcp")]  # the input is the photo itself


def test_a_scattering_generator_file_runs_through_the_pipeline(tmp_path, monkeypatch, hazy_pair):
    """Weights that name the scattering architecture load as one, and dehaze() composes their scene at any size."""
    import shutil

    from dehaze.gan import ResnetGenerator, ScatteringGenerator
    from dehaze.weights import WEIGHTS_DIR, load_model, save_weights

    save_weights(ScatteringGenerator(ngf=8, n_blocks=1), tmp_path / "generator.safetensors",
                 {"ngf": 8, "n_blocks": 1}, architecture="scattering")
    shutil.copy(WEIGHTS_DIR / "mscnn.safetensors", tmp_path)
    monkeypatch.setenv("DEHAZE_WEIGHTS_DIR", str(tmp_path))
    assert isinstance(load_model("gan"), ScatteringGenerator)
    hazy, clear = hazy_pair[:2]
    big = resize(hazy, 900, 675)
    result = dehaze(big, "gan", working_size=256)
    assert result.image.shape == big.shape and 0 <= result.image.min() and result.image.max() <= 1
    # untrained, it is the Dark Channel Prior's scene in linear light: it removes haze
    assert psnr(dehaze(hazy, "gan").image, clear) > psnr(hazy, clear)
    monkeypatch.setenv("DEHAZE_GENERATOR", str(WEIGHTS_DIR / "former" / "generator_resnet.safetensors"))  # by file
    assert isinstance(load_model("gan"), ResnetGenerator)
