"""Our VQGAN loads taming's checkpoints, quantises as PyTTI did, and downloads safely."""

import hashlib
import http.server
import pickle
import sys
import threading
import time
import types
from types import MappingProxyType

import pytest
import torch
import torch.nn.functional as F
import yaml
from vqgan_fixtures import save_taming_checkpoint
from vqgan_training import colour_blocks, tiny_config

from pytti_nb.models import ModelCache, download, network, vqgan_checkpoint, vqgan_sources
from pytti_nb.models.vqgan import build_vqgan, check_vqgan_model, load_vqgan_model
from pytti_nb.models.vqgan_config import TARGET_GUMBEL, TARGET_TRANSFORMER, TARGET_VQ
from pytti_nb.models.vqgan_sources import VQGAN_MODELS, VQGANError, VQGANInfo

pytestmark = pytest.mark.numerics


def taming_config(target=TARGET_VQ, *, n_embed=16, embed_dim=4, ch_mult=(1, 2), size=16, attn=(8,)):
    """A tiny taming config (ch 32: GroupNorm's 32 groups need multiples of 32)."""
    ddconfig = dict(
        double_z=False,
        z_channels=8,
        resolution=size,
        in_channels=3,
        out_ch=3,
        ch=32,
        ch_mult=list(ch_mult),
        num_res_blocks=1,
        attn_resolutions=list(attn),
        dropout=0.0,
    )
    params = {"embed_dim": embed_dim, "n_embed": n_embed, "ddconfig": ddconfig}
    return {"model": {"target": target, "params": params}}


def tiny_vqgan(*, gumbel=False, seed=0, **config):
    """A tiny VQGAN with seeded random weights (Gumbel: embed_dim = z_channels = 8)."""
    torch.manual_seed(seed)
    if gumbel:
        config = {"embed_dim": 8, **config}
    return build_vqgan(taming_config(TARGET_GUMBEL if gumbel else TARGET_VQ, **config)).eval()


def fixed_latent(model, h=4, w=6):
    """The same latent every call."""
    return torch.randn(1, model.e_dim, h, w, generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("target", [TARGET_VQ, TARGET_GUMBEL, TARGET_TRANSFORMER])
def test_a_taming_checkpoint_of_each_target_loads_bit_for_bit(tmp_path, target):
    model = tiny_vqgan(gumbel=target == TARGET_GUMBEL)
    ckpt, config = tmp_path / "tiny.ckpt", tmp_path / "tiny.yaml"
    save_taming_checkpoint(model, ckpt, config, target=target)
    raw = torch.load(ckpt, weights_only=True)["state_dict"]
    assert any(".loss." in f".{k}" for k in raw)  # taming's files carry the loss's weights...
    if target == TARGET_TRANSFORMER:
        assert yaml.safe_load(config.read_text())["model"]["target"] == TARGET_TRANSFORMER
        assert all(k.startswith("first_stage_model.") or k.startswith("transformer.") for k in raw)

    loaded = load_vqgan_model(str(ckpt), device="cpu")

    assert set(loaded.state_dict()) == set(model.state_dict())  # ...which loading drops
    assert loaded.is_gumbel == (target == TARGET_GUMBEL)
    assert loaded.default_lr == (0.15 if target == TARGET_GUMBEL else 0.1)
    assert (loaded.name, loaded.factor, loaded.n_codes) == ("tiny", 2, 16)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    z = fixed_latent(model)
    with torch.no_grad():
        assert torch.equal(loaded.decode(z), model.decode(z))
        assert torch.equal(loaded.codebook, model.codebook)


def test_a_model_folder_or_its_config_path_names_the_same_model(tmp_path):
    folder = tmp_path / "my-vqgan"
    folder.mkdir()
    model = tiny_vqgan()
    save_taming_checkpoint(model, folder / "last.ckpt", folder / "model.yaml")
    by_folder = load_vqgan_model(str(folder), device="cpu")
    assert by_folder.name == "my-vqgan"
    (folder / "model.yaml").rename(folder / "last.yml")
    by_config = load_vqgan_model(str(folder / "last.yml"), device="cpu")
    z = fixed_latent(model)
    with torch.no_grad():
        assert torch.equal(by_folder.decode(z), by_config.decode(z))


def saved_state(tmp_path, model):
    """The state dict of model's taming checkpoint, and where to save a doctored one."""
    save_taming_checkpoint(model, tmp_path / "m.ckpt", tmp_path / "m.yaml")
    return torch.load(tmp_path / "m.ckpt", weights_only=True)["state_dict"], tmp_path / "m.ckpt"


def test_a_missing_key_is_an_error_naming_it(tmp_path):
    state, ckpt = saved_state(tmp_path, tiny_vqgan())
    del state["decoder.conv_out.bias"]
    torch.save({"state_dict": state}, ckpt)
    with pytest.raises(
        VQGANError, match=r"does not match its config: 1 missing key \(decoder.conv_out.bias\)"
    ):
        load_vqgan_model(str(ckpt), device="cpu")


def test_an_unexpected_key_is_an_error_naming_it(tmp_path):
    state, ckpt = saved_state(tmp_path, tiny_vqgan())
    state["encoder.mid.extra.weight"] = torch.zeros(3)
    state["transformer.blocks.0.weight"] = torch.zeros(3)  # not the autoencoder's: ignored
    torch.save({"state_dict": state}, ckpt)
    with pytest.raises(VQGANError, match=r"1 unexpected key \(encoder.mid.extra.weight\)"):
        load_vqgan_model(str(ckpt), device="cpu")


def test_a_tensor_of_another_shape_is_an_error_naming_it(tmp_path):
    state, ckpt = saved_state(tmp_path, tiny_vqgan())
    state["quantize.embedding.weight"] = torch.zeros(1024, 4)  # a 1024-code checkpoint
    torch.save({"state_dict": state}, ckpt)
    with pytest.raises(VQGANError) as error:
        load_vqgan_model(str(ckpt), device="cpu")
    assert "does not match its config" in str(error.value)
    assert "quantize.embedding.weight (1024, 4) (config: (16, 4))" in str(error.value)


def test_many_missing_keys_are_counted_and_a_few_named(tmp_path):
    state, ckpt = saved_state(tmp_path, tiny_vqgan())
    state = {k: v for k, v in state.items() if not k.startswith("decoder.")}
    torch.save({"state_dict": state}, ckpt)
    with pytest.raises(VQGANError, match=r"\d\d missing keys \(decoder\.[^)]* and \d+ more\)"):
        load_vqgan_model(str(ckpt), device="cpu")


def test_an_unsupported_target_is_an_error_naming_it_and_the_allowed_ones(tmp_path):
    model = tiny_vqgan()
    save_taming_checkpoint(model, tmp_path / "m.ckpt", tmp_path / "m.yaml")
    config = yaml.safe_load((tmp_path / "m.yaml").read_text())
    config["model"]["target"] = "ldm.models.autoencoder.VQModelInterface"
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(VQGANError) as error:
        load_vqgan_model(str(tmp_path / "m.ckpt"), device="cpu")
    assert "ldm.models.autoencoder.VQModelInterface" in str(error.value)
    assert all(t in str(error.value) for t in (TARGET_VQ, TARGET_GUMBEL, TARGET_TRANSFORMER))


def test_lightning_objects_in_a_checkpoint_are_stood_in_for_never_run(tmp_path, monkeypatch):
    # a module the loading process cannot import, as pytorch_lightning is not installed here
    fake = types.ModuleType("fake_lightning")
    exec(
        "class ModelCheckpoint:\n    pass\n"
        "class Hyper:\n    def __init__(self, lr):\n        self.lr = lr\n"
        "class AttributeDict(dict):\n    pass\n",
        fake.__dict__,
    )
    monkeypatch.setitem(sys.modules, "fake_lightning", fake)
    model = tiny_vqgan()
    state, ckpt = saved_state(tmp_path, model)
    extras = {"callbacks": {fake.ModelCheckpoint: {"best": 1.0}}, "hparams": fake.Hyper(0.1)}
    torch.save({"state_dict": state, **extras}, ckpt)
    monkeypatch.delitem(sys.modules, "fake_lightning")
    loaded = load_vqgan_model(str(ckpt), device="cpu")
    z = fixed_latent(model)
    with torch.no_grad():
        assert torch.equal(loaded.decode(z), model.decode(z))

    # a dict subclass cannot be stood in for (weights_only fills only real dicts): refused,
    # unless the file's sha256 is the one pinned for a named model
    monkeypatch.setitem(sys.modules, "fake_lightning", fake)
    torch.save({"state_dict": state, "hparams": fake.AttributeDict(lr=0.1)}, ckpt)
    with pytest.raises(VQGANError, match="safe load refuses"):
        load_vqgan_model(str(ckpt), device="cpu")
    pinned = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert set(vqgan_checkpoint.read_checkpoint(ckpt, pinned_sha256=pinned)) == set(state)
    with pytest.raises(VQGANError, match="safe load refuses"):
        vqgan_checkpoint.read_checkpoint(ckpt, pinned_sha256="0" * 64)


def test_a_truncated_checkpoint_is_an_error_suggesting_to_delete_it(tmp_path):
    _, ckpt = saved_state(tmp_path, tiny_vqgan())
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    with pytest.raises(VQGANError, match="truncated or corrupt"):
        load_vqgan_model(str(ckpt), device="cpu")


# --------------------------------------------------------------------------------- quantisation


def hand_model():
    """A model with a 3-code, 2-dimensional codebook: (0, 0), (1, 0), (0, 2)."""
    model = tiny_vqgan(n_embed=3, embed_dim=2)
    with torch.no_grad():
        model.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]))
    return model


def test_quantize_snaps_to_the_nearest_code_worked_out_by_hand():
    model = hand_model()
    # squared distances to (0,0), (1,0), (0,2):
    #   (0.1, 0.1): 0.02, 0.82, 3.62 -> 0      (0.9, -0.2): 0.85, 0.05, 5.65 -> 1
    #   (0.2, 1.5): 2.29, 2.89, 0.29 -> 2      (0.6, 0.0): 0.36, 0.16, 4.36 -> 1
    #   (0.4, 1.1): 1.37, 1.57, 0.97 -> 2      (0.45, 0.3): 0.2925, 0.3925, 3.0925 -> 0
    vectors = torch.tensor(
        [[[0.1, 0.1], [0.9, -0.2], [0.2, 1.5]], [[0.6, 0.0], [0.4, 1.1], [0.45, 0.3]]]
    )  # [h=2, w=3, e_dim=2]
    z = vectors.permute(2, 0, 1)[None].clone().requires_grad_(True)  # [1, 2, 2, 3]
    expected = torch.tensor([[[0, 1, 2], [1, 2, 0]]])
    assert torch.equal(model.codes(z), expected)
    z_q = model.quantize(z)
    assert torch.equal(z_q.detach(), model.codebook[expected].permute(0, 3, 1, 2))
    assert torch.equal(model.from_codes(expected), z_q.detach())

    # straight through: d/dz sum(quantize(z) * w) is w itself
    w = torch.randn(1, 2, 2, 3, generator=torch.Generator().manual_seed(3))
    (z_q * w).sum().backward()
    assert torch.equal(z.grad, w)
    assert model.codebook.grad is None


def test_quantize_keeps_codebook_vectors_and_works_per_image_of_a_batch():
    model = hand_model()
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).T.reshape(1, 2, 1, 2).repeat(2, 1, 1, 1)
    z[1] *= -1  # (-1, 0) -> 0 (1 vs 4), (0, -2) -> 0 (4 vs 9 and 16)
    assert torch.equal(model.codes(z), torch.tensor([[[1, 2]], [[0, 0]]]))
    assert torch.equal(model.quantize(z)[0], z[0])


def test_gumbel_encoding_picks_codes_so_quantize_leaves_it_unchanged():
    model = tiny_vqgan(gumbel=True)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        z = model.encode(x)
        logits = model.quantizer.proj(model.quant_conv(model.encoder(x * 2 - 1)))
    assert torch.equal(model.from_codes(logits.argmax(1)), z)  # the most likely code
    assert torch.equal(model.quantize(z), z)
    assert torch.equal(model.codebook, model.quantizer.embed.weight)


def test_random_latents_are_codebook_entries_drawn_with_the_generator():
    model = tiny_vqgan()
    a = model.random_latent(3, 5, torch.Generator().manual_seed(4))
    b = model.random_latent(3, 5, torch.Generator().manual_seed(4))
    assert a.shape == (1, 4, 3, 5) and torch.equal(a, b)
    assert torch.equal(model.quantize(a), a)
    assert len(model.codes(a).unique()) > 3  # 15 uniform draws of 16 codes
    assert a.device == model.device


# ------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(("ch_mult", "factor"), [((1, 2), 2), ((1, 1, 2), 4)])
def test_encode_and_decode_shapes_follow_the_downsampling_factor(ch_mult, factor):
    model = tiny_vqgan(ch_mult=ch_mult, attn=())
    assert model.factor == factor
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        z = model.encode(x)
        assert z.shape == (1, model.e_dim, 32 // factor, 48 // factor)
        assert model.decode(model.quantize(z)).shape == (1, 3, 32, 48)
    with pytest.raises(ValueError, match=f"multiples of {factor}"):
        model.encode(torch.rand(1, 3, 32, 48 - factor // 2))


def test_decode_maps_to_zero_one_unclamped_and_differentiably():
    model = tiny_vqgan()
    with torch.no_grad():
        model.decoder.conv_out.bias.fill_(2.0)  # taming's range exceeded: about 3 -> 1.5
    z = fixed_latent(model).requires_grad_(True)
    image = model.decode(z)
    assert torch.equal(image, (model.decoder(model.post_quant_conv(z)) + 1) / 2)
    assert image.max() > 1  # the caller clamps
    image.mean().backward()
    assert z.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------- round trip


def test_a_trained_tiny_vqgan_reconstructs_a_held_out_image(trained_vqgan):
    # the tests' trained model (vqgan_training: 250 Adam steps of 8 images), through its file
    torch.manual_seed(0)  # the weights its training started from
    untrained_model = build_vqgan(tiny_config())
    held_out = colour_blocks(torch.Generator().manual_seed(9), 8)

    def error(model):
        with torch.no_grad():
            return F.mse_loss(model.decode(model.quantize(model.encode(held_out))), held_out).item()

    trained_model = load_vqgan_model(str(trained_vqgan), device="cpu")
    untrained, trained = error(untrained_model), error(trained_model)
    assert trained < 0.04 and trained < untrained / 4, (trained, untrained)


# ------------------------------------------------------------------------------------ downloads


class Server:
    """A local HTTP server of in-memory files that counts requests and can misbehave."""

    def __init__(self):
        """Start serving on 127.0.0.1 in a thread."""
        self.files, self.requests = {}, {}
        self.sleep_s, self.corrupt, self.send_length, self.dribble = 0.0, False, True, False
        self.closing = threading.Event()  # set by close(): ends a stalled reply's wait
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            """Serves server.files, as server's switches say."""

            def do_GET(self):
                """Reply, ignoring a client that hung up."""
                try:
                    self.reply()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as the timeout and size tests make it

            def reply(self):
                """Count the request, then send the file (slowly, corrupt or unsized if asked)."""
                server.requests[self.path] = server.requests.get(self.path, 0) + 1
                if server.sleep_s:  # stall: until the test ends, sleep_s at most (a hang guard)
                    server.closing.wait(server.sleep_s)
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                if server.corrupt and self.path.endswith(".ckpt"):
                    data = data[:-1] + bytes([data[-1] ^ 1])
                self.send_response(200)
                if server.send_length:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                step = 1024 if server.dribble else len(data)
                for i in range(0, len(data), step):
                    self.wfile.write(data[i : i + step])
                    self.wfile.flush()
                    if server.dribble:
                        time.sleep(0.05)

            def log_message(self, *args):
                """Keep the test output quiet."""
                pass

        class Threaded(http.server.ThreadingHTTPServer):
            """Closes without waiting for handlers still sleeping."""

            daemon_threads, block_on_close = True, False

        self.httpd = Threaded(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # a short poll interval: shutdown waits for the next poll
        poll = {"poll_interval": 0.02}
        threading.Thread(target=self.httpd.serve_forever, kwargs=poll, daemon=True).start()

    def close(self):
        """Stop serving (a stalled reply ends at once)."""
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A tiny model served over HTTP and registered as the named model 'tiny'."""
    model = tiny_vqgan()
    save_taming_checkpoint(model, tmp_path / "src.ckpt", tmp_path / "src.yaml")
    server = Server()
    server.files = {"/tiny.yaml": (tmp_path / "src.yaml").read_bytes()}
    server.files["/tiny.ckpt"] = (tmp_path / "src.ckpt").read_bytes()
    ckpt_bytes = server.files["/tiny.ckpt"]

    def register(**fields):
        info = VQGANInfo(
            "tiny",
            "a test model",
            f"{server.url}/tiny.yaml",
            f"{server.url}/tiny.ckpt",
            **{
                "sha256": None,
                "approx_bytes": len(ckpt_bytes),
                "n_codes": 16,
                "factor": 2,
                **fields,
            },
        )
        monkeypatch.setattr(
            vqgan_sources, "VQGAN_MODELS", MappingProxyType({**VQGAN_MODELS, "tiny": info})
        )
        return info

    register()
    server.model, server.register, server.cache = model, register, tmp_path / "cache"
    server.sha256 = hashlib.sha256(ckpt_bytes).hexdigest()
    yield server
    server.close()


def test_a_named_model_downloads_once_and_records_its_hash(served):
    cache = served.cache
    loaded = load_vqgan_model("tiny", device="cpu", cache_dir=cache)
    folder = cache / "vqgan"
    assert (folder / "tiny.yaml").is_file() and (folder / "tiny.ckpt").is_file()
    assert (folder / "tiny.ckpt.sha256").read_text() == f"{served.sha256}  tiny.ckpt\n"
    assert served.requests == {"/tiny.yaml": 1, "/tiny.ckpt": 1}
    assert not list(folder.glob(".*"))  # no temp files left
    z = fixed_latent(served.model)
    with torch.no_grad():
        assert torch.equal(loaded.decode(z), served.model.decode(z))

    again = load_vqgan_model("TINY", device="cpu", cache_dir=cache)
    assert served.requests == {"/tiny.yaml": 1, "/tiny.ckpt": 1}
    with torch.no_grad():
        assert torch.equal(again.decode(z), loaded.decode(z))


def test_a_corrupted_cache_file_is_detected_and_downloaded_again(served, capsys):
    load_vqgan_model("tiny", device="cpu", cache_dir=served.cache)
    ckpt = served.cache / "vqgan" / "tiny.ckpt"
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    ckpt.write_bytes(bytes(data))
    load_vqgan_model("tiny", device="cpu", cache_dir=served.cache)
    assert "corrupt" in capsys.readouterr().err
    assert served.requests["/tiny.ckpt"] == 2
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == served.sha256


def test_a_pinned_hash_is_checked_and_nothing_recorded(served):
    served.register(sha256=served.sha256)
    load_vqgan_model("tiny", device="cpu", cache_dir=served.cache)
    assert not (served.cache / "vqgan" / "tiny.ckpt.sha256").exists()


def test_a_wrong_hash_deletes_the_download_retries_once_then_fails(served):
    served.register(sha256="0" * 64)
    with pytest.raises(VQGANError) as error:
        load_vqgan_model("tiny", device="cpu", cache_dir=served.cache)
    message = str(error.value)
    assert "failed twice" in message and f"sha256 {served.sha256}" in message
    assert "by hand to" in message and "local taming checkpoint" in message
    assert served.requests["/tiny.ckpt"] == 2
    assert sorted(p.name for p in (served.cache / "vqgan").iterdir()) == ["tiny.yaml"]


def test_a_corrupt_transfer_with_a_pinned_hash_fails_after_one_retry(served):
    served.register(sha256=served.sha256)
    served.corrupt = True
    with pytest.raises(VQGANError, match="failed twice"):
        load_vqgan_model("tiny", device="cpu", cache_dir=served.cache)
    assert served.requests["/tiny.ckpt"] == 2
    assert not (served.cache / "vqgan" / "tiny.ckpt").exists()


@pytest.mark.parametrize("send_length", [True, False])
def test_a_download_over_the_size_bound_is_stopped(served, send_length):
    served.register(approx_bytes=len(served.files["/tiny.ckpt"]) // 4)
    served.send_length = send_length  # without Content-Length the bytes are counted
    with pytest.raises(VQGANError, match="download stopped.*expected"):
        load_vqgan_model("tiny", device="cpu", cache_dir=served.cache)
    assert served.requests["/tiny.ckpt"] == 1  # no second try: it would be as big
    assert sorted(p.name for p in (served.cache / "vqgan").iterdir()) == ["tiny.yaml"]


def place_config(served):
    """Put the config in the cache, so only the checkpoint is downloaded."""
    config = vqgan_sources.cached_files("tiny", served.cache)[0]
    config.parent.mkdir(parents=True)
    config.write_bytes(served.files["/tiny.yaml"])


@pytest.mark.parametrize("served_path", ["/tiny.yaml", "/tiny.ckpt"])
def test_a_web_page_in_place_of_a_file_is_not_kept(served, served_path):
    served.files[served_path] = b"<!DOCTYPE html><html>File not found</html>"
    with pytest.raises(VQGANError, match="download stopped: what was served is not a"):
        load_vqgan_model("tiny", device="cpu", cache_dir=served.cache)
    assert served.requests[served_path] == 1
    kept = {p.name for p in (served.cache / "vqgan").iterdir()}
    assert kept == ({"tiny.yaml"} if served_path == "/tiny.ckpt" else set())


def test_a_stalled_server_times_out_in_bounded_time(served, monkeypatch):
    place_config(served)
    monkeypatch.setattr(download, "READ_TIMEOUT_S", 0.3)
    served.sleep_s = 300  # stalls until the test ends: only the read timeout can end the load
    with pytest.raises(VQGANError, match="tiny.ckpt failed twice.*timed out"):
        load_vqgan_model("tiny", device="cpu", cache_dir=served.cache)
    assert served.requests == {"/tiny.ckpt": 2}


def test_a_slow_download_is_stopped_at_its_deadline(served, monkeypatch):
    place_config(served)
    monkeypatch.setattr(download, "CHUNK", 1024)
    monkeypatch.setattr(vqgan_sources, "BASE_DEADLINE_S", 0.3)
    monkeypatch.setattr(vqgan_sources, "MIN_RATE", 10**12)
    served.dribble = True  # 1 KiB every 50 ms
    with pytest.raises(VQGANError, match=r"took over 0 s"):  # the deadline, not the end, stops it
        load_vqgan_model("tiny", device="cpu", cache_dir=served.cache)
    assert not (served.cache / "vqgan" / "tiny.ckpt").exists()


def test_offline_a_named_model_fails_at_once_naming_the_alternative(served, monkeypatch):
    monkeypatch.setattr(network, "surely_offline_url", lambda url: True)
    for attempt in (check_vqgan_model, load_vqgan_model):
        kwargs = {"device": "cpu"} if attempt is load_vqgan_model else {}
        with pytest.raises(VQGANError) as error:
            attempt("tiny", cache_dir=served.cache, **kwargs)
        assert "not downloaded yet" in str(error.value) and "cannot be reached" in str(error.value)
        assert "local taming checkpoint" in str(error.value)
    assert served.requests == {}


def test_a_downloaded_model_checks_and_loads_offline(served, monkeypatch):
    load_vqgan_model("tiny", device="cpu", cache_dir=served.cache)
    monkeypatch.setattr(network, "surely_offline_url", lambda url: True)
    check_vqgan_model("tiny", cache_dir=served.cache)
    load_vqgan_model("tiny", device="cpu", cache_dir=served.cache)
    assert served.requests == {"/tiny.yaml": 1, "/tiny.ckpt": 1}


def test_the_model_cache_loads_a_vqgan_once(served):
    cache = ModelCache()
    first = cache.vqgan(" tiny ", cache_dir=str(served.cache))
    assert cache.vqgan("tiny", device="cpu", cache_dir=str(served.cache)) is first
    assert cache.kinds() == ["vqgan"]


# ------------------------------------------------------------------------------------- checking


def test_an_unknown_name_suggests_the_close_one_and_lists_all():
    with pytest.raises(VQGANError) as error:
        check_vqgan_model("imagnet")
    message = str(error.value)
    assert "did you mean 'imagenet'" in message
    assert all(name in message for name in VQGAN_MODELS)


def test_local_paths_need_their_checkpoint_and_config(tmp_path):
    with pytest.raises(VQGANError, match="no such file"):
        check_vqgan_model(str(tmp_path / "missing.ckpt"))
    (tmp_path / "alone.ckpt").write_bytes(b"")
    with pytest.raises(VQGANError, match="alone.yaml' is missing"):
        check_vqgan_model(str(tmp_path / "alone.ckpt"))
    (tmp_path / "alone.yaml").write_text(yaml.safe_dump(taming_config()))
    check_vqgan_model(str(tmp_path / "alone.ckpt"))
    check_vqgan_model(str(tmp_path))
    (tmp_path / "other.ckpt").write_bytes(b"")
    with pytest.raises(VQGANError, match="exactly one .ckpt and one .yaml file, it has 2 and 1"):
        check_vqgan_model(str(tmp_path))


def test_checking_reads_a_local_config_and_refuses_an_unsupported_one(tmp_path):
    (tmp_path / "m.ckpt").write_bytes(b"")
    (tmp_path / "m.yaml").write_text(
        yaml.safe_dump(taming_config("taming.models.vqgan.VQSegmentationModel"))
    )
    with pytest.raises(VQGANError, match="'.*m.ckpt'.*VQSegmentationModel' is not supported"):
        check_vqgan_model(str(tmp_path / "m.ckpt"))
    config = taming_config()
    config["model"]["params"]["ddconfig"]["double_z"] = True
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(VQGANError, match=r"ddconfig.double_z True; allowed: false \(true is a KL"):
        check_vqgan_model(str(tmp_path / "m.ckpt"))


def test_checking_a_named_model_needs_its_host_only_until_downloaded(tmp_path, monkeypatch):
    probed = []
    monkeypatch.setattr(network, "surely_offline_url", lambda url: probed.append(url) or False)
    check_vqgan_model("openimages", cache_dir=tmp_path)
    assert probed == [
        VQGAN_MODELS["openimages"].config_url,
        VQGAN_MODELS["openimages"].checkpoint_url,
    ]
    monkeypatch.setattr(network, "surely_offline_url", lambda url: True)
    with pytest.raises(VQGANError, match="openimages.*not downloaded yet"):
        check_vqgan_model("openimages", cache_dir=tmp_path)
    assert not (tmp_path / "vqgan").exists()  # checking writes nothing


def test_the_default_cache_folder_honours_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert vqgan_sources.vqgan_folder(None) == tmp_path / "pytti_nb" / "vqgan"
    assert vqgan_sources.vqgan_folder(str(tmp_path / "m")) == tmp_path / "m" / "vqgan"


def test_the_registry_is_read_only_and_matches_pytti():
    assert set(VQGAN_MODELS) == {
        "imagenet",
        "imagenet_1024",
        "wikiart",
        "sflckr",
        "coco",
        "openimages",
    }
    with pytest.raises(TypeError):
        VQGAN_MODELS["mine"] = VQGAN_MODELS["imagenet"]  # type: ignore[index]
    assert VQGAN_MODELS["openimages"].gumbel and VQGAN_MODELS["openimages"].factor == 8
    assert VQGAN_MODELS["imagenet"].checkpoint_url.endswith("/f/867b05fc8c4841768640/?dl=1")


def test_pickle_is_what_torch_raises_for_unknown_globals(tmp_path):
    # _torch_load relies on this message to name the class to stand in for
    module = types.ModuleType("gone_module")
    exec("class Thing:\n    pass\n", module.__dict__)
    sys.modules["gone_module"] = module
    try:
        torch.save({"x": module.Thing()}, tmp_path / "t.pt")
    finally:
        del sys.modules["gone_module"]
    with pytest.raises(
        pickle.UnpicklingError, match="Unsupported global: GLOBAL gone_module.Thing"
    ):
        torch.load(tmp_path / "t.pt", weights_only=True)
