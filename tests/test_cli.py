import shutil

import numpy as np
import pytest

from dehaze import load_image
from dehaze.__main__ import main, same_size_groups
from dehaze.image_io import resize, save_image, to_uint8
from dehaze.pipeline import run_method, run_network_batch
from tests.conftest import EXAMPLES
from tests.test_video import hazy_scene, read_frames, write_clip

HAZY = sorted(EXAMPLES.glob("*_hazy.jpg"))


def test_folders_and_globs_give_one_output_per_readable_input(tmp_path, capsys):
    folder, other = tmp_path / "folder", tmp_path / "other"
    folder.mkdir(), other.mkdir()
    for path in HAZY[:2]:
        shutil.copy(path, folder)
    shutil.copy(HAZY[2], other / "third.jpg")
    (folder / "broken.jpg").write_text("not an image")
    code = main([str(folder), str(other / "*.jpg"), str(tmp_path / "none*.png"),
                 "-o", str(tmp_path / "out"), "--method", "dcp", "--transmission", str(tmp_path / "t")])
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted([f"{p.stem}_dcp.png" for p in HAZY[:2]] + ["third_dcp.png"])
    assert len(list((tmp_path / "t").iterdir())) == 3
    assert load_image(tmp_path / "out" / "third_dcp.png").shape == load_image(HAZY[2]).shape
    errors = capsys.readouterr().err
    assert code == 2 and "broken.jpg is not an image" in errors and "no photos or clips match" in errors
    assert "2 of 5 inputs failed" in errors


def test_strength_zero_writes_the_input_and_bad_strength_is_refused(tmp_path, capsys):
    out = tmp_path / "same.png"
    assert main([str(HAZY[0]), "-o", str(out), "--method", "dcp", "--strength", "0"]) == 0
    assert np.abs(np.rint(load_image(out) * 255) - to_uint8(load_image(HAZY[0]))).max() <= 1
    with pytest.raises(SystemExit) as refused:
        main([str(HAZY[0]), "--strength", "1.5"])
    assert refused.value.code == 2 and "--strength must be between 0 and 1" in capsys.readouterr().err


def test_a_generator_file_that_cannot_be_built_is_one_clear_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "broken.safetensors").write_text("not weights")
    monkeypatch.setenv("DEHAZE_GENERATOR", str(tmp_path / "broken.safetensors"))
    assert main([str(HAZY[0]), "-o", str(tmp_path / "out.png")]) == 2
    assert "error: cannot load the gan weights" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_outputs_never_overwrite_each_other_and_a_folder_takes_one_output(tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(HAZY[0], tmp_path / folder / "photo.jpg")
    out = tmp_path / "out"
    assert main([str(tmp_path / "*" / "photo.jpg"), "-o", str(out), "--method", "dcp"]) == 2
    assert [p.name for p in out.iterdir()] == ["photo_dcp.png"]
    assert "already written for" in capsys.readouterr().err
    assert main([str(tmp_path / "a" / "photo.jpg"), "-o", str(out), "--method", "dcp", "--strength", "0.5"]) == 0
    assert load_image(out / "photo_dcp.png").shape == load_image(HAZY[0]).shape


def test_consecutive_images_of_one_size_are_grouped(tmp_path):
    photo = load_image(HAZY[0])
    sizes = [(64, 48), (64, 48), (48, 64), (64, 48), (64, 48), (64, 48)]
    paths = []
    for index, (width, height) in enumerate(sizes):
        paths.append(tmp_path / f"{index}.png")
        save_image(resize(photo, width, height), paths[-1])
    (tmp_path / "bad.png").write_text("no")
    failed = []
    groups = same_size_groups(paths[:2] + [tmp_path / "bad.png"] + paths[2:], 2, lambda path, error: failed.append(path))
    assert [[path.name for path, _ in group] for group in groups] == [["0.png", "1.png"], ["2.png"], ["3.png", "4.png"], ["5.png"]]
    assert failed == [tmp_path / "bad.png"]


@pytest.mark.parametrize("method", ["gan", "mscnn"])
def test_a_network_batch_gives_what_one_image_at_a_time_gives(method):
    images = [resize(load_image(path), 96, 64) for path in HAZY[:3]]
    for batched, image in zip(run_network_batch(images, method), images):
        single = run_method(image, method)
        assert np.abs(batched.image - single.image).max() < 1e-4
        if method == "mscnn":
            assert np.abs(batched.transmission - single.transmission).max() < 1e-4


def test_a_clip_is_dehazed_into_an_mp4_of_as_many_frames(tmp_path, capsys):
    write_clip(tmp_path / "clip.mp4", [hazy_scene(96, 64)] * 6)
    assert main([str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "clip_dehazed.mp4"), "--method", "dcp"]) == 0
    assert len(read_frames(tmp_path / "clip_dehazed.mp4")) == 6
    assert f"wrote {tmp_path / 'clip_dehazed.mp4'}" in capsys.readouterr().out


def test_a_folder_mixing_photos_and_clips_tells_them_apart_by_content(tmp_path, capsys):
    folder, out = tmp_path / "shots", tmp_path / "out"
    folder.mkdir()
    shutil.copy(HAZY[0], folder / "photo.jpg")
    write_clip(folder / "clip.mov", [hazy_scene(96, 64)] * 4)
    write_clip(folder / "recording.mp4", [hazy_scene(96, 64)] * 4)
    (folder / "recording.mp4").rename(folder / "recording")  # no suffix: a clip all the same
    (folder / "notes.txt").write_text("not a photo, not a clip: left alone")
    (folder / "broken.mp4").write_text("not a clip")
    assert main([str(folder), "-o", str(out), "--method", "dcp"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["clip_dcp.mp4", "photo_dcp.png", "recording_dcp.mp4"]
    assert len(read_frames(out / "recording_dcp.mp4")) == 4
    errors = capsys.readouterr().err
    assert "broken.mp4 is not a video file" in errors and "1 of 4 inputs failed" in errors
