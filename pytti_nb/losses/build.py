"""Build a run's loss terms from its plan: prompts, init targets, smoothing, direct targets."""

from ..prompts import ALL, DEFAULT_STOP
from ..targets import Target, build_target, embed_image, mask_tensor, to_tensor
from .terms import DirectTarget, ScenePrompts, SemanticInit, Smoothing


def build_terms(run_plan, perceptors, assets, device) -> list:
    """Every loss term of a run, each with its targets embedded (text embeddings are cached)."""
    s, off, seed = run_plan.settings, run_plan.off, run_plan.settings.seed
    schedules = run_plan.schedules
    scenes = [
        [build_target(p, perceptors, assets, device, seed) for p in scene.prompts]
        for scene in run_plan.scenes
    ]
    terms = [ScenePrompts(scenes)]
    init = to_tensor(assets.rgb[s.init_image], device) if s.init_image else None
    if init is not None and "semantic_init_weight" not in off:
        # the init image is already loaded; no prompt string to parse (paths may hold ']')
        embeds = {p: embed_image(p, init, seed) for p in perceptors}
        weight = schedules["semantic_init_weight"]
        terms.append(SemanticInit(Target("semantic init", weight, DEFAULT_STOP, ALL, embeds)))
    if "smoothing_weight" not in off:
        terms.append(Smoothing(schedules["smoothing_weight"]))
    if init is not None and "direct_init_weight" not in off:
        weight = schedules["direct_init_weight"]
        terms.append(DirectTarget("direct_init", init, weight, DEFAULT_STOP, until_animation=True))
    for k, d in enumerate(run_plan.direct_prompts):
        mask = mask_tensor(d.mask, assets, device) if d.mask.kind == "image" else None
        target = to_tensor(assets.rgb[d.path], device)
        terms.append(DirectTarget(f"direct_{k}", target, d.weight, d.stop, mask))
    return terms
