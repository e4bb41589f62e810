"""The render engine: one optimisation loop that yields snapshots and does no I/O.

for step in range(start, total):
    ctx = clock.at(step)                      1. when this step is: scene, frame, t
    if ctx.frame_start: begin the frame       2. once per animation frame: warp, references
    losses = train_step(ctx)                  3. once per step: decode, cutouts, backward
    if display or save point: yield           4. the caller does every bit of I/O
"""

import dataclasses
import secrets
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..animation.animator import build_animator
from ..config.plan import RunPlan, needs_depth_model, needs_flow_model, plan
from ..config.schema import Settings
from ..config.settings import cache_dir_of, replace, split_changes, to_dict
from ..errors import RenderHalted, SettingsError, shown
from ..image_models import build_image_model
from ..losses.build import build_terms
from ..losses.terms import CutoutTerm, ImageTerm
from ..perception.cutouts import CutoutAugs, make_cutouts
from ..perception.targets import to_tensor
from .assets import load_assets
from .device import pick_device
from .guard import FiniteGuard, finer_split, free_memory, is_out_of_memory
from .optim import build_optimizer, set_learning_rate
from .timing import StageTimer


@dataclass(frozen=True)
class Snapshot:
    """What the loop yields at display and save points; the consumer does all I/O."""

    step: int  # optimisation steps completed
    total_steps: int
    scene: int  # 0-based scene index of the last step
    frame: int  # animation frame of the last step (-1 before the animation, or without one)
    t: float  # seconds of animation time at the last step
    image: np.ndarray  # uint8 HxWx3
    losses: dict  # name -> float, from the last step
    seconds_per_step: float  # wall time per step since the previous snapshot
    save_number: int | None = None  # 1-based number of the saved image at save points
    final: bool = False
    motion: dict = field(default_factory=dict)  # the current frame's motion values
    audio: dict = field(default_factory=dict)  # the current frame's audio bands
    palette: np.ndarray | None = None  # uint8 swatch of a Limited Palette (show_palette)


def with_seed(settings: Settings) -> Settings:
    """Settings with a concrete seed, drawn at random when none is set."""
    return settings if settings.seed is not None else replace(settings, seed=secrets.randbits(62))


class Renderer:
    """Holds one run's image, optimiser, loss terms and RNG; `snapshots()` drives the loop."""

    def __init__(self, run_plan: RunPlan, models, *, resume: dict | None = None):
        """Build everything for a checked plan, loading models from a ModelCache."""
        s = run_plan.settings
        if s.seed is None:
            raise ValueError("Renderer needs a concrete seed: pass with_seed(settings)")
        self.device = pick_device(s.device)
        self.models = models
        self.perceptors = models.perceptors(s)
        self.depth_model = self._load_depth_model(run_plan)
        self.terms = []
        self._install(run_plan, load_assets(run_plan, run_plan.output_size))
        self.animator = build_animator(
            run_plan, self.device, self.depth_model, self._load_flow_model(run_plan)
        )
        self.image = build_image_model(
            s,
            width=run_plan.width,
            height=run_plan.height,
            pixel_size=run_plan.pixel_scale,
            generator=torch.Generator().manual_seed(s.seed),
            device=self.device,
            vqgan=self._load_vqgan(s),
        )
        if run_plan.target_palette:
            self.image.fit_palette(to_tensor(self.assets.rgb[run_plan.target_palette], self.device))
        if self.assets.init is not None:  # the init image, or a Video Source's first frame
            self.image.encode(to_tensor(self.assets.init, self.device))
        self.image.ready()
        self.optimizer = self._new_optimizer()
        self.rng = torch.Generator(device=self.device).manual_seed(s.seed + 1)
        self.guard = FiniteGuard(self.device)
        self.adjustments = []  # what the run changed by itself (finer micro-batches)
        self.step = 0
        self.timer = StageTimer(self.device, enabled=False)  # the benchmark switches it on
        self._pending = None  # (RunPlan, Assets, depth model) from steer(), for the next step
        if resume is not None:
            self.load_state_dict(resume)

    # -- the plan in force ---------------------------------------------------------------

    def _install(self, run_plan, assets):
        """Make a plan current: its settings, images, augmentations and loss terms.

        Terms of a steered plan take over the state of the terms they replace, so a live
        edit keeps, say, the stabilisation reference of the frame being rendered.
        """
        old = {term.name: term for term in self.terms}
        self.plan, self.settings, self.assets = run_plan, run_plan.settings, assets
        s = self.settings
        self.augs = CutoutAugs.of(s)
        self.terms = build_terms(run_plan, self.perceptors, assets, self.device, self.depth_model)
        for term in self.terms:
            if term.name in old:
                term.load_state_dict(old[term.name].state_dict())
        self.image_terms = [t for t in self.terms if isinstance(t, ImageTerm)]
        self.cutout_terms = [t for t in self.terms if isinstance(t, CutoutTerm)]

    @property
    def notes(self) -> list[str]:
        """Things the artist should know about how this run is carried out (a sync)."""
        notes = list(self.animator.notes) if self.animator is not None else []
        skipped = int(self.guard.skipped)
        if skipped:
            notes.append(f"{skipped} step(s) gave non-finite values and were not applied")
        return notes + self.adjustments

    def term(self, name: str):
        """The loss term of that name (e.g. 'prompts'); KeyError when the run has none."""
        for term in self.terms:
            if term.name == name:
                return term
        raise KeyError(f"no loss term {shown(name)}; the run has {[t.name for t in self.terms]}")

    def _load_depth_model(self, run_plan):
        """The depth model, when 3D motion or depth stabilisation needs one (else None)."""
        from ..models.depth import is_flat

        s = run_plan.settings
        if not needs_depth_model(s, run_plan.off) or is_flat(s.depth_model):
            return None
        return self.models.depth(s.depth_model, device=self.device, cache_dir=cache_dir_of(s))

    def _load_flow_model(self, run_plan):
        """The optical flow model of a Video Source run, or of 3D flow stabilisation."""
        s = run_plan.settings
        if not needs_flow_model(s, run_plan.off):
            return None
        return self.models.flow(s.flow_model, device=self.device, cache_dir=cache_dir_of(s))

    def _load_vqgan(self, s):
        """The VQGAN of a VQGAN run (None for the other image models)."""
        if s.image_model != "VQGAN":
            return None
        return self.models.vqgan(s.vqgan_model, device=self.device, cache_dir=cache_dir_of(s))

    def _new_optimizer(self):
        """A fresh optimiser (the `optimizer` setting) over the image's parameter groups."""
        return build_optimizer(self.settings.optimizer, self.image, self._learning_rate())

    def _learning_rate(self) -> float:
        """The learning rate setting, or the image model's default."""
        return self.settings.learning_rate or self.image.default_lr

    # -- live steering -------------------------------------------------------------------

    def steer(self, settings: Settings) -> None:
        """Validate new settings now and apply them before the next step.

        Checking and reading new image files happen here, in the caller's turn; the loop
        only swaps the prepared plan in.
        """
        now = self.settings.gradient_accumulation_steps
        if settings.cutouts == self.settings.cutouts and settings.gradient_accumulation_steps < now:
            # an edit sent from settings shown before an out-of-memory split keeps the split
            settings = replace(settings, gradient_accumulation_steps=now)
        _, fixed = split_changes(self.settings, settings)
        if fixed:
            raise SettingsError(
                [f"{k}: cannot change during a render; stop, then start again" for k in fixed]
            )
        new = plan(settings, previous=self.plan)  # raises SettingsError before any change
        if new.total_steps <= self.step:
            raise SettingsError(
                [
                    f"steps_per_scene: the run is already at step {self.step}; "
                    f"the new settings would end at step {new.total_steps}"
                ]
            )
        # a steered-on depth stabilisation needs the depth model: loaded here, not in the loop
        depth_model = self.depth_model or self._load_depth_model(new)
        self._pending = (new, load_assets(new, new.output_size, reuse=self.assets), depth_model)

    def _apply_pending(self) -> None:
        """Swap in a steered plan: new terms (text embeddings are cached), augs and lr."""
        (new, assets, self.depth_model), self._pending = self._pending, None
        self._install(new, assets)
        if self.animator is not None:
            self.animator.steer(new)
        self.image.steer(self.settings)
        set_learning_rate(self.optimizer, self.image, self._learning_rate())

    # -- checkpoint state ----------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue this run exactly, composed of its parts' states.

        A GPU sync point (it copies to the CPU): taken only at save points.
        """
        terms = {term.name: term.state_dict() for term in self.terms}
        return {
            "settings": to_dict(self.settings),
            "step": self.step,
            "image": _to_cpu(self.image.state_dict()),
            "optimizer": _to_cpu(self.optimizer.state_dict()),
            "rng": self.rng.get_state(),
            "terms": _to_cpu({name: state for name, state in terms.items() if state}),
            "animator": self.animator.state_dict() if self.animator is not None else {},
            "guard": self.guard.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a state_dict() taken from a run with the same settings."""
        self.image.load_state_dict(state["image"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.set_state(state["rng"])
        saved = state.get("terms", {})
        for term in self.terms:  # a term saved empty goes back to its empty state
            term.load_state_dict(_to_device(saved.get(term.name, {}), self.device))
        if self.animator is not None:
            self.animator.load_state_dict(state.get("animator", {}))
        self.guard.load_state_dict(state.get("guard", {}))
        self.step = int(state["step"])

    # -- the loop ------------------------------------------------------------------------

    def snapshots(self, should_stop=lambda: False, every_step=False):
        """Run the remaining steps, yielding a Snapshot at display and save points and at the end.

        With every_step, None is yielded after every other step too (no GPU sync), so a UI
        driving the loop can handle clicks and live edits between any two steps.
        """
        last_yield, last_step = time.perf_counter(), self.step
        while self.step < self.plan.total_steps:
            if self._pending is not None:
                self._apply_pending()
            ctx = self.plan.clock.at(self.step)
            if ctx.frame_start and self.animator is not None:
                self.begin_frame(ctx)
            step_losses = self.guarded_step(ctx)
            self.step += 1
            stopping = should_stop()
            s = self.settings
            final = self.step == self.plan.total_steps or stopping
            save = final or (s.save_every > 0 and self.step % s.save_every == 0)
            display = s.display_every > 0 and self.step % s.display_every == 0
            if not (save or display):
                if not self.guard.sync_free:
                    self.guard.check(step_losses)  # free off the GPU: stop at once
                if every_step:
                    yield None
                continue
            self.guard.check(step_losses)  # a sync, as every display point is
            now = time.perf_counter()
            per_step = (now - last_yield) / max(self.step - last_step, 1)
            last_yield, last_step = now, self.step
            yield self._snapshot(ctx, step_losses, per_step, save, final)
            if stopping:
                return

    def begin_frame(self, ctx) -> None:
        """Once per animation frame: warp the image into the new frame, set the references."""
        if self.settings.reset_lr_each_frame:
            self.optimizer = self._new_optimizer()  # PyTTI: fresh moments every frame
        refs = self.animator.begin_frame(self.image, self.optimizer, ctx, self.timer)
        with self.timer("frame_references"):
            for term in self.terms:
                term.on_frame(refs, ctx)

    def _snapshot(self, ctx, step_losses, per_step, save, final) -> Snapshot:
        """Package the current image and losses: the display point, where the GPU syncs."""
        image = _to_uint8(self.image.display())
        swatch = self.image.swatch() if self.settings.show_palette else None
        # this is a GPU sync point: only at display and save points
        loss_values = {k: float(v) for k, v in step_losses.items()}
        return Snapshot(
            step=self.step,
            total_steps=self.plan.total_steps,
            scene=ctx.scene,
            frame=ctx.frame,
            t=ctx.t,
            image=image,
            losses=loss_values,
            seconds_per_step=per_step,
            save_number=self._save_number() if save else None,
            final=final,
            motion=dict(self.animator.values) if self.animator is not None else {},
            audio=self.plan.audio.at(ctx.frame) if self.plan.audio is not None else {},
            palette=_to_uint8(swatch) if swatch is not None else None,
        )

    def _save_number(self) -> int:
        """1-based number of the saved image: PyTTI's ceil(step / save_every), last included."""
        every = self.settings.save_every or self.plan.total_steps
        return -(-self.step // every)

    def guarded_step(self, ctx) -> dict:
        """train_step; out of device memory, retried from the same random state with the
        cutouts in more micro-batches (the step had changed nothing yet)."""
        rng = self.rng.get_state()
        while True:
            try:
                return self.train_step(ctx)
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
            self.optimizer.zero_grad(set_to_none=True)
            self.rng.set_state(rng)
            free_memory(self.device)
            self._split_finer()

    def _split_finer(self) -> None:
        """Raise gradient_accumulation_steps after running out of memory, or halt the run."""
        s = self.settings
        finer = finer_split(s.cutouts, s.gradient_accumulation_steps)
        if finer is None:
            raise RenderHalted(
                f"out of device memory at step {self.step + 1} with one cutout per perceptor "
                f"batch ({s.cutouts} batches); lower width/height ({self.plan.output_size[0]}x"
                f"{self.plan.output_size[1]} pixels), use smaller perceptors, or precision "
                "bf16/fp16. The checkpoint holds the run up to the step before."
            )
        self.adjustments.append(
            f"out of device memory at step {self.step + 1}: gradient_accumulation_steps "
            f"raised from {s.gradient_accumulation_steps} to {finer}"
        )
        new = replace(s, gradient_accumulation_steps=finer)
        self.plan = dataclasses.replace(self.plan, settings=new)
        self.settings = new

    def train_step(self, ctx) -> dict:
        """One optimisation step at ctx; returns detached loss tensors by name (no sync)."""
        with self.timer("decode"):
            z = self.image.decode()  # [1,3,H,W]
        z_leaf = z.detach().requires_grad_()  # perceptor micro-batches backprop into this
        values = self._cutout_losses(z_leaf, ctx)
        with self.timer("loss"):
            pixel = {}
            for term in self.image_terms:
                loss = term.loss(z, ctx)
                if loss is not None:
                    pixel[term.name] = loss
            pixel.update(self.image.regularizers())
            pixel_total = sum(pixel.values(), z.new_zeros(()))
        with self.timer("decode_backward"):
            # one backward through the decoder, however many perceptor micro-batches ran
            roots, grads = [z], [z_leaf.grad]
            if pixel_total.requires_grad:
                roots.append(pixel_total)
                grads.append(None)
            torch.autograd.backward(roots, grads)
        values.update({k: v.detach() for k, v in pixel.items()})
        values["total"] = sum(values.values(), z.new_zeros(()))
        with self.timer("optimizer"):
            self.guard.step(self.optimizer, self.image, values["total"])
            self.optimizer.zero_grad(set_to_none=True)
        return values

    def cutouts(self, image, n: int, perceptor):
        """n random augmented cutouts of the image at the perceptor's input size."""
        s = self.settings
        return make_cutouts(
            image,
            n,
            perceptor.input_size,
            cut_pow=s.cut_pow,
            border=s.cutout_border,
            border_mode=s.border_mode,
            augs=self.augs,
            generator=self.rng,
        )

    def _cutout_losses(self, z_leaf, ctx) -> dict:
        """Every cutout term of every perceptor, backpropagated into z_leaf in micro-batches."""
        s = self.settings
        n_micro = s.gradient_accumulation_steps
        per_micro = s.cutouts // n_micro
        scale = 1.0 / (n_micro * len(self.perceptors))
        totals = {}
        for perceptor in self.perceptors:
            for _ in range(n_micro):
                with self.timer("cutouts"):
                    cuts = self.cutouts(z_leaf, per_micro, perceptor)
                with self.timer("perceptor_forward"):
                    emb = perceptor.encode_image(cuts.images)  # [n,d]
                with self.timer("loss"):
                    parts = {}
                    for term in self.cutout_terms:
                        loss = term.loss(perceptor, emb, cuts, ctx)
                        if loss is not None:
                            parts[term.name] = loss * scale
                    loss = sum(parts.values(), emb.new_zeros(()))
                with self.timer("backward"):
                    if loss.requires_grad:
                        loss.backward()
                for name, part in parts.items():
                    totals[name] = totals.get(name, 0.0) + part.detach()
        if z_leaf.grad is None:
            z_leaf.grad = torch.zeros_like(z_leaf)
        return totals


@torch.no_grad()
def _to_uint8(image) -> np.ndarray:
    """A [1,3,H,W] image in [0,1] as uint8 HxWx3 on the CPU (a GPU sync point)."""
    return image[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def _to_cpu(obj):
    """A copy of a nested state with every tensor on the CPU."""
    return _map_tensors(obj, lambda t: t.detach().cpu().clone())


def _to_device(obj, device):
    """A nested state with every tensor moved to `device`."""
    return _map_tensors(obj, lambda t: t.to(device))


def _map_tensors(obj, fn):
    """Apply fn to every tensor inside nested dicts, lists and tuples."""
    if torch.is_tensor(obj):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map_tensors(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map_tensors(v, fn) for v in obj)
    return obj


def render(settings: Settings, models, *, resume: dict | None = None, should_stop=lambda: False):
    """Validate, load and run; yields Snapshots. `settings` must carry a seed (see with_seed)."""
    return Renderer(plan(settings), models, resume=resume).snapshots(should_stop)
