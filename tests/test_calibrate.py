import shutil

import numpy as np
import pytest
import torch

from dehaze.calibrate import describe, fit, main as calibrate_main, plain_psnr, psnr_after
from dehaze.gan import GlobalCalibration, ResnetGenerator
from dehaze.metrics import psnr
from dehaze.weights import load_model_file, read_metadata, save_weights
from tests.conftest import EXAMPLES


def test_psnr_from_moments_is_the_psnr_of_the_calibrated_output(hazy_pair):
    hazy, clear = hazy_pair[0][:128, :160], hazy_pair[1][:128, :160]
    generator = ResnetGenerator(ngf=8, n_blocks=1, in_channels=6, calibration=True).eval()
    torch.nn.init.normal_(generator.model[-2].weight, std=0.05)
    torch.nn.init.normal_(generator.calibration.mlp[-1].weight, std=0.01)
    features, moments, _ = describe(generator, hazy, clear)
    from dehaze.pipeline import dehaze_gan

    output = dehaze_gan(hazy, generator).image
    assert output.min() > 0 and output.max() < 1  # no clipping, which the moments cannot see
    predicted = psnr_after(generator.calibration, torch.as_tensor(features)[None], torch.as_tensor(moments)[None])
    assert predicted.item() == pytest.approx(psnr(output, clear), abs=1e-3)
    assert predicted.item() != pytest.approx(plain_psnr(moments[None])[0], abs=0.1)  # the head did change it


def biased_outputs(rng, count):
    """Moments of outputs Y = C + b whose per-channel bias b is 0.2 x the first feature: a head must read it."""
    features = rng.normal(size=(count, 12)).astype(np.float32)
    bias = 0.2 * features[:, :1] * np.array([1.0, 0.8, 0.6])
    mean_c, mean_cc = np.full((count, 3), 0.5), np.full((count, 3), 0.3)
    moments = np.stack([mean_c + bias, mean_cc + 2 * bias * mean_c + bias**2, mean_c, mean_cc, mean_cc + bias * mean_c], 1)
    return {"features": features, "moments": moments.astype(np.float32)}


def test_fitted_head_learns_a_bias_that_the_features_predict():
    rng = np.random.default_rng(0)
    train, val = biased_outputs(rng, 512), biased_outputs(rng, 64)
    head = GlobalCalibration(3, 12)
    args = type("Args", (), {"lr": 3e-3, "weight_decay": 0.0, "batch_size": 64, "epochs": 60, "seed": 0})
    before = plain_psnr(val["moments"]).mean()
    best = fit(head, train, val, args)
    assert best > before + 10


def test_calibrate_cli_extends_its_cache_and_exports_a_calibrated_generator(tmp_path, capsys):
    clear = tmp_path / "clear"
    clear.mkdir()
    for path in EXAMPLES.glob("*_clear.jpg"):
        shutil.copy(path, clear)
    val = tmp_path / "val"
    (val / "hazy").mkdir(parents=True)
    shutil.copytree(clear, val / "clear")
    for path in list(clear.iterdir())[:2]:
        shutil.copy(path, val / "hazy" / f"{path.stem}_dense_2.0_0.9.jpg")
    generator = ResnetGenerator(ngf=4, n_blocks=1, in_channels=6)
    init = tmp_path / "generator.safetensors"
    save_weights(generator, init, {"ngf": 4, "n_blocks": 1, "in_channels": 6}, steps=7)
    common = ["--data", str(clear), "--val", str(val), "--init", str(init), "--cache", str(tmp_path / "cache.npz"),
              "--epochs", "2", "--export", str(tmp_path / "calibrated.safetensors")]
    calibrate_main([*common, "--samples", "3"])
    assert "3 samples described" in capsys.readouterr().out
    calibrate_main([*common, "--samples", "4"])
    out = capsys.readouterr().out
    assert "4 samples described" in out and "3 samples described" not in out
    calibrated = load_model_file("gan", tmp_path / "calibrated.safetensors")
    assert calibrated.calibration is not None
    metadata = read_metadata(tmp_path / "calibrated.safetensors")
    assert metadata["steps"] == "7" and metadata["calibration_samples"] == "4"
