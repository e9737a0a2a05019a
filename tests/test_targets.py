import torch

from dehaze.gan import compose_scene, linear_to_srgb, srgb_to_linear
from dehaze.training.targets import best_transmission, honest_target, recoverable_share


def hazed(clear, transmission, airlight):
    linear_airlight = srgb_to_linear(airlight)[:, :, None, None]
    return linear_to_srgb(srgb_to_linear(clear) * transmission + linear_airlight * (1 - transmission))


def test_honest_target_keeps_the_clear_photo_where_the_scene_stands_above_the_noise():
    clear = torch.rand(1, 3, 16, 16) * 0.5
    transmission, airlight = torch.full((1, 1, 16, 16), 0.6), torch.tensor([[0.9, 0.9, 0.9]])
    scene, target_transmission, _ = honest_target(clear, hazed(clear, transmission, airlight), transmission, airlight,
                                               noise=torch.tensor([0.005]))
    assert torch.allclose(scene, clear, atol=1e-4) and torch.allclose(target_transmission, transmission)


def test_honest_target_keeps_the_haze_where_the_scene_is_lost_in_noise():
    """A blue sky behind t = 0.02 leaves a trace below the noise: the target is the fog, not the sky."""
    sky = torch.tensor([0.35, 0.55, 0.9])[None, :, None, None].expand(1, 3, 16, 16)
    transmission, airlight = torch.full((1, 1, 16, 16), 0.02), torch.tensor([[0.88, 0.88, 0.88]])
    clean_hazy = hazed(sky, transmission, airlight)
    scene, target_transmission, _ = honest_target(sky, clean_hazy, transmission, airlight, noise=torch.tensor([0.02]))
    assert recoverable_share(clean_hazy, airlight, torch.tensor([0.02])).max() == 0
    assert torch.allclose(scene, clean_hazy, atol=1e-4)
    assert torch.allclose(target_transmission, torch.ones_like(target_transmission))
    # through thinner haze (t = 0.1) and a cleaner camera the sky stands out, and the target is the sky again
    thinner = torch.full_like(transmission, 0.1)
    scene, _, _ = honest_target(sky, hazed(sky, thinner, airlight), thinner, airlight, noise=torch.tensor([0.004]))
    assert torch.allclose(scene, sky, atol=1e-4)


def test_honest_target_keeps_a_hazy_sky_hazy():
    """The sky has no scene behind the haze: however clearly its trace stands out, the target is the haze there."""
    clear = torch.rand(1, 3, 16, 16) * 0.5
    transmission, airlight = torch.full((1, 1, 16, 16), 0.5), torch.tensor([[0.9, 0.9, 0.9]])
    clean_hazy = hazed(clear, transmission, airlight)
    sky = torch.zeros(1, 1, 16, 16)
    sky[:, :, :8] = 1
    scene, target_transmission, _ = honest_target(clear, clean_hazy, transmission, airlight, torch.tensor([0.002]), sky)
    assert torch.allclose(scene[:, :, :8], clean_hazy[:, :, :8], atol=1e-4)
    assert torch.allclose(scene[:, :, 8:], clear[:, :, 8:], atol=1e-4)
    assert torch.allclose(target_transmission[:, :, :8], torch.ones(1, 1, 8, 16))


def test_a_trace_as_large_as_one_pixels_noise_counts_over_its_window():
    """The trace is a 5 x 5 mean, which carries at most half of a pixel's noise: at one pixel's noise it is partly there."""
    airlight = torch.tensor([[0.8, 0.8, 0.8]])
    noise = torch.tensor([0.02])
    for trace, share in ((0.01, 0.0), (0.02, 0.5), (0.03, 1.0)):
        clean_hazy = (airlight - trace)[:, :, None, None].expand(1, 3, 12, 12)
        assert torch.allclose(recoverable_share(clean_hazy, airlight, noise), torch.tensor(share), atol=1e-4)


def test_best_transmission_is_the_true_one_at_the_true_airlight():
    clear = torch.rand(1, 3, 16, 16)
    transmission = torch.rand(1, 1, 4, 4).mul(0.8).add(0.15).repeat_interleave(4, 2).repeat_interleave(4, 3)
    airlight = torch.tensor([[0.85, 0.87, 0.9]])
    best = best_transmission(hazed(clear, transmission, airlight), clear, airlight, transmission, within=2.0)
    assert torch.allclose(best, transmission, atol=1e-3)


def test_best_transmission_makes_up_for_an_airlight_that_is_off_within_its_bound():
    """At an airlight 10% low the true t leaves haze; the best t composes the scene closer to the clear photo."""
    clear = torch.rand(1, 3, 16, 16) * 0.6
    transmission, airlight = torch.full((1, 1, 16, 16), 0.3), torch.tensor([[0.85, 0.85, 0.85]])
    hazy, low_airlight = hazed(clear, transmission, airlight), airlight * 0.9
    best = best_transmission(hazy, clear, low_airlight, transmission, within=2.0)
    error = {name: (compose_scene(hazy, t, low_airlight) - clear).abs().mean() for name, t in
             (("true", transmission), ("best", best))}
    assert error["best"] < 0.8 * error["true"]
    bounded = best_transmission(hazy, clear, low_airlight, transmission, within=1.05)
    assert torch.all(bounded >= transmission / 1.05 - 1e-6) and torch.all(bounded <= transmission * 1.05 + 1e-6)
    assert (bounded - transmission).abs().max() > 0.01  # it moves as far as it may


def test_best_transmission_never_adds_haze():
    """A target with less contrast than the hazy image would need t above 1: the fit stops at 1."""
    hazy = torch.rand(1, 3, 8, 8)
    best = best_transmission(hazy, torch.full_like(hazy, 0.5), torch.tensor([[0.5, 0.5, 0.5]]),
                             torch.full((1, 1, 8, 8), 0.8), within=2.0)
    assert torch.equal(best, torch.ones(1, 1, 8, 8))
