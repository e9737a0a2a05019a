import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from dehaze.training.datasets import SyntheticHazeDataset
from dehaze.mscnn import MSCNN
from dehaze.training.train import ExponentialMovingAverage, finite_step, main as train_main, set_learning_rate
from dehaze.weights import load_model_file, read_metadata
from tests.conftest import EXAMPLES


@pytest.fixture
def clear_folder(tmp_path):
    folder = tmp_path / "clear"
    folder.mkdir()
    for path in EXAMPLES.glob("*_clear.jpg"):
        shutil.copy(path, folder)
    return folder


def train(model, clear_folder, run, steps, *extra):
    export = run / f"{model}.safetensors"
    train_main([model, "--data", str(clear_folder), "--steps", str(steps), "--batch-size", "2", "--crop-size", "32",
                "--run-dir", str(run), "--export", str(export), "--sample-every", "2", "--checkpoint-every", "2",
                "--workers", "0", *extra])
    return export


def test_gan_training_runs_resumes_and_exports(clear_folder, tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["--ngf", "4", "--n-blocks", "1", "--ndf", "4", "--adv-start", "1", "--global-context"]
    export = train("gan", clear_folder, run, 2, *tiny)
    first = load_file(str(export))
    assert (run / "checkpoint.pt").is_file() and (run / "samples_000002.png").is_file()
    assert read_metadata(export)["steps"] == "2"
    assert json.loads(read_metadata(export)["config"])["global_context"]
    assert "average" in torch.load(run / "checkpoint.pt", weights_only=True)

    export = train("gan", clear_folder, run, 4, *tiny)
    assert "resumed from" in capsys.readouterr().out
    assert read_metadata(export)["steps"] == "4"
    assert any(not torch.equal(first[k], v) for k, v in load_file(str(export)).items())
    generator = load_model_file("gan", export)
    assert generator(torch.zeros(1, 3, 16, 16)).shape == (1, 3, 16, 16)


def test_timed_run_decays_its_rate_over_the_budget_and_keeps_snapshots(clear_folder, tmp_path, capsys):
    run = tmp_path / "run"
    export = train("gan", clear_folder, run, 100_000, "--ngf", "4", "--n-blocks", "1", "--adv-weight", "0",
                   "--minutes", "0.03", "--snapshot-every", "1", "--checkpoint-every", "100000")
    steps = int(read_metadata(export)["steps"])
    assert "time budget of 0.03 min reached" in capsys.readouterr().out and 0 < steps < 100_000
    assert sorted(p.name for p in run.glob("average_*.safetensors"))[0] == "average_000001.safetensors"
    assert len(list(run.glob("average_*.safetensors"))) == steps
    optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
    for done, expected in [(0.0, 1.0), (0.49, 1.0), (0.75, 0.5), (1.0, 0.0), (1.2, 0.0)]:
        set_learning_rate(optimizer, 1.0, done)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(expected)


def test_mscnn_training_lowers_the_transmission_error(clear_folder, tmp_path):
    export = train("mscnn", clear_folder, tmp_path / "run", 60, "--lr", "3e-3")
    samples = [SyntheticHazeDataset(clear_folder, crop_size=64, length=8, seed=99)[i] for i in range(8)]
    hazy, transmission = (torch.stack([sample[name] for sample in samples]) for name in ("hazy", "transmission"))
    torch.manual_seed(0)  # the same initial weights as training's
    error = lambda model: torch.nn.functional.mse_loss(model(hazy)[0], transmission).item()
    with torch.no_grad():
        assert error(load_model_file("mscnn", export)) < 0.9 * error(MSCNN())
    assert read_metadata(export)["loss"].startswith("mse")


def test_gan_trains_on_a_paired_folder(tmp_path, clear_folder):
    root = tmp_path / "reside"
    (root / "hazy").mkdir(parents=True)
    shutil.copytree(clear_folder, root / "clear")
    for path in clear_folder.iterdir():
        shutil.copy(path, root / "hazy" / f"{path.stem}_dense_1.0_0.9.jpg")
    run = tmp_path / "run"
    export = train("gan", root, run, 2, "--paired", "--dcp-prior", "--ngf", "4", "--n-blocks", "1",
                   "--adv-weight", "0", "--val", str(root), "--val-every", "1")
    assert load_model_file("gan", export).in_channels == 6
    # Validation at steps 0, 1 and 2: the score is the mean over hazy images and haze-free photos alike
    rows = [[float(v) for v in line.split(",")] for line in (run / "validation.csv").read_text().splitlines()]
    assert [row[0] for row in rows] == [0, 1, 2]
    for _, score, hazy, haze_free, dense, dense_wins in rows:
        assert score == pytest.approx((hazy + haze_free) / 2, abs=1e-3)  # as many clear photos as hazy images
        assert dense == pytest.approx(hazy, abs=1e-3)  # every image here is named as dense haze
        assert dense_wins in range(len(list(clear_folder.iterdir())) + 1)
    assert float(read_metadata(export)["val_psnr"]) == pytest.approx(max(row[1] for row in rows), abs=1e-3)


def test_scattering_generator_learns_its_transmission_towards_honest_targets(clear_folder, tmp_path):
    run = tmp_path / "run"
    export = train("gan", clear_folder, run, 4, "--architecture", "scattering", "--ngf", "4", "--n-blocks", "1",
                   "--ndf", "4", "--crop-size", "64")
    metadata = read_metadata(export)
    assert metadata["architecture"] == "scattering" and metadata["targets"] == "honest"
    generator = load_model_file("gan", export)
    assert generator.max_airlight_scale == 0.25
    assert generator.min_transmission == 0.05
    tuned = train("gan", clear_folder, tmp_path / "tuned", 2, "--init", str(export), "--max-airlight-scale", "0",
                  "--ceiling-share", "0.25", "--min-transmission", "0.1", "--best-transmission", "1.5")
    assert read_metadata(tuned)["best_transmission"] == "1.5" and read_metadata(export)["best_transmission"] == "None"
    config = json.loads(read_metadata(tuned)["config"])
    assert config["max_airlight_scale"] == 0 and config["ceiling_share"] == 0.25  # given, they hold over --init's config
    assert config["min_transmission"] == 0.1
    assert read_metadata(tuned)["init"] == str(export) and read_metadata(export)["init"] == ""  # where its steps began
    assert load_model_file("gan", tuned).max_airlight_scale == 0 and load_model_file("gan", tuned).ceiling_share == 0.25
    scene, transmission, airlight = generator(torch.rand(1, 3, 40, 56))
    assert scene.shape == (1, 3, 40, 56) and transmission.shape == (1, 1, 40, 56) and airlight.shape == (1, 3)
    assert any(not torch.equal(value, torch.zeros_like(value)) for key, value in load_file(str(export)).items()
               if key.startswith("transmission_head.2"))  # the zero-initialized head has learned


def test_moving_average_warms_up_then_decays_slowly():
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    average = ExponentialMovingAverage(model, decay=0.9)
    torch.nn.init.ones_(model.weight)
    average.update(model, step=0)  # decay (1 + 0) / (10 + 0): the first steps count almost fully
    assert average.model.weight.item() == pytest.approx(0.9)
    average.update(model, step=1000)  # decay 0.9
    assert average.model.weight.item() == pytest.approx(0.91)
    assert not average.model.weight.requires_grad


def test_a_step_with_a_non_finite_loss_or_gradient_is_skipped(capsys):
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    loss = model(torch.tensor([[float("nan"), 1.0]])).sum()
    loss.backward()
    finite_step(optimizer, loss)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())) and "skipped" in capsys.readouterr().out
    optimizer.zero_grad()
    loss = model(torch.tensor([[1.0, 1.0]])).sum()
    loss.backward()
    finite_step(optimizer, loss)
    assert not torch.equal(before[1], model.bias)


@pytest.mark.parametrize("targets, keeps_haze", [("honest", True), ("sky", False), ("clear", False)])
def test_targets_keep_the_haze_only_as_asked(targets, keeps_haze):
    """A scene trace below a loud camera's noise: honest targets keep the haze there; 'sky' and 'clear' do not."""
    from dehaze.training.train import GanTrainer, parse_args

    args = parse_args(["gan", "--data", ".", "--architecture", "scattering", "--ngf", "4", "--n-blocks", "1",
                       "--targets", targets])
    trainer = GanTrainer(args, torch.device("cpu"))
    clear = torch.full((1, 3, 8, 8), 0.5)
    airlight = torch.full((1, 3), 0.8)
    batch = {"clear": clear, "clean_hazy": torch.full((1, 3, 8, 8), 0.75), "transmission": torch.full((1, 1, 8, 8), 0.05),
             "airlight": airlight, "noise": torch.tensor([0.2]), "sky": torch.zeros(1, 1, 8, 8)}
    scene, transmission, known = trainer.targets(batch)
    assert torch.allclose(transmission, torch.full_like(transmission, 1.0 if keeps_haze else 0.05))
    assert torch.equal(known, torch.full_like(known, 0.0 if keeps_haze else 1.0))  # t is taught only where it is known
