"""A render session: everything one run is made of, built from a checked plan, and its state.

Built once from a RunPlan and a ModelCache: the models the plan needs, its images (assets.py),
the image model (palette fitted, init image encoded), the loss terms, the animator, the
optimiser, the random generator and the finite-step guard. `run_plan` is the one plan in force:
live steering swaps in a plan its caller checked and read the files of, and an out-of-memory
retry replaces it with finer micro-batches. state_dict() is what a checkpoint restores.
"""

import dataclasses

import torch

from ..animation.animator import build_animator
from ..config.plan import RunPlan
from ..config.schema import Settings
from ..config.settings import replace, split_changes, to_dict
from ..device import pick_device
from ..errors import SettingsError, shown
from ..image_models import build_image_model
from ..io.model_folder import cache_dir_of
from ..losses.build import build_terms
from ..losses.terms import CutoutTerm, ImageTerm
from ..perception.cutouts import CutoutAugs
from ..perception.targets import to_tensor
from ..timing import StageTimer
from .assets import Assets, load_assets
from .cadence import Cadence
from .frames import FrameReader
from .guard import FiniteGuard
from .optim import build_optimizer, set_learning_rate


class Session:
    """One run's image, terms, animator, optimiser and RNG; render.snapshots() runs it."""

    def __init__(self, run_plan: RunPlan, models, *, media=None, resume: dict | None = None):
        """Build everything for a checked plan, loading models from a ModelCache. `media` reads
        the frames' videos ahead of the loop (the run layer's; else one of the plan's)."""
        s = run_plan.settings
        if s.seed is None:
            raise ValueError("Session needs a concrete seed: pass with_seed(settings)")
        self.device = pick_device(s.device)
        self.models = models
        self.perceptors = models.perceptors(s)
        self.media = media if media is not None else FrameReader.of(run_plan)
        self.depth_model = self._load_depth_model(run_plan)
        self.terms = []
        assets = load_assets(run_plan, run_plan.output_size)
        self.animator = build_animator(
            run_plan, self.device, self.depth_model, self._load_flow_model(run_plan), assets
        )
        self.image = build_image_model(
            s,
            width=run_plan.width,
            height=run_plan.height,
            pixel_size=run_plan.pixel_scale,
            generator=torch.Generator().manual_seed(s.seed),
            device=self.device,
            vqgan=self._load(models.vqgan, run_plan.models.vqgan, run_plan),
        )
        if run_plan.target_palette:
            self.image.fit_palette(to_tensor(assets.rgb[run_plan.target_palette], self.device))
        if assets.init is not None:  # the init image, or a Video Source's first frame
            self.image.encode(to_tensor(assets.init, self.device))
        self.image.ready()
        self._install(run_plan, assets)  # the terms may encode their targets with the image model
        self.optimizer = self.new_optimizer()
        self.rng = torch.Generator(device=self.device).manual_seed(s.seed + 1)
        self.guard = FiniteGuard(self.device)
        self.adjustments = []  # what the run changed by itself (finer micro-batches)
        self.step = 0
        self.cadence = Cadence.of(s)  # None unless only every Nth frame is optimised
        self.timer = StageTimer(self.device, enabled=False)  # the benchmark switches it on
        self._pending = None  # (RunPlan, Assets, depth model) from steer(), for the next step
        if resume is not None:
            self.load_state_dict(resume)

    @property
    def settings(self) -> Settings:
        """The settings in force: those of the plan in force."""
        return self.run_plan.settings

    # -- the plan in force ---------------------------------------------------------------

    def _install(self, run_plan, assets):
        """Make a plan current: its settings, images, augmentations and loss terms.

        Terms of a steered plan take over the state of the terms they replace, so a live
        edit keeps, say, the stabilisation reference of the frame being rendered.
        """
        old = {term.name: term for term in self.terms}
        self.run_plan, self.assets = run_plan, assets
        self.augs = CutoutAugs.of(run_plan.settings)
        self.terms = build_terms(
            run_plan, self.perceptors, assets, self.device, self.depth_model, self.image
        )
        for term in self.terms:
            if term.name in old:
                term.load_state_dict(old[term.name].state_dict())
        self.image_terms = [t for t in self.terms if isinstance(t, ImageTerm)]
        self.cutout_terms = [t for t in self.terms if isinstance(t, CutoutTerm)]

    def adjust(self, settings: Settings, note: str) -> None:
        """Carry on under settings the run chose by itself (finer micro-batches), noted."""
        self.adjustments.append(note)
        self.run_plan = dataclasses.replace(self.run_plan, settings=settings)

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
        return self._load(self.models.depth, run_plan.models.depth, run_plan)

    def _load_flow_model(self, run_plan):
        """The optical flow model of a Video Source run, or of 3D flow stabilisation."""
        return self._load(self.models.flow, run_plan.models.flow, run_plan)

    def _load(self, load, name, run_plan):
        """A model the plan names from the ModelCache (None where the plan needs none)."""
        if name is None:
            return None
        return load(name, device=self.device, cache_dir=cache_dir_of(run_plan.settings))

    def new_optimizer(self):
        """A fresh optimiser (the `optimizer` setting) over the image's parameter groups."""
        return build_optimizer(self.settings.optimizer, self.image, self._learning_rate())

    def _learning_rate(self) -> float:
        """The learning rate setting, or the image model's default."""
        return self.settings.learning_rate or self.image.default_lr

    # -- live steering: the caller checks the settings and reads their files ---------------

    def steerable(self, settings: Settings) -> Settings:
        """The settings a live edit steers to, or SettingsError when it changes a setting that
        is fixed during a render. An edit sent from settings shown before an out-of-memory
        split keeps the split."""
        now = self.settings.gradient_accumulation_steps
        if settings.cutouts == self.settings.cutouts and settings.gradient_accumulation_steps < now:
            settings = replace(settings, gradient_accumulation_steps=now)
        _, fixed = split_changes(self.settings, settings)
        if fixed:
            raise SettingsError(
                [f"{k}: cannot change during a render; stop, then start again" for k in fixed]
            )
        return settings

    def steer(self, new: RunPlan, assets: Assets) -> None:
        """Apply a checked plan of steerable() settings, whose images the caller has read,
        before the next step (SettingsError, before any change, when the run is past its end)."""
        if new.total_steps <= self.step:
            raise SettingsError(
                [
                    f"steps_per_scene: the run is already at step {self.step}; "
                    f"the new settings would end at step {new.total_steps}"
                ]
            )
        # a steered-on depth stabilisation needs the depth model: loaded here, not in the loop
        depth_model = self.depth_model or self._load_depth_model(new)
        self._pending = (new, assets, depth_model)
        if self.media is None:  # a prompt's first video mask: its frames read from now on
            self.media = FrameReader.of(new)

    def apply_pending(self) -> None:
        """Swap in a steered plan, if one waits: new terms (text embeddings are cached), augs
        and learning rate."""
        if self._pending is None:
            return
        (new, assets, self.depth_model), self._pending = self._pending, None
        self._install(new, assets)
        if self.animator is not None:
            self.animator.steer(new)
        if self.media is not None:
            self.media.steer(new)
        self.image.steer(self.settings)
        set_learning_rate(self.optimizer, self.image, self._learning_rate())

    # -- frames --------------------------------------------------------------------------

    def begin_frame(self, ctx) -> None:
        """Once per animation frame: warp the image into the new frame, set the references
        (the frame's video frames and masks come decoded from the media reader)."""
        if self.settings.reset_lr_each_frame:
            self.optimizer = self.new_optimizer()  # PyTTI: fresh moments every frame
        media = self.media.at(ctx.frame) if self.media is not None else None
        refs = self.animator.begin_frame(self.image, self.optimizer, ctx, self.timer, media)
        with self.timer("frame_references"):
            for term in self.terms:
                term.on_frame(refs, ctx)

    def close(self) -> None:
        """Stop reading the frames' videos (a later frame opens them again)."""
        if self.media is not None:
            self.media.close()

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
            **({"cadence": self.cadence.state_dict()} if self.cadence is not None else {}),
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
        if self.cadence is not None:
            self.cadence.load_state_dict(state.get("cadence", {}), self.device)
        self.step = int(state["step"])


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
