import numpy as np

from dehaze.guided_filter import affine_coefficients, box_filter, guided_filter, lift_to_full_resolution
from dehaze.image_io import resize


def test_box_filter_matches_brute_force_with_clipped_windows():
    values = np.random.default_rng(0).random((17, 12))
    expected = np.array([[values[max(i - 3, 0):i + 4, max(j - 3, 0):j + 4].mean() for j in range(12)] for i in range(17)])
    assert np.allclose(box_filter(values, 3), expected, atol=1e-6)


def test_guided_filter_preserves_edges_of_its_guide():
    guide = np.zeros((60, 60), np.float32)
    guide[:, 30:] = 1.0
    noisy = guide + np.random.default_rng(0).normal(0, 0.05, guide.shape).astype(np.float32)
    filtered = guided_filter(guide, noisy, radius=8, eps=1e-3)
    assert np.abs(filtered - guide).mean() < np.abs(noisy - guide).mean() / 3
    assert filtered[:, 31].mean() - filtered[:, 28].mean() > 0.9  # the step survives


def test_lift_reproduces_an_affine_dehazing_at_full_resolution(clear_photo):
    full = clear_photo
    dehaze_map = lambda image: np.clip(1.4 * image - 0.2, 0, 1)
    small = resize(full, full.shape[1] // 4, full.shape[0] // 4)
    lifted = lift_to_full_resolution(full, small, dehaze_map(small))
    assert lifted.shape == full.shape
    assert np.abs(lifted - dehaze_map(full)).mean() < 0.01


def test_lifting_a_large_image_onto_itself_is_the_identity(clear_photo):
    """Running sums over a 3 MP image must keep window means exact enough for variances of 1e-4."""
    big = resize(clear_photo, 2048, 1536)
    a, b = affine_coefficients(big, big, radius=4, eps=1e-4)
    assert -0.01 < a.min() and a.max() < 1.01
    assert np.abs(lift_to_full_resolution(big, big, big) - big).max() < 0.02
