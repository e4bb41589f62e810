"""The clock: maps a global step to its scene, animation frame and time, as PyTTI counts them.

    t     = (step - pre_animation_steps) / (steps_per_frame * frames_per_second)   seconds
    frame = (step - pre_animation_steps) // steps_per_frame                        from 0

t follows PyTTI's update_func in every mode, "off" included: a still image with
pre_animation_steps 50 sees t < 0 for its first 50 steps, and t changes at every step, not
only per frame. Both are negative before the animation starts (t) or -1 there (frame): the first
pre_animation_steps steps shape the first image without any warp. In an animation mode a frame
starts at every step where (step - pre) is a multiple of steps_per_frame; the image is warped
just before that step runs. Keyframe schedules read the fractional frame position
(step - pre) / steps_per_frame, so `10:(1)` means "at the tenth animation frame".
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

NO_VARIABLES = MappingProxyType({})


@dataclass(frozen=True)
class StepContext:
    """Everything a step needs to know about when it is."""

    step: int  # global step index, 0-based
    scene: int  # 0-based scene index
    blend: float  # weight of this scene's prompts against the previous scene's (interpolation)
    t: float  # seconds of animation time
    position: float  # fractional animation frame, what keyframe schedules read
    frame: int  # animation frame index, -1 before the animation starts (or without animation)
    frame_start: bool  # an animation frame starts at this step: the image is warped before it
    animating: bool  # the animation has started (an animation mode, and step >= pre)
    variables: Mapping = field(default_factory=lambda: NO_VARIABLES)  # audio bands, by name

    def value(self, time_value) -> float:
        """A TimeValue evaluated at this step."""
        return time_value(self.t, self.position, **self.variables)

    def in_scene(self, index: int) -> float:
        """How much of scene `index` is active at this step: 1, the blend ramp, or 0."""
        if index == self.scene:
            return self.blend
        return 1.0 - self.blend if index == self.scene - 1 else 0.0


@dataclass(frozen=True)
class Clock:
    """The run's time base: scenes of steps_per_scene steps, frames of steps_per_frame steps."""

    scenes: int
    steps_per_scene: int
    steps_per_frame: int
    frames_per_second: float
    pre_animation_steps: int = 0
    animated: bool = False
    interpolation_steps: int = 0
    max_steps: int | None = None  # a Video Source run ends when its video does
    audio: object = None  # media.audio.AudioBands: band values per animation frame

    @classmethod
    def of(cls, settings, scenes: int, max_steps: int | None = None, audio=None) -> "Clock":
        """The clock of a run with these settings and this many scenes."""
        return cls(
            scenes=max(scenes, 1),
            steps_per_scene=settings.steps_per_scene,
            steps_per_frame=settings.steps_per_frame,
            frames_per_second=settings.frames_per_second,
            pre_animation_steps=settings.pre_animation_steps,
            animated=settings.animation_mode != "off",
            interpolation_steps=settings.interpolation_steps,
            max_steps=max_steps,
            audio=audio,
        )

    @property
    def total_steps(self) -> int:
        """Steps in the whole run."""
        steps = self.scenes * self.steps_per_scene
        return steps if self.max_steps is None else min(steps, self.max_steps)

    @property
    def frames(self) -> int:
        """Animation frames the run makes (0 without animation)."""
        if not self.animated or self.total_steps <= self.pre_animation_steps:
            return 0
        return -(-(self.total_steps - self.pre_animation_steps) // self.steps_per_frame)

    def at(self, step: int) -> StepContext:
        """The context of a global step."""
        since = step - self.pre_animation_steps
        animating = self.animated and since >= 0
        frame = since // self.steps_per_frame if animating else -1
        return StepContext(
            step=step,
            scene=self.scene_at(step),
            blend=self.blend_at(step),
            t=since / (self.steps_per_frame * self.frames_per_second),
            position=since / self.steps_per_frame,
            frame=frame,
            frame_start=animating and since % self.steps_per_frame == 0,
            animating=animating,
            variables=self._variables(since),
        )

    def _variables(self, since: int) -> Mapping:
        """The audio bands of the frame a step belongs to (zero before the first frame)."""
        if self.audio is None:
            return NO_VARIABLES
        return self.audio.variables(since // self.steps_per_frame if since >= 0 else -1)

    def scene_at(self, step: int) -> int:
        """Index of the scene a global step belongs to."""
        return min(step // self.steps_per_scene, self.scenes - 1)

    def blend_at(self, step: int) -> float:
        """Weight of the current scene's loss: ramps 0->1 over interpolation_steps (PyTTI)."""
        scene = self.scene_at(step)
        stage_step = step - scene * self.steps_per_scene
        if scene == 0 or stage_step >= self.interpolation_steps:
            return 1.0
        return stage_step / self.interpolation_steps

    def samples(self) -> list[tuple]:
        """(t, position[, variables]) of every step: what checking a time value evaluates."""
        per_second = self.steps_per_frame * self.frames_per_second
        pre, spf = self.pre_animation_steps, self.steps_per_frame
        if self.audio is None:
            return [((i - pre) / per_second, (i - pre) / spf) for i in range(self.total_steps)]
        frames = {}  # one variables mapping per frame, shared by its steps
        out = []
        for i in range(self.total_steps):
            frame = (i - pre) // spf if i >= pre else -1
            if frame not in frames:
                frames[frame] = self._variables(i - pre)
            out.append(((i - pre) / per_second, (i - pre) / spf, frames[frame]))
        return out

    def frame_start_step(self, frame: int) -> int:
        """The step at which animation frame `frame` starts."""
        return self.pre_animation_steps + frame * self.steps_per_frame

    def is_key_frame(self, frame: int, cadence: int) -> bool:
        """Whether the optimiser runs on animation frame `frame` under a cadence: every
        cadence-th frame, each scene's first and the run's last (the rest are warped)."""
        if frame <= 0 or frame % cadence == 0 or frame >= self.frames - 1:
            return True
        before, start = self.frame_start_step(frame - 1), self.frame_start_step(frame)
        return self.scene_at(before) != self.scene_at(start)

    def key_frames(self, cadence: int) -> list[int]:
        """The animation frames the optimiser runs on under a cadence (every one at 1)."""
        return [f for f in range(self.frames) if self.is_key_frame(f, cadence)]
