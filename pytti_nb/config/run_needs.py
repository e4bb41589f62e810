"""What a render of a plan will need that a machine may lack: each model (on this machine, to be
downloaded, or not to be had now and what to use instead) and each media file (here or not).
Converting a file needs none of them; import-pytti and the studio's Load say what the render
will need."""

from pathlib import Path

from ..errors import PyttiError, shown, shown_path
from ..io.model_folder import cache_dir_of
from ..lang.prompts import MaskKind
from .frame_output import coherence_image
from .run_media import prompt_masks, referenced_files

MAX_FILES = 12  # media files the report names one by one (then how many more, and how many here)
HERE = "on this machine"
LATER = "not downloaded yet: the render downloads it (it needs a network then)"


def render_needs(run_plan) -> list[str]:
    """A line for each model and media file the render reads, saying whether it is here and,
    when not, how to get it or what to use offline."""
    return [*_model_needs(run_plan), *_media_needs(run_plan)]


def missing_needs(run_plan) -> list[str]:
    """The lines of render_needs for what is not on this machine."""
    return [line for line in render_needs(run_plan) if not line.endswith(HERE)]


def _model_needs(run_plan) -> list[str]:
    """A line per model the run loads."""
    s, models = run_plan.settings, run_plan.models
    cache = cache_dir_of(s)
    lines = [_model("perceptor", spec, _perceptor, cache) for spec in models.perceptors]
    for what, name, check in (
        ("vqgan_model", models.vqgan, _vqgan),
        ("depth_model", models.depth, _depth),
        ("flow_model", models.flow, _flow),
    ):
        if name is not None:
            lines.append(_model(what, name, check, cache))
    return lines


def _model(what: str, name: str, check, cache) -> str:
    """One model's line: here, to be downloaded, or why it cannot be had and what to do."""
    try:
        here = check(name, cache)
    except PyttiError as e:  # its message names the model, and says what to do
        text = str(e)
        return text if text.startswith(what) else f"{what}: {text}"
    return f"{what} {shown(name)}: {HERE if here else LATER}"


def _perceptor(spec: str, cache) -> bool:
    """Whether a perceptor's weights are on disk; raises PerceptorError when they cannot be had."""
    from ..perception.specs import check_perceptor_weights, weights_on_disk

    check_perceptor_weights(spec, cache)
    return weights_on_disk(spec, cache)


def _vqgan(spec: str, cache) -> bool:
    """Whether a VQGAN's files are on disk; raises VQGANError when it cannot be had."""
    from ..models.vqgan import check_vqgan_model
    from ..models.vqgan_sources import resolve

    check_vqgan_model(spec, cache)
    source = resolve(spec, cache)
    return source.config.is_file() and source.checkpoint.is_file()


def _depth(spec: str, cache) -> bool:
    """Whether a depth model is on disk; raises DepthModelError when it cannot be had."""
    from ..models import network
    from ..models.depth_config import CONFIG, check_depth_model

    check_depth_model(spec, cache)
    if Path(spec.strip()).expanduser().is_dir():
        return True
    return network.hub_cached_file(spec.strip(), CONFIG, cache) is not None


def _flow(name: str, cache) -> bool:
    """Whether a flow model's weights are on disk (DIS has none); raises FlowModelError when they
    cannot be had."""
    from ..models.flow_weights import check_flow_model, raft_weights_path

    check_flow_model(name, cache)
    return name == "dis" or raft_weights_path(name, cache).is_file()


def _media_needs(run_plan) -> list[str]:
    """A line per media file the run reads, those not here first; past MAX_FILES, a count."""
    lines = [_media(label, path) for label, path in media_files(run_plan)]
    lines.sort(key=lambda line: line.endswith(HERE))  # stable: what to do first
    if len(lines) <= MAX_FILES:
        return lines
    rest = lines[MAX_FILES:]
    here = sum(line.endswith(HERE) for line in rest)
    return [*lines[:MAX_FILES], f"... and {len(rest)} more files ({here} of them {HERE})"]


def media_files(run_plan) -> list[tuple[str, str]]:
    """(label, path) of every image, video and sound file the run reads, each once."""
    s = run_plan.settings
    found = [("init_image", s.init_image)] if s.init_image else []
    if coherence_image(s):
        found.append(("color_coherence", coherence_image(s)))
    if run_plan.target_palette:
        found.append(("target_palette", run_plan.target_palette))
    if s.animation_mode == "Video Source" and s.video_path:
        found.append(("video_path", s.video_path))
    if s.input_audio and s.input_audio_filters:
        found.append(("input_audio", s.input_audio))
    parsed = (run_plan.scenes, run_plan.direct_prompts, run_plan.weights)
    found += [(where, path) for path, where in referenced_files(*parsed)]
    found += [(where, m.path) for m, where in prompt_masks(*parsed) if m.kind is MaskKind.VIDEO]
    seen, out = set(), []
    for label, path in found:
        if path not in seen:
            seen.add(path)
            out.append((label, path))
    return out


def _media(label: str, path: str) -> str:
    """One media file's line: here, or what to do."""
    if "://" in path:
        return (
            f"{label}: {shown(path)} is a URL, which pytti_nb never fetches; download it and "
            "give its path"
        )
    if Path(path).expanduser().is_file():
        return f"{label} {shown_path(path)}: {HERE}"
    return (
        f"{label}: {shown_path(path)} is not on this machine; copy the file here and give its path"
    )
