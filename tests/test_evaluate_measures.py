"""The measures of what PSNR does not show: invented structure, colour painted into fog, PSNR over haze density."""

import numpy as np
import pytest

from dehaze.image_io import load_image, resize, save_image
from dehaze.metrics import psnr
from dehaze.scattering import synthesize_haze
from dehaze.training.evaluate import (
    SEED, density_sweep, fog_sky_saturation, format_sweep_table, invented_structure, invented_structure_map, main as evaluate_main,
    pure_fog_sky, sweep_rows,
)
from dehaze.training.haze import HazySample

HEIGHT, WIDTH = 96, 128


def flat_fog(level=0.8, seed=0):
    """Fog with nothing behind it: one grey level, sensor noise, 8-bit rounding."""
    fog = level + np.random.default_rng(seed).normal(0.0, 0.01, (HEIGHT, WIDTH, 3))
    return (np.round(np.clip(fog, 0, 1) * 255) / 255).astype(np.float32)


def smooth_scene(seed=0, cells=6):
    """A clear scene of soft colour regions in [0, 1]."""
    coarse = np.random.default_rng(seed).random((cells, cells, 3)).astype(np.float32)
    return resize(coarse, WIDTH, HEIGHT)


def test_outputs_that_only_remove_haze_invent_nothing():
    hazy = synthesize_haze(smooth_scene(cells=16), np.full((HEIGHT, WIDTH), 0.1, np.float32), 0.6)  # a faint scene
    mean = hazy.mean(axis=(0, 1))
    stretched = mean + 5.0 * (hazy - mean)  # five times the contrast: haze of t = 0.2 removed, which is allowed
    assert 0.0 <= stretched.min() and stretched.max() <= 1.0
    assert invented_structure(hazy, hazy) == 0.0
    assert invented_structure(hazy, stretched) == 0.0


def test_shapes_painted_into_flat_fog_are_invented_where_they_are():
    hazy = flat_fog()
    output = hazy.copy()
    rows, columns = np.mgrid[:HEIGHT, :WIDTH]
    output[(rows - 30) ** 2 + (columns - 25) ** 2 < 15**2] = 0.35  # a dark cloud
    output[:, 64:] += 0.12 * np.where(columns[:, 64:] // 2 % 2, 1, -1)[:, :, None]  # stripes over the right half
    invented = invented_structure_map(hazy, output)
    assert invented.dtype == bool and invented.shape == (384, 512)  # measured at 512 px on the longer side
    assert invented[:, 270:].mean() > 0.95  # the stripes
    assert invented[:, 190:240].mean() < 0.01  # flat fog between them and the cloud
    assert invented[120, 160] and not invented[120, 100]  # the cloud's edge; its flat inside shows no structure
    assert invented_structure(hazy, output) > 0.5
    assert invented_structure(hazy, np.clip(hazy + 0.01 * (output - hazy), 0, 1)) == 0.0  # the same shapes, faint


def sky_over_land(sky_colour, land_colour=(0.25, 0.55, 0.1)):
    """An output with a sky of `sky_colour` over the top half and green land below, and the sky's mask."""
    image = np.empty((HEIGHT, WIDTH, 3), np.float32)
    sky = np.zeros((HEIGHT, WIDTH), bool)
    sky[: HEIGHT // 2] = True
    image[sky], image[~sky] = sky_colour, land_colour
    return image, sky


def test_fog_sky_saturation_is_zero_for_grey_and_high_for_painted_blue_sky():
    grey = np.repeat(flat_fog()[:, :, :1], 3, axis=2)
    assert fog_sky_saturation(grey, sky_over_land(0.8)[1]) == 0.0
    blue, sky = sky_over_land((0.55, 0.7, 0.95))
    assert fog_sky_saturation(blue, sky) > 0.4  # (0.95 - 0.55) / 0.95
    # Only the sky counts, off the horizon: the land's green, blurred across it, hardly does
    grey_over_green, sky = sky_over_land((0.8, 0.8, 0.8))
    assert fog_sky_saturation(grey_over_green, sky) < 0.02
    # A faint bluish tint is measured as such, not flattened by the blur
    tinted, sky = sky_over_land((0.76, 0.79, 0.8))
    assert abs(fog_sky_saturation(tinted, sky) - 0.05) < 0.005


def constant_haze(clear, mean_transmission, rng):
    """Homogeneous grey haze with light noise: the synthesizer's signature, without `haze_heldout`."""
    transmission = np.full(clear.shape[:2], mean_transmission, np.float32)
    hazy = synthesize_haze(clear, transmission, 0.85) + rng.normal(0.0, 0.005, clear.shape)
    return HazySample(np.clip(hazy, 0, 1).astype(np.float32), clear, transmission, np.full(3, 0.85, np.float32),
                      0.0, "sweep", None)


def test_sweep_counts_the_images_where_a_method_beats_dcp_beside_its_mean_margin():
    scores = {(0.5, "dcp"): [10.0, 20.0, 12.0], (0.5, "gan"): [19.0, 15.0, 11.0]}  # one big win, two losses
    gan = sweep_rows(scores, (0.5,), ("dcp", "gan"))[1]
    assert gan["over_dcp"] == 1.0 and gan["beats_dcp"] == 1
    assert "+1.00   1/3" in format_sweep_table(sweep_rows(scores, (0.5,), ("dcp", "gan")))


def test_density_sweep_gives_one_row_per_method_and_density(tmp_path):
    photos = []
    for seed in range(2):
        photos.append(tmp_path / f"photo{seed}.png")
        save_image(smooth_scene(seed) * 0.9, photos[-1])
    rows = density_sweep(photos, methods=("dcp", "input"), densities=(0.8, 0.3), synthesize=constant_haze)
    assert [(r["mean_transmission"], r["method"]) for r in rows] == [(0.8, "dcp"), (0.8, "input"), (0.3, "dcp"),
                                                                     (0.3, "input")]
    scores = {(r["mean_transmission"], r["method"]): r for r in rows}
    assert all(r["images"] == 2 for r in rows)
    assert scores[0.3, "input"]["psnr"] < scores[0.8, "input"]["psnr"] - 5  # denser haze, further from the scene
    assert scores[0.8, "dcp"]["over_dcp"] is None and scores[0.8, "dcp"]["beats_dcp"] is None
    assert scores[0.8, "input"]["beats_dcp"] == 0  # DCP removes haze that the input keeps, on both photos
    assert scores[0.3, "input"]["over_dcp"] == scores[0.3, "input"]["psnr"] - scores[0.3, "dcp"]["psnr"]
    reordered = density_sweep(photos, methods=("input",), densities=(0.3, 0.8), synthesize=constant_haze)
    assert {r["mean_transmission"]: r["psnr"] for r in reordered} == {0.3: scores[0.3, "input"]["psnr"],
                                                                      0.8: scores[0.8, "input"]["psnr"]}
    two_seeds = density_sweep(photos, methods=("input",), densities=(0.3,), synthesize=constant_haze, seeds=(0, 1))
    assert two_seeds[0]["images"] == 4 and two_seeds[0]["psnr"] != scores[0.3, "input"]["psnr"]


def half_erased_haze(clear, mean_transmission, rng):
    """`constant_haze` on the right half; the left half at t 0.02, where nothing of the scene can be recovered."""
    sample = constant_haze(clear, mean_transmission, rng)
    transmission = sample.transmission.copy()
    transmission[:, : clear.shape[1] // 2] = 0.02
    hazy = synthesize_haze(clear, transmission, 0.85) + rng.normal(0.0, 0.005, clear.shape)
    return HazySample(np.clip(hazy, 0, 1).astype(np.float32), clear, transmission, sample.airlight, 0.0, "sweep", None)


def test_sweep_scores_reachable_pixels_apart_from_the_erased_ones(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    save_image(smooth_scene(3) * 0.9, photo)
    rows = density_sweep([photo], methods=("dcp", "input"), densities=(0.5,), synthesize=half_erased_haze)
    dcp, hazy = rows
    assert dcp["reachable_share"] == 0.5 and dcp["over_dcp_reachable"] is None
    sample = half_erased_haze(load_image(photo), 0.5, np.random.default_rng([SEED, 0, 500]))
    right = np.zeros(sample.hazy.shape[:2], bool)
    right[:, WIDTH // 2:] = True
    assert hazy["psnr_reachable"] == pytest.approx(psnr(sample.hazy, sample.clear, right))
    assert hazy["psnr_reachable"] > hazy["psnr"] + 3  # the erased half, haze alone, is far from the scene
    assert hazy["over_dcp_reachable"] == hazy["psnr_reachable"] - dcp["psnr_reachable"]
    table = format_sweep_table(rows, reachable=True)
    assert "t >= 0.1" in table and "    50% " in table.splitlines()[1]


def test_real_photo_cli_prints_each_methods_mean_count_and_worst_photo(tmp_path, capsys):
    paths = [tmp_path / "fog_a.png", tmp_path / "fog_b.png"]
    save_image(flat_fog(seed=1), paths[0])
    save_image(synthesize_haze(smooth_scene(), np.full((HEIGHT, WIDTH), 0.3, np.float32), 0.8), paths[1])
    evaluate_main(["--real", *map(str, paths), "--methods", "input", "dcp", "--csv", str(tmp_path / "real.csv")])
    table = capsys.readouterr().out
    assert "2 real photos" in table and "photos > 1%" in table and "worst photo" in table
    assert table.splitlines()[1].split()[:3] == ["input", "0.00%", "0/2"]  # doing nothing invents nothing
    rows = [r.split(",") for r in (tmp_path / "real.csv").read_text().splitlines()]
    assert rows[0] == ["image", "method", "invented"] and len(rows) == 1 + 4 + 2


def test_fog_sky_cli_takes_the_first_photos_with_sky_and_leaves_nothing_of_it(tmp_path, capsys):
    land = smooth_scene(cells=24) * np.array([0.5, 0.6, 0.3], np.float32)
    with_sky = land.copy()
    with_sky[: HEIGHT // 3] = (0.55, 0.7, 0.95)  # a clear blue sky over the top third
    save_image(land, tmp_path / "a_no_sky.png")
    save_image(with_sky, tmp_path / "b_sky.png")
    save_image(with_sky[:, ::-1], tmp_path / "c_sky.png")
    evaluate_main(["--fog-sky", str(tmp_path), "--fog-sky-photos", "1", "--methods", "input", "dcp",
                   "--csv", str(tmp_path / "fog.csv")])
    assert "1 photos with a sky of pure fog" in capsys.readouterr().out
    rows = [r.split(",") for r in (tmp_path / "fog.csv").read_text().splitlines()]
    assert [r[:2] for r in rows[1:3]] == [["b_sky", "input"], ["b_sky", "dcp"]]
    assert float(rows[1][2]) < 0.09  # the fog's own colour, at most the airlight's slight tint
    evaluate_main(["--fog-sky", str(tmp_path), "--fog-sky-photos", "1", "--methods", "input", "--grey-fog"])
    assert "1 photos with a sky of pure grey fog" in capsys.readouterr().out


def test_pure_fog_sky_keeps_nothing_of_the_sky_and_all_of_the_land():
    clear, sky = sky_over_land((0.55, 0.7, 0.95))
    airlight = np.array([0.78, 0.8, 0.86], np.float32)
    hazy = synthesize_haze(clear, np.full((HEIGHT, WIDTH), 0.3, np.float32), airlight)
    sample = HazySample(hazy, clear, np.full((HEIGHT, WIDTH), 0.3, np.float32), airlight, 1.2, "dense", None)
    fogged = pure_fog_sky(sample, sky, np.random.default_rng(0))
    assert np.array_equal(fogged[~sky], hazy[~sky])
    assert np.allclose(fogged[sky].mean(axis=0), airlight, atol=1e-3)  # not the hazed blue sky
    assert 0.008 < fogged[sky].std(axis=0).min() and fogged[sky].std(axis=0).max() < 0.012  # fresh sensor noise
    assert np.allclose(fogged[sky] * 255, np.round(fogged[sky] * 255), atol=1e-3)  # 8-bit
    grey = pure_fog_sky(sample, sky, np.random.default_rng(0), grey=True)  # the fog without the airlight's tint
    assert np.array_equal(grey[~sky], hazy[~sky])
    assert np.allclose(grey[sky].mean(axis=0), airlight.mean(), atol=1e-3)


def test_several_seeds_are_refused_outside_the_sweep(tmp_path, capsys):
    with pytest.raises(SystemExit):
        evaluate_main(["--fog-sky", str(tmp_path), "--seed", "0", "1"])
    assert "several --seed values average a --sweep" in capsys.readouterr().err
