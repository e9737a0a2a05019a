import numpy as np
import pytest
import torch

from dehaze.image_io import save_image
from dehaze.training.datasets import PairedFolderDataset, SyntheticHazeDataset, haze_on_device
from dehaze.training.haze_geodesic import geodesic_haze
from dehaze.training.haze_layered import layered_haze


def make_reside(root, clear_photo, hazy_names, clear_name="clear"):
    (root / "hazy").mkdir(parents=True)
    (root / clear_name).mkdir()
    save_image(clear_photo[:64, :64], root / clear_name / "0001.png")
    save_image(clear_photo[64:128, :64], root / clear_name / "0001_b.png")
    for name in hazy_names:
        save_image(clear_photo[:64, :64] * 0.5 + 0.4, root / "hazy" / name)


def test_paired_folder_matches_reside_names(tmp_path, clear_photo):
    make_reside(tmp_path, clear_photo, ["0001_0.8_0.2.png", "0001_b_1_0.9.png"], clear_name="gt")
    dataset = PairedFolderDataset(tmp_path)
    assert [(h.name, c.name) for h, c in dataset.pairs] == [
        ("0001_0.8_0.2.png", "0001.png"), ("0001_b_1_0.9.png", "0001_b.png")]
    name, hazy, clear = dataset[0]
    assert name == "0001_0.8_0.2" and hazy.shape == clear.shape == (64, 64, 3)


def test_paired_folder_reports_missing_ground_truth(tmp_path, clear_photo):
    make_reside(tmp_path, clear_photo, ["0002_0.8_0.2.png"])
    with pytest.raises(FileNotFoundError, match="no clear image for 1 hazy images, e.g. 0002_0.8_0.2.png"):
        PairedFolderDataset(tmp_path)
    with pytest.raises(FileNotFoundError, match="needs a hazy/ folder"):
        PairedFolderDataset(tmp_path / "hazy")


def test_synthetic_haze_uses_known_depth_and_is_reproducible(tmp_path, clear_photo):
    save_image(clear_photo, tmp_path / "photo.png")
    np.save(tmp_path / "photo.npy", np.tile(np.linspace(0, 1, 640, dtype=np.float32), (480, 1)))
    make = lambda: SyntheticHazeDataset(tmp_path, crop_size=64, length=10, scales=(200,), depth_folder=tmp_path)
    dataset = make()
    sample = dataset[3]
    hazy, clear, transmission = sample["hazy"], sample["clear"], sample["transmission"]
    assert hazy.shape == clear.shape == sample["clean_hazy"].shape == (3, 64, 64) and transmission.shape == (1, 64, 64)
    assert sample["airlight"].shape == (3,) and sample["noise"].shape == ()
    assert transmission.std(dim=1).max() < 1e-6  # t = exp(-beta d) of the depth ramp: equal down each column
    assert all(sample[name].equal(again) for name, again in make()[3].items())
    assert not sample["hazy"].equal(dataset[4]["hazy"])


def test_synthetic_haze_can_carry_the_dcp_estimate(tmp_path, clear_photo):
    save_image(clear_photo, tmp_path / "photo.png")
    sample = SyntheticHazeDataset(tmp_path, crop_size=64, length=4, scales=(320,), with_dcp=True)[1]
    assert sample["dcp"].shape == sample["hazy"].shape
    assert sample["dcp"].mean() < sample["hazy"].mean() - 0.05  # DCP takes away the airlight that haze added


def test_dim_share_darkens_haze_and_target_together(tmp_path, clear_photo):
    save_image(clear_photo, tmp_path / "photo.png")
    mean_of = lambda share, item: np.mean([float(SyntheticHazeDataset(
        tmp_path, crop_size=64, length=8, scales=(200,), dim_share=share)[i][item].mean()) for i in range(8)])
    for item in ("hazy", "clear"):  # the hazy input and its clear target, one stop darker at least
        assert mean_of(1.0, item) < 0.8 * mean_of(0.0, item)


def test_device_share_is_hazed_on_the_device_by_the_patchy_synthesizer(tmp_path, clear_photo):
    save_image(clear_photo, tmp_path / "photo.png")
    dataset = SyntheticHazeDataset(tmp_path, crop_size=64, length=8, scales=(200,), device_share=1.0)
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert batch["on_device"].all() and batch["hazy"].equal(batch["clear"])  # left clear for the device
    hazed = haze_on_device(batch, torch.Generator().manual_seed(0))
    assert not hazed["hazy"].equal(hazed["clear"]) and hazed["transmission"].amin() < 0.9
    assert hazed["noise"].min() > 0 and not hazed["airlight"].equal(batch["airlight"])
    assert batch["transmission"].eq(1).all()  # the loader's batch is left as it was


def test_haze_levels_reach_the_device_hazed_samples(tmp_path, clear_photo):
    save_image(clear_photo, tmp_path / "photo.png")
    dataset = SyntheticHazeDataset(tmp_path, crop_size=64, length=8, scales=(200,), device_share=1.0)
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=8)))

    def mean_t(levels):
        return haze_on_device(batch, torch.Generator().manual_seed(0), levels)["transmission"].mean(dim=(1, 2, 3))

    assert mean_t((0.0, 0.0, 1.0)).max() <= 0.3  # all dense: the patchy synthesizer's dense means are 0.12-0.30
    assert mean_t((1.0, 0.0, 0.0)).min() >= 0.95  # all haze-free


def test_device_synthesizers_each_haze_their_draw_of_the_samples(tmp_path, clear_photo):
    save_image(clear_photo, tmp_path / "photo.png")
    dataset = SyntheticHazeDataset(tmp_path, crop_size=64, length=8, scales=(200,), device_share=1.0)
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=8)))
    for name, synthesizer in (("layered", layered_haze), ("geodesic", geodesic_haze)):
        hazed = haze_on_device(batch, torch.Generator().manual_seed(0), synthesizers=(name,))
        assert hazed["hazy"].equal(synthesizer(batch["clear"], torch.Generator().manual_seed(0)).hazy)
    mixed = haze_on_device(batch, torch.Generator().manual_seed(0), synthesizers=("patchy", "layered"))
    assert (mixed["hazy"] != batch["clear"]).flatten(1).any(1).all()  # every sample hazed by one or the other
    with pytest.raises(ValueError, match="device synthesizers"):
        haze_on_device(batch, torch.Generator().manual_seed(0), synthesizers=("fractal",))
