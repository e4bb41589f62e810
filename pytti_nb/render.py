"""The render engine: one optimisation loop that yields frames and does no I/O."""

import secrets
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import losses
from .cutouts import CutoutAugs, make_cutouts
from .image_models import build_image_model
from .plan import RunPlan, plan
from .schema import Settings
from .settings import replace, split_changes, to_dict
from .targets import (
    Target,
    build_target,
    embed_image,
    guidance_loss,
    image_to_tensor,
    mask_to_tensor,
)
from .timing import StageTimer

CHECKPOINT_FORMAT = 1


@dataclass
class Frame:
    """What the loop yields at display and save points; the consumer does all I/O."""

    step: int  # optimisation steps completed
    total_steps: int
    scene: int  # 0-based scene index
    t: float  # seconds of animation time
    image: np.ndarray  # uint8 HxWx3
    losses: dict  # name -> float, from the last step
    seconds_per_step: float  # wall time per step since the previous frame
    save_index: int | None = None  # 1-based output frame number at save points, else None
    state: dict | None = None  # full checkpoint state at save points
    final: bool = False
    metadata: dict = field(default_factory=dict)


def pick_device(name: str) -> torch.device:
    """The torch device for a 'device' setting: auto prefers CUDA, then MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    return torch.device(name)


def load_perceptors(settings: Settings, cache) -> list:
    """The run's perceptors from a PerceptorCache (loading them the first time: slow)."""
    device = pick_device(settings.device)
    return [
        cache.get(
            spec,
            device=device,
            precision=settings.precision,
            cache_dir=settings.models_cache_dir or None,
        )
        for spec in settings.perceptors
    ]


def with_seed(settings: Settings) -> Settings:
    """Settings with a concrete seed, drawn at random when none is set."""
    return settings if settings.seed is not None else replace(settings, seed=secrets.randbits(62))


class Renderer:
    """Holds one run's models and state; `frames()` drives the optimisation."""

    def __init__(self, run_plan: RunPlan, perceptors, *, resume: dict | None = None):
        s = run_plan.settings
        if s.seed is None:
            raise ValueError("Renderer needs a concrete seed: pass with_seed(settings)")
        self.plan, self.settings = run_plan, s
        self.device = pick_device(s.device)
        self.perceptors = load_perceptors(s, perceptors)
        self.size = (run_plan.width * s.pixel_size, run_plan.height * s.pixel_size)
        init_gen = torch.Generator().manual_seed(s.seed)
        self.image = build_image_model(
            s.image_model,
            width=run_plan.width,
            height=run_plan.height,
            pixel_size=s.pixel_size,
            generator=init_gen,
            device=self.device,
        )
        self.init = image_to_tensor(s.init_image, self.size, self.device) if s.init_image else None
        if self.init is not None:
            self.image.encode(self.init)
        self.optimizer = torch.optim.Adam(
            self.image.parameters(), lr=s.learning_rate or self.image.default_lr
        )
        self.rng = torch.Generator(device=self.device).manual_seed(s.seed + 1)
        self.augs = CutoutAugs(
            flip=s.cutout_flip,
            rotate=s.cutout_rotate,
            noise=s.cutout_noise,
            color_jitter=s.cutout_color_jitter,
        )
        self.scene_targets = self._build_targets()
        self.direct_targets = self._build_direct_targets()
        self.step = 0
        self.timer = StageTimer(self.device, enabled=False)  # the benchmark switches it on
        self._pending = None  # a RunPlan from steer(), applied before the next step
        if resume is not None:
            self.load_state(resume)

    # -- setup ---------------------------------------------------------------------------

    def _build_targets(self):
        """Per scene, the embedded targets of its prompts (plus semantic init on scene 0)."""
        seed = self.settings.seed
        scenes = [
            [build_target(p, self.perceptors, self.size, self.device, seed) for p in scene.prompts]
            for scene in self.plan.scenes
        ]
        if self.init is not None and "semantic_init_weight" not in self.plan.off:
            # the init image is already loaded; no prompt string to parse (paths may hold ']')
            from .prompts import ALL, DEFAULT_STOP

            embeds = [embed_image(p, self.init, seed) for p in self.perceptors]
            scenes[0].append(
                Target(
                    "semantic init",
                    self.plan.schedules["semantic_init_weight"],
                    DEFAULT_STOP,
                    ALL,
                    embeds,
                )
            )
        return scenes

    def _build_direct_targets(self):
        """(prompt, target image, mask or None) for every direct image prompt."""
        out = []
        for d in self.plan.direct_prompts:
            img = image_to_tensor(d.path, self.size, self.device)
            mask = (
                mask_to_tensor(d.mask.path, d.mask.inverted, self.size, self.device)
                if d.mask.kind == "image"
                else None
            )
            out.append((d, img, mask))
        return out

    # -- live steering -------------------------------------------------------------------

    def steer(self, settings: Settings) -> None:
        """Validate new settings now and apply them before the next step (any thread may call)."""
        _, fixed = split_changes(self.settings, settings)
        if fixed:
            from .errors import SettingsError

            raise SettingsError(
                [f"{k}: cannot change during a render; stop, then start again" for k in fixed]
            )
        new = plan(settings)  # raises SettingsError before anything changes
        if new.total_steps <= self.step:
            from .errors import SettingsError

            raise SettingsError(
                [
                    f"steps_per_scene: the run is already at step {self.step}; "
                    f"the new settings would end at step {new.total_steps}"
                ]
            )
        self._pending = new

    def _apply_pending(self) -> None:
        """Swap in a steered plan: new targets (text embeddings are cached), augs and lr."""
        new, self._pending = self._pending, None
        self.plan, self.settings = new, new.settings
        s = self.settings
        self.augs = CutoutAugs(
            flip=s.cutout_flip,
            rotate=s.cutout_rotate,
            noise=s.cutout_noise,
            color_jitter=s.cutout_color_jitter,
        )
        self.scene_targets = self._build_targets()
        self.direct_targets = self._build_direct_targets()
        for group in self.optimizer.param_groups:
            group["lr"] = s.learning_rate or self.image.default_lr

    # -- checkpoint state ----------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue this run exactly: a GPU sync point (copies to CPU)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "settings": to_dict(self.settings),
            "step": self.step,
            "image": {k: v.detach().cpu() for k, v in self.image.state_dict().items()},
            "optimizer": _to_cpu(self.optimizer.state_dict()),
            "rng": self.rng.get_state(),
        }

    def load_state(self, state: dict) -> None:
        """Restore a state_dict() taken from a run with the same settings."""
        self.image.load_state_dict(state["image"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.set_state(state["rng"])
        self.step = int(state["step"])

    # -- the loop ------------------------------------------------------------------------

    def frames(self, should_stop=lambda: False, every_step=False):
        """Run the remaining steps, yielding a Frame at display and save points and at the end.

        With every_step, None is yielded after every other step too (no GPU sync), so a UI
        driving the loop can handle clicks and live edits between any two steps.
        """
        last_yield, last_step = time.perf_counter(), self.step
        while self.step < self.plan.total_steps:
            if self._pending is not None:
                self._apply_pending()
            s, total = self.settings, self.plan.total_steps
            step_losses = self.train_step()
            self.step += 1
            stopping = should_stop()
            final = self.step == total or stopping
            save = final or (s.save_every > 0 and self.step % s.save_every == 0)
            if not (save or self.step % s.display_every == 0):
                if every_step:
                    yield None
                continue
            now = time.perf_counter()
            per_step = (now - last_yield) / max(self.step - last_step, 1)
            last_yield, last_step = now, self.step
            yield self._frame(step_losses, per_step, save, final)
            if stopping:
                return

    def _frame(self, step_losses, per_step, save, final) -> Frame:
        """Package the current image and losses: the display point, where the GPU syncs."""
        t = self.plan.clock.at(self.step - 1).t
        with torch.no_grad():
            pixels = self.image.decode()[0].clamp(0, 1).mul(255).round().byte()
        image = pixels.permute(1, 2, 0).cpu().numpy()
        # this is a GPU sync point: only at display and save points
        loss_values = {k: float(v) for k, v in step_losses.items()}
        save_index = self._save_index() if save else None
        return Frame(
            step=self.step,
            total_steps=self.plan.total_steps,
            scene=self.plan.clock.scene_at(self.step - 1),
            t=t,
            image=image,
            losses=loss_values,
            seconds_per_step=per_step,
            save_index=save_index,
            state=self.state_dict() if save else None,
            final=final,
        )

    def _save_index(self) -> int:
        """1-based output frame number: PyTTI's ceil(step / save_every), last step included."""
        every = self.settings.save_every or self.plan.total_steps
        return -(-self.step // every)

    def train_step(self) -> dict:
        """One optimisation step at self.step; returns detached loss tensors (no sync)."""
        i = self.step
        ctx = self.plan.clock.at(i)
        t, frame = ctx.t, ctx.position
        with self.timer("decode"):
            z = self.image.decode()  # [1,3,H,W]
        z_leaf = z.detach().requires_grad_()  # perceptor micro-batches backprop into this
        terms = self._clip_terms(z_leaf, i, t, frame)
        with self.timer("loss"):
            extra = self._pixel_terms(z, t, frame)
            extra.update(self.image.regularizers())
            extra_total = sum(extra.values(), z.new_zeros(()))
        with self.timer("backward"):
            # one backward through the decoder, however many perceptor micro-batches ran
            roots, grads = [z], [z_leaf.grad]
            if extra_total.requires_grad:
                roots.append(extra_total)
                grads.append(None)
            torch.autograd.backward(roots, grads)
        with self.timer("optimizer"):
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.image.update()
        terms.update({k: v.detach() for k, v in extra.items()})
        terms["total"] = sum(terms.values(), z.new_zeros(()))
        return terms

    def _clip_terms(self, z_leaf, i, t, frame) -> dict:
        """Prompt losses of every perceptor, backpropagated into z_leaf in micro-batches."""
        s, scene = self.settings, self.plan.clock.scene_at(i)
        blend = self._scene_blend(i)
        n_micro = s.gradient_accumulation_steps
        per_micro = s.cutouts // n_micro
        total = z_leaf.new_zeros(())
        for j, perceptor in enumerate(self.perceptors):
            for _ in range(n_micro):
                with self.timer("cutouts"):
                    cuts = make_cutouts(
                        z_leaf,
                        per_micro,
                        perceptor.input_size,
                        cut_pow=s.cut_pow,
                        border=s.cutout_border,
                        border_mode=s.border_mode,
                        augs=self.augs,
                        generator=self.rng,
                    )
                with self.timer("perceptor_forward"):
                    emb = perceptor.encode_image(cuts.images)  # [n,d]
                with self.timer("loss"):
                    loss = guidance_loss(self.scene_targets[scene], j, emb, cuts, t, frame)
                    if blend < 1:
                        prev = guidance_loss(self.scene_targets[scene - 1], j, emb, cuts, t, frame)
                        loss = blend * loss + (1 - blend) * prev
                    loss = loss / (n_micro * len(self.perceptors))
                with self.timer("backward"):
                    if loss.requires_grad:
                        loss.backward()
                total = total + loss.detach()
        if z_leaf.grad is None:
            z_leaf.grad = torch.zeros_like(z_leaf)
        return {"prompts": total}

    def _scene_blend(self, i) -> float:
        """Weight of the current scene's loss: ramps 0->1 over interpolation_steps (PyTTI)."""
        s, scene = self.settings, self.plan.clock.scene_at(i)
        stage_step = i - scene * s.steps_per_scene
        if scene == 0 or stage_step >= s.interpolation_steps:
            return 1.0
        return stage_step / s.interpolation_steps

    def _pixel_terms(self, z, t, frame) -> dict:
        """Losses on the pixels themselves: smoothing, direct init and direct image prompts."""
        out = {}
        w = self.plan.schedules["smoothing_weight"](t, frame)
        if w:
            out["smoothing"] = w * losses.tv_loss(z)
        w = self.plan.schedules["direct_init_weight"](t, frame)
        if w and self.init is not None:
            out["direct_init"] = w * losses.hsv_mse(z, self.init)
        for k, (d, target, mask) in enumerate(self.direct_targets):
            w = d.weight(t, frame)
            if w == 0:
                continue
            a, b = (z, target) if mask is None else (z * mask, target * mask)
            out[f"direct_{k}"] = losses.stopped(losses.hsv_mse(a, b), w, d.stop(t, frame))
        return out


def _to_cpu(obj):
    """A copy of a nested state with every tensor on the CPU."""
    if torch.is_tensor(obj):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def render(
    settings: Settings, perceptors, *, resume: dict | None = None, should_stop=lambda: False
):
    """Validate, load and run; yields Frames. `settings` must carry a seed (see with_seed)."""
    return Renderer(plan(settings), perceptors, resume=resume).frames(should_stop)
