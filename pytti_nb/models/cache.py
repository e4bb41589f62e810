"""One cache for every model a session loads (perceptors, depth, flow and VQGAN models).

Each model is keyed by what was asked for (kind, spec, device, precision, ...) and loaded the
first time it is needed, never before: a 2D run never imports a depth model. The notebook, the
command line and sweeps each keep one ModelCache for the whole session, so a second render
with the same models starts at once.
"""

from collections.abc import Callable, Hashable
from typing import Any

from ..io.model_folder import cache_dir_of


class ModelCache:
    """Loaded models by key; `get` loads on first use."""

    def __init__(self):
        """Start empty."""
        self._loaded: dict[Hashable, Any] = {}

    def __len__(self) -> int:
        """Number of loaded models."""
        return len(self._loaded)

    def kinds(self) -> list[str]:
        """The kind of every loaded model, in load order (e.g. ['perceptor', 'depth'])."""
        return [key[0] for key in self._loaded]

    def get(self, key: tuple, load: Callable[[], Any]) -> Any:
        """The model under `key` (its first item names the kind), calling `load()` the first time."""
        if key not in self._loaded:
            self._loaded[key] = load()
        return self._loaded[key]

    def perceptor(self, spec_text: str, *, device="cpu", precision="auto", cache_dir=None):
        """A frozen perceptor for a spec such as 'ViT-B-32@openai' or 'demo'."""
        import torch

        from ..perception.perceptors import load_perceptor, resolve_precision
        from ..perception.specs import check_perceptor_spec, parse_perceptor_spec

        spec = parse_perceptor_spec(spec_text)
        device = torch.device(device)
        dtype = resolve_precision(precision, device)

        def load():
            check_perceptor_spec(spec_text, cache_dir)
            return load_perceptor(spec, device=device, dtype=dtype, cache_dir=cache_dir)

        return self.get(("perceptor", str(spec), str(device), dtype), load)

    def perceptors(self, settings) -> list:
        """The run's perceptors, in the order the settings list them (loading them: slow)."""
        from ..device import pick_device  # torch: not for validation, which imports this

        device = pick_device(settings.device)
        return [
            self.perceptor(
                spec,
                device=device,
                precision=settings.precision,
                cache_dir=cache_dir_of(settings),
            )
            for spec in settings.perceptors
        ]

    def depth(self, spec: str, *, device="cpu", cache_dir=None):
        """A frozen depth model (models.depth.DepthEstimator) for a depth_model setting."""
        import torch

        from .depth import load_depth_model

        device = torch.device(device)

        def load():
            return load_depth_model(spec, device=device, cache_dir=cache_dir)

        return self.get(("depth", spec.strip(), str(device)), load)

    def flow(self, name: str, *, device="cpu", cache_dir=None):
        """An optical flow estimator (models.flow) for a flow_model setting."""
        import torch

        from .flow import load_flow_model

        device = torch.device(device)

        def load():
            return load_flow_model(name, device=device, cache_dir=cache_dir)

        return self.get(("flow", name, str(device)), load)

    def vqgan(self, spec: str, *, device="cpu", cache_dir=None):
        """A frozen VQGAN (models.vqgan_net.VQGAN) for a vqgan_model setting."""
        import torch

        from .vqgan import load_vqgan_model

        device = torch.device(device)

        def load():
            return load_vqgan_model(spec, device=device, cache_dir=cache_dir)

        return self.get(("vqgan", spec.strip(), str(device)), load)
