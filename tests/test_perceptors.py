"""Perceptor specs, validation, loading through open_clip, freezing, text caching and errors."""

import json
import socket
import time

import open_clip
import pytest
import torch
from safetensors.torch import save_file

from pytti_nb.errors import PerceptorError
from pytti_nb.models import ModelCache, network
from pytti_nb.perception import perceptors, specs
from pytti_nb.perception.specs import (
    PerceptorSpec,
    check_perceptor_spec,
    parse_perceptor_spec,
)

TEXT = {"context_length": 12, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}
TINY_VIT = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
    "text_cfg": TEXT,
}
TINY_RESNET = {
    "embed_dim": 40,
    "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8, "head_width": 16},
    "text_cfg": TEXT,
}


def _write_local_dir(folder, model_cfg, weights_name, mean):
    """Create a random open_clip model from a config and save it as an open_clip local-dir."""
    folder.mkdir()
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": [mean] * 3, "std": [0.25] * 3}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    model = open_clip.create_model(f"local-dir:{folder}")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if weights_name.endswith(".safetensors"):
        save_file(state, str(folder / weights_name))
    else:
        torch.save(state, folder / weights_name)
    return f"local-dir:{folder}"


@pytest.fixture(scope="module")
def tiny_specs(tmp_path_factory):
    """Two tiny random perceptors (a ViT with safetensors, a ResNet with a .pth) as local-dir specs."""
    root = tmp_path_factory.mktemp("perceptors")
    vit = _write_local_dir(root / "vit", TINY_VIT, "open_clip_model.safetensors", 0.5)
    resnet = _write_local_dir(root / "rn", TINY_RESNET, "weights.pth", 0.4)
    return vit, resnet


@pytest.fixture(scope="module")
def cache():
    """One session cache shared by the loading tests."""
    return ModelCache()


@pytest.mark.parametrize(
    "text, model, pretrained, kind",
    [
        ("ViT-B-32", "ViT-B-32", "openai", "tag"),
        ("ViT-B/32", "ViT-B-32", "openai", "tag"),
        ("ViT-L/14@336px", "ViT-L-14-336", "openai", "tag"),
        (" ViT-B-32@laion2b_s34b_b79k ", "ViT-B-32", "laion2b_s34b_b79k", "tag"),
        ("RN50@/weights/rn50.pt", "RN50", "/weights/rn50.pt", "file"),
        ("RN50@rn50.safetensors", "RN50", "rn50.safetensors", "file"),
        ("hf-hub:timm/ViT-B-16-SigLIP", "hf-hub:timm/ViT-B-16-SigLIP", None, "hf-hub"),
        ("local-dir:/some/folder", "local-dir:/some/folder", None, "local-dir"),
        ("demo", "demo", None, "demo"),
    ],
)
def test_parse_perceptor_spec(text, model, pretrained, kind):
    """Each notation parses to its model, pretrained part and kind."""
    spec = parse_perceptor_spec(text)
    assert spec == PerceptorSpec(model, pretrained)
    assert spec.kind == kind


MALFORMED = ["", "   ", "ViT-B-32@", "@openai", "hf-hub:org/name@tag", "hf-hub:noslash", "hf-hub:"]


@pytest.mark.parametrize("text", MALFORMED)
def test_parse_rejects_malformed_specs(text):
    """Malformed notations raise PerceptorError quoting the spec."""
    with pytest.raises(PerceptorError) as info:
        parse_perceptor_spec(text)
    assert repr(text.strip() or text) in str(info.value) or "hf-hub" in str(info.value)


def no_network_and_no_waiting(monkeypatch):
    """Any network probe, connection or sleep fails the test (nothing may wait on a network)."""
    for target, name in ((network, "reachable"), (socket, "create_connection"), (time, "sleep")):
        monkeypatch.setattr(target, name, lambda *a, _n=name, **k: pytest.fail(f"{_n} called"))
    monkeypatch.setattr(socket.socket, "connect", lambda *a: pytest.fail("connect called"))


def test_check_accepts_known_specs_without_network(monkeypatch, tmp_path):
    """Known tags validate from open_clip's tables alone, without downloading anything."""
    no_network_and_no_waiting(monkeypatch)
    for text in (
        "ViT-B-32@openai",
        "ViT-B/16",
        "RN50@yfcc15m",
        "ViT-L-14@laion2b_s32b_b82k",
        "hf-hub:org/name",
    ):
        check_perceptor_spec(text, cache_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_check_unknown_model_suggests_close_names():
    """An unknown model names the spec and suggests the closest open_clip model."""
    with pytest.raises(PerceptorError) as info:
        check_perceptor_spec("ViT-B-33@openai")
    message = str(info.value)
    assert "'ViT-B-33@openai'" in message and "Did you mean" in message and "'ViT-B-32'" in message
    assert "open_clip.list_models()" in message


def test_check_unknown_tag_lists_the_models_tags():
    """An unknown tag lists the tags open_clip has for that model."""
    with pytest.raises(PerceptorError) as info:
        check_perceptor_spec("ViT-B-32@laion9000")
    message = str(info.value)
    assert "'laion9000'" in message and "openai" in message and "laion2b_s34b_b79k" in message


def test_model_without_openai_weights_needs_a_tag():
    """A bare model name without OpenAI weights asks for MODEL@TAG and lists the tags."""
    assert parse_perceptor_spec("convnext_base_w").pretrained is None
    with pytest.raises(PerceptorError, match="needs a pretrained tag.*laion2b_s13b_b82k"):
        check_perceptor_spec("convnext_base_w")


def test_check_missing_weights_file(tmp_path):
    """A local weights path that does not exist is reported with the path."""
    missing = str(tmp_path / "nope.pt")
    with pytest.raises(PerceptorError, match="does not exist") as info:
        check_perceptor_spec(f"ViT-B-32@{missing}")
    assert missing in str(info.value)


def test_check_local_dir_needs_config_and_weights(tmp_path):
    """A local-dir without open_clip_config.json or weights is rejected."""
    with pytest.raises(PerceptorError, match="open_clip_config.json"):
        check_perceptor_spec(f"local-dir:{tmp_path}")
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_VIT}))
    with pytest.raises(PerceptorError, match="weights file"):
        check_perceptor_spec(f"local-dir:{tmp_path}")


def test_loaded_perceptors_are_frozen_and_sized(cache, tiny_specs):
    """Both tiny models load through open_clip, frozen, in eval mode, with their sizes and mean/std."""
    vit, resnet = (cache.perceptor(s) for s in tiny_specs)
    for perceptor, dim, mean in ((vit, 24, 0.5), (resnet, 40, 0.4)):
        assert not any(p.requires_grad for p in perceptor.model.parameters())
        assert not perceptor.model.training
        assert perceptor.input_size == 32 and perceptor.dtype == torch.float32
        assert perceptor.encode_text(["a red circle"]).shape == (1, dim)
        assert torch.allclose(perceptor.mean, torch.full((1, 3, 1, 1), mean))


def test_cache_loads_each_spec_once(cache, tiny_specs):
    """Asking again for a spec returns the same object; another spec is another object."""
    first = cache.perceptor(tiny_specs[0])
    assert cache.perceptor(tiny_specs[0]) is first
    assert cache.perceptor(tiny_specs[1]) is not first
    assert len(cache) == 2 and cache.kinds() == ["perceptor", "perceptor"]


def test_encode_image_is_differentiable_and_normalised(cache, tiny_specs):
    """Image embeddings are unit fp32 vectors whose gradient reaches the (resized) input pixels."""
    for spec in tiny_specs:
        perceptor = cache.perceptor(spec)
        x = torch.rand(3, 3, 40, 40, requires_grad=True)  # not the input size: resized inside
        emb = perceptor.encode_image(x)
        assert emb.dtype == torch.float32 and emb.shape[0] == 3
        assert torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
        target = perceptor.encode_text(["a blue square"])
        (emb @ target.T).sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0


def test_encode_text_caches_per_string(tiny_specs):
    """The text tower runs only for strings not seen before, and cached results are identical."""
    perceptor = ModelCache().perceptor(tiny_specs[0])
    batches = []
    original = perceptor.model.encode_text
    perceptor.model.encode_text = lambda tokens: batches.append(len(tokens)) or original(tokens)
    first = perceptor.encode_text(["a red circle", "stripes"])
    again = perceptor.encode_text(["stripes", "a red circle", "stripes"])
    assert batches == [2]
    assert torch.equal(again[1], first[0]) and torch.equal(again[0], first[1])
    perceptor.encode_text(["stripes", "a new prompt"])
    assert batches == [2, 1]


def test_low_precision_model_keeps_fp32_interface(tiny_specs):
    """A bf16 perceptor takes and returns fp32, and gradients still reach the input."""
    perceptor = ModelCache().perceptor(tiny_specs[0], precision="bf16")
    assert perceptor.dtype == torch.bfloat16
    assert perceptor.model.visual.conv1.weight.dtype == torch.bfloat16
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    emb = perceptor.encode_image(x)
    assert emb.dtype == torch.float32
    emb.sum().backward()
    assert x.grad.dtype == torch.float32 and x.grad.abs().sum() > 0


def test_offline_download_error_is_fast_and_helpful(tmp_path, monkeypatch):
    """With no network the error says so at once and offers a local file or the demo perceptor."""
    monkeypatch.setattr(specs, "cached_tag_weights", lambda model, tag, cache_dir: None)
    no_network_and_no_waiting(monkeypatch)
    monkeypatch.setattr(network, "reachable", lambda host, **_: False)  # a probe says offline
    with pytest.raises(PerceptorError) as info:  # at once: no connection tried, no retry slept
        ModelCache().perceptor("ViT-B-32@openai", cache_dir=str(tmp_path))
    message = str(info.value)
    assert "could not download weights for 'ViT-B-32@openai' (no network?)" in message
    assert "['ViT-B-32@/path/to/weights.pt']" in message and "['demo']" in message


def test_failed_download_is_reported_with_alternatives(tmp_path, monkeypatch):
    """When the host answers but open_clip's download fails, the same guidance is given."""
    monkeypatch.setattr(network, "reachable", lambda host, **_: True)
    monkeypatch.setattr(specs, "cached_tag_weights", lambda model, tag, cache_dir: None)

    def fail(*args, **kwargs):
        raise RuntimeError("Failed to download weights for tag 'openai': HTTP 404")

    monkeypatch.setattr(open_clip, "create_model", fail)
    with pytest.raises(PerceptorError, match="HTTP 404.*demo"):
        ModelCache().perceptor("RN50@openai", cache_dir=str(tmp_path))


def test_routing_of_tags_and_files_to_open_clip(tmp_path, monkeypatch, tiny_specs):
    """MODEL@FILE passes the file; a cached OpenAI tag loads its file with QuickGELU and its mean/std."""
    calls = []
    tiny = open_clip.create_model(tiny_specs[0])

    def fake(name, pretrained=None, **kwargs):
        calls.append((name, pretrained, kwargs))
        return tiny

    monkeypatch.setattr(open_clip, "create_model", fake)
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    ModelCache().perceptor(f"ViT-B-16@{weights}", precision="fp16")
    name, pretrained, kwargs = calls[-1]
    assert (name, pretrained, kwargs["precision"]) == ("ViT-B-16", str(weights), "fp16")
    assert kwargs["require_pretrained"]

    monkeypatch.setattr(
        specs, "cached_tag_weights", lambda model, tag, cache_dir: "/cache/vit-b-32.bin"
    )
    ModelCache().perceptor("ViT-B-32")
    name, pretrained, kwargs = calls[-1]
    assert (name, pretrained, kwargs["force_quick_gelu"]) == (
        "ViT-B-32",
        "/cache/vit-b-32.bin",
        True,
    )
    assert kwargs["force_preprocess_cfg"]["mean"] == open_clip.OPENAI_DATASET_MEAN


def test_resolve_precision(monkeypatch):
    """auto is fp32 on CPU, bf16 on Ampere+, fp16 on older GPUs; explicit values are honoured."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert perceptors.resolve_precision("auto", cpu) == torch.float32
    assert perceptors.resolve_precision("bf16", cpu) == torch.bfloat16
    assert perceptors.resolve_precision("fp16", cpu) == torch.float16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert perceptors.resolve_precision("auto", cuda) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    assert perceptors.resolve_precision("auto", cuda) == torch.float16
    assert perceptors.resolve_precision("auto", torch.device("mps")) == torch.float16
    with pytest.raises(PerceptorError, match="'fp8'.*'auto', 'fp32', 'fp16', 'bf16'"):
        perceptors.resolve_precision("fp8", cpu)


def test_two_perceptors_render_together(tiny_specs, cache, tmp_path):
    """Two different architectures (ViT from safetensors, ResNet from .pth) steer one image."""
    import numpy as np

    from pytti_nb.config.plan import plan_run
    from pytti_nb.config.settings import from_dict
    from pytti_nb.engine.render import snapshots
    from pytti_nb.engine.session import Session

    def final(specs):
        s = from_dict(
            {
                "scenes": "a red circle",
                "perceptors": list(specs),
                "width": 8,
                "height": 8,
                "pixel_size": 4,
                "cutouts": 4,
                "steps_per_scene": 4,
                "seed": 5,
                "save_every": 0,
                "display_every": 4,
                "device": "cpu",
                "output_root": str(tmp_path),
            }
        )
        r = Session(plan_run(s), cache)
        return r, list(snapshots(r))[-1]

    both, frame = final(tiny_specs)
    assert [p.embed_dim for p in both.perceptors] == [24, 40]
    assert np.isfinite(frame.losses["prompts"])
    alone = [final([spec])[1].image for spec in tiny_specs]
    assert all(not np.array_equal(frame.image, a) for a in alone)


def test_open_clip_tables_are_the_installed_open_clips():
    """Validation reads open_clip's names and tags as the installed open_clip has them, from a
    snapshot of its version (after an upgrade: open_clip_tables.write_tables())."""
    import json

    from pytti_nb.perception import open_clip_tables

    assert open_clip_tables.model_names() == open_clip.list_models()
    tags = open_clip.pretrained.list_pretrained_tags_by_model("ViT-B-32")
    assert open_clip_tables.pretrained_tags("ViT-B-32") == tags
    if open_clip_tables.snapshot_is_current():  # else the tables above came from open_clip itself
        snapshot = json.loads(open_clip_tables.TABLES.read_text())
        assert snapshot == json.loads(json.dumps(open_clip_tables.tables_from_open_clip()))


def test_another_open_clip_version_is_asked_directly(monkeypatch):
    """The snapshot is read only for the open_clip version it was taken from."""
    from pytti_nb.perception import open_clip_tables

    monkeypatch.setattr(open_clip_tables, "_installed_version", lambda: "0.0.1")
    monkeypatch.setattr(open_clip_tables, "tables_from_open_clip", lambda: {"asked": True})
    assert open_clip_tables.tables.__wrapped__() == {"asked": True}


def test_hub_cache_lookup_agrees_with_huggingface_hub(tmp_path):
    """network.hub_cached_file finds what huggingface_hub's try_to_load_from_cache finds: the
    file of the main revision's snapshot, nothing for a file recorded as absent or missing."""
    from huggingface_hub import try_to_load_from_cache

    repo = tmp_path / "models--org--name"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "weights.bin").write_bytes(b"w")
    (repo / "snapshots" / "old").mkdir()
    (repo / "snapshots" / "old" / "stale.bin").write_bytes(b"s")
    (repo / ".no_exist" / "abc123").mkdir(parents=True)
    (repo / ".no_exist" / "abc123" / "absent.bin").write_bytes(b"")
    for repo_id, name in (
        ("org/name", "weights.bin"),
        ("org/name", "stale.bin"),
        ("org/name", "absent.bin"),
        ("org/name", "missing.bin"),
        ("org/other", "weights.bin"),
    ):
        theirs = try_to_load_from_cache(repo_id, name, cache_dir=str(tmp_path))
        ours = network.hub_cached_file(repo_id, name, str(tmp_path))
        assert (str(ours) if ours else None) == (theirs if isinstance(theirs, str) else None)
    assert network.hub_cached_file("org/name", "weights.bin", str(tmp_path)) is not None
