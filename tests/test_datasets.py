import numpy as np
import pytest

from dehaze.datasets import PairedFolderDataset, SyntheticHazeDataset
from dehaze.image_io import save_image


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


def test_synthetic_haze_follows_the_scattering_model_and_is_reproducible(tmp_path, clear_photo):
    save_image(clear_photo, tmp_path / "photo.png")
    np.save(tmp_path / "photo.npy", np.tile(np.linspace(0, 1, 640, dtype=np.float32), (480, 1)))
    dataset = SyntheticHazeDataset(tmp_path, crop_size=64, length=10, scales=(200,), depth_folder=tmp_path)
    hazy, clear, transmission = dataset[3]
    assert hazy.shape == clear.shape == (3, 64, 64) and transmission.shape == (1, 64, 64)
    airlight = (hazy - clear * transmission) / (1 - transmission)
    assert airlight.std() < 0.02  # one grey airlight, I = J t + A (1 - t)
    assert all(a.equal(b) for a, b in zip(dataset[3], SyntheticHazeDataset(
        tmp_path, crop_size=64, length=10, scales=(200,), depth_folder=tmp_path)[3]))
    assert not dataset[3][0].equal(dataset[4][0])


def test_synthetic_haze_can_carry_the_dcp_estimate(tmp_path, clear_photo):
    save_image(clear_photo, tmp_path / "photo.png")
    hazy, clear, _, dcp = SyntheticHazeDataset(tmp_path, crop_size=64, length=4, scales=(320,), with_dcp=True)[1]
    assert dcp.shape == hazy.shape
    error = lambda image: (image - clear).abs().mean()
    assert error(dcp) < error(hazy)
