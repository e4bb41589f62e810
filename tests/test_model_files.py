"""Model files nobody vouched for: VQGAN configs and checkpoints, depth models' config.json and
preprocessor configs, local-dir perceptors' open_clip_config.json, hub ids and missing perceptor
weights end in our own error at validation, naming the setting, quoting the bad part and saying
what is allowed, before any model is built or read."""

import json
import os
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
import yaml
from inprocess import measured, run_cli
from test_perceptors import TINY_RESNET, TINY_VIT, _write_local_dir
from tiny import TINY
from vqgan_fixtures import save_taming_checkpoint

from pytti_nb.errors import ModelUnavailable, PerceptorError, shown
from pytti_nb.models import ModelCache, depth, network, vqgan, vqgan_checkpoint
from pytti_nb.models import depth_config as depth_checks
from pytti_nb.models.depth import load_depth_model
from pytti_nb.models.depth_config import DepthModelError, check_depth_model
from pytti_nb.models.vqgan import build_vqgan, check_vqgan_model, load_vqgan_model
from pytti_nb.models.vqgan_config import (
    IMAGENET_PARAMETERS,
    MAX_VQGAN_PARAMETERS,
    TARGET_GUMBEL,
    TARGET_TRANSFORMER,
    TARGET_VQ,
    check_config,
    vqgan_parameters,
)
from pytti_nb.models.vqgan_sources import VQGAN_MODELS, VQGANError
from pytti_nb.perception import clip_config, perceptors, specs

ROOT = Path(__file__).resolve().parent.parent
MAX_PEAK_MB = 150  # Python memory any hostile model file may take (tracemalloc), as test_hostile
MAX_CALLS = (
    2_000_000  # function calls a hostile model file may cost (tests/inprocess.py; ~35k seen)
)
MAX_MESSAGE = 20_000

pytestmark = pytest.mark.usefixtures("offline", "perceptor_check_imported")


def refused(code, *argv, calls=MAX_CALLS):
    """Run the command line here, which must fail with `code`, one short message, bounded
    memory and time; its stderr."""
    got, out, err, peak, made = run_cli(*argv)
    assert got == code, (got, out[-2000:], err[-2000:])
    assert "Traceback" not in err and err.startswith("error: ")
    assert len(err) < MAX_MESSAGE and peak < MAX_PEAK_MB and made < calls, (len(err), peak, made)
    return err


def settings_file(folder: Path, **changes) -> Path:
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump({**TINY, "output_root": str(folder / "out"), **changes}))
    return path


# --- VQGAN configs ---------------------------------------------------------------------------


def ddconfig(**changes):
    """A tiny taming ddconfig (f2), with changes."""
    base = dict(
        double_z=False, z_channels=8, resolution=16, in_channels=3, out_ch=3, ch=32,
        ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[8], dropout=0.0,
    )  # fmt: skip
    return {**base, **changes}


def taming(target=TARGET_VQ, *, params=None, **changes):
    """A whole taming config around ddconfig(**changes)."""
    params = {"embed_dim": 4, "n_embed": 16, "ddconfig": ddconfig(**changes), **(params or {})}
    return {"model": {"target": target, "params": params}}


def local_model(folder: Path, config, checkpoint=b"") -> Path:
    """A local vqgan_model: a config (a dict, dumped, or YAML text) and a checkpoint beside it."""
    folder.mkdir(exist_ok=True)
    text = config if isinstance(config, str) else yaml.safe_dump(config)
    (folder / "m.yaml").write_text(text)
    ckpt = folder / "m.ckpt"
    ckpt.write_bytes(checkpoint) if isinstance(checkpoint, bytes) else None
    return ckpt


INF, NAN = float("inf"), float("nan")
# (where, key, value, what the message says is allowed): the probe's instances, then more
BAD_DDCONFIG = [
    ("ch", "abc", "a multiple of 32"),
    ("ch", 131072, "from 32 to 4096"),
    ("ch", 0, "a multiple of 32"),
    ("ch", -32, "a multiple of 32"),
    ("ch", 48, "a multiple of 32"),
    ("ch", True, "a multiple of 32"),
    ("ch", 128.0, "a multiple of 32"),
    ("ch", [128], "a multiple of 32"),
    ("ch", {"a": 1}, "a multiple of 32"),
    ("ch", INF, "a multiple of 32"),
    ("ch", 2**70, "a multiple of 32"),
    ("ch_mult", 5, "a list of 1 to 8 whole numbers"),
    ("ch_mult", [], "a list of 1 to 8"),
    ("ch_mult", [1, -2], "from 1 to 64"),
    ("ch_mult", [1] * 9, "a list of 1 to 8"),
    ("ch_mult", [1, 2.5], "whole numbers"),
    ("ch_mult", [True, 2], "whole numbers"),
    ("ch_mult", [[1]], "whole numbers"),
    ("ch_mult", "abc", "a list of 1 to 8"),
    ("ch_mult", list(range(5000)), "a list of 1 to 8"),
    ("num_res_blocks", 1e9, "a whole number from 1 to 32"),
    ("num_res_blocks", 10**9, "a whole number from 1 to 32"),
    ("num_res_blocks", 0, "from 1 to 32"),
    ("num_res_blocks", -1, "from 1 to 32"),
    ("num_res_blocks", False, "from 1 to 32"),
    ("num_res_blocks", "2", "from 1 to 32"),
    ("attn_resolutions", "abc", "a list of at most 8 whole numbers"),
    ("attn_resolutions", 16, "a list of at most 8"),
    ("attn_resolutions", [16] * 100, "a list of at most 8"),
    ("attn_resolutions", [-1], "from 1 to 65536"),
    ("attn_resolutions", [1.5], "whole numbers"),
    ("attn_resolutions", None, "a list"),
    ("resolution", None, "a whole number from 1 to 65536"),
    ("resolution", 0, "a whole number from 1 to 65536"),
    ("resolution", -256, "from 1 to 65536"),
    ("resolution", "256", "from 1 to 65536"),
    ("resolution", 1e300, "from 1 to 65536"),
    ("z_channels", -4, "a whole number from 1 to 4096"),
    ("z_channels", 0, "from 1 to 4096"),
    ("z_channels", 10**6, "from 1 to 4096"),
    ("z_channels", "x", "from 1 to 4096"),
    ("dropout", "x", "a number from 0 to 1"),
    ("dropout", -0.1, "a number from 0 to 1"),
    ("dropout", 2, "a number from 0 to 1"),
    ("dropout", NAN, "a number from 0 to 1"),
    ("dropout", INF, "a number from 0 to 1"),
    ("dropout", True, "a number from 0 to 1"),
    ("in_channels", 4, "3 (an RGB autoencoder)"),
    ("out_ch", 1, "3 (an RGB autoencoder)"),
    ("out_ch", 3.0, "3 (an RGB autoencoder)"),
    ("double_z", True, "false (true is a KL autoencoder"),
    ("double_z", "false", "false (true is a KL autoencoder"),
    ("double_z", 0, "false (true is a KL autoencoder"),
    ("resamp_with_conv", "yes", "true or false"),
    ("give_pre_end", True, "false"),
    ("tanh_out", True, "false"),
]
BAD_PARAMS = [
    ("n_embed", [1, 2], "a whole number from 1 to 1048576"),
    ("n_embed", "many", "a whole number from 1 to 1048576"),
    ("n_embed", 1e12, "from 1 to 1048576"),
    ("n_embed", 10**12, "from 1 to 1048576"),
    ("n_embed", 0, "from 1 to 1048576"),
    ("n_embed", -5, "from 1 to 1048576"),
    ("n_embed", True, "from 1 to 1048576"),
    ("embed_dim", 0, "a whole number from 1 to 4096"),
    ("embed_dim", "x", "from 1 to 4096"),
    ("embed_dim", None, "from 1 to 4096"),
    ("remap", "codes.npy", "absent (remapped codebooks are not supported)"),
]


@pytest.mark.parametrize("key,value,allowed", BAD_DDCONFIG)
def test_a_bad_ddconfig_value_is_refused_quoting_it_and_what_is_allowed(
    tmp_path, key, value, allowed
):
    ckpt = local_model(tmp_path / "m", taming(**{key: value}))
    with pytest.raises(VQGANError) as error:
        check_vqgan_model(str(ckpt))
    message = str(error.value)
    assert f"ddconfig.{key} {shown(value)}; allowed: " in message and allowed in message
    assert len(message) < 2000


@pytest.mark.parametrize("key,value,allowed", BAD_PARAMS)
def test_a_bad_codebook_value_is_refused_quoting_it_and_what_is_allowed(
    tmp_path, key, value, allowed
):
    ckpt = local_model(tmp_path / "m", taming(params={key: value}))
    with pytest.raises(VQGANError) as error:
        check_vqgan_model(str(ckpt))
    message = str(error.value)
    assert f"params.{key} {shown(value)}; allowed: " in message and allowed in message


@pytest.mark.parametrize(
    "config,problem",
    [
        ({"model": {"target": TARGET_VQ, "params": [1, 2]}}, "params [1, 2]; allowed: a mapping"),
        ({"model": {"target": TARGET_VQ, "params": "x"}}, "params 'x'; allowed: a mapping"),
        ({"model": [1]}, "model [1] is not a mapping"),
        ({"model": {"target": TARGET_VQ, "params": {"n_embed": 4}}}, "params.embed_dim is missing"),
        (
            {"model": {"target": TARGET_VQ, "params": {"n_embed": 4, "embed_dim": 4}}},
            "params.ddconfig None; allowed: a mapping",
        ),
        (
            {
                "model": {
                    "target": TARGET_TRANSFORMER,
                    "params": {"first_stage_config": {"target": TARGET_VQ, "params": [1]}},
                }
            },
            "first_stage_config.params [1]; allowed: a mapping",
        ),
        (taming(TARGET_GUMBEL, params={"embed_dim": 4}), "a GumbelVQ's equals ddconfig.z_channels"),
        ([1, 2], "is not a taming config"),
        ("a: &a [*a]", "cannot be read"),
        ("a: [" * 50 + "]" * 50, "nested more than"),
        ("x: " + "y" * 2_000_000, "cannot be read"),
    ],
)
def test_a_config_of_the_wrong_shape_is_refused(tmp_path, config, problem):
    ckpt = local_model(tmp_path / "m", config)
    with pytest.raises(VQGANError, match="vqgan_model") as error:
        check_vqgan_model(str(ckpt))
    assert problem in str(error.value)


def test_several_bad_keys_are_all_named_in_one_error(tmp_path):
    ckpt = local_model(tmp_path / "m", taming(ch="abc", ch_mult=5, params={"n_embed": "many"}))
    with pytest.raises(VQGANError) as error:
        check_vqgan_model(str(ckpt))
    message = str(error.value)
    assert all(k in message for k in ("ddconfig.ch 'abc'", "ddconfig.ch_mult 5", "n_embed 'many'"))


def test_validate_names_vqgan_model_and_the_bad_key_with_exit_2(tmp_path):
    for name, changes in {
        "ch": dict(ch="abc"),
        "resolution": dict(resolution=None),
        "n_embed": dict(params={"n_embed": [1, 2]}),
    }.items():
        ckpt = local_model(tmp_path / name, taming(**changes))
        path = settings_file(tmp_path, image_model="VQGAN", vqgan_model=str(ckpt))
        err = refused(2, "validate", path)
        assert "vqgan_model:" in err and f".{name} " in err and "allowed:" in err


def test_a_yaml_1e12_is_a_number_refused_by_its_range(tmp_path):
    text = yaml.safe_dump(taming()).replace("n_embed: 16", "n_embed: 1e12")
    ckpt = local_model(tmp_path / "m", text)
    with pytest.raises(VQGANError, match=r"params.n_embed 1000000000000.0; allowed: a whole"):
        check_vqgan_model(str(ckpt))


@pytest.mark.parametrize(
    "changes",
    [
        dict(ch=4096, ch_mult=[1, 2, 4, 8]),  # in range key by key: 618 GB of weights
        dict(ch=1024, num_res_blocks=32, ch_mult=[1, 2, 4]),
        dict(params={"n_embed": 2**20, "embed_dim": 4096}),  # a 4.3G-entry codebook
        dict(z_channels=4096, params={"embed_dim": 4096}, ch=4096),
    ],
)
def test_a_config_too_big_for_memory_is_refused_from_its_shape_before_building(
    tmp_path, monkeypatch, changes
):
    monkeypatch.setattr(vqgan, "_build", lambda *a: pytest.fail("a model was built"))
    monkeypatch.setattr(
        vqgan_checkpoint, "load_weights_only", lambda *a: pytest.fail("a checkpoint was read")
    )
    ckpt = local_model(tmp_path / "m", taming(**changes))
    with measured() as cost:
        for check in (check_vqgan_model, lambda spec: load_vqgan_model(spec, device="cpu")):
            with pytest.raises(VQGANError) as error:
                check(str(ckpt))
            assert f"allowed: at most {MAX_VQGAN_PARAMETERS:,}" in str(error.value)
            assert "parameters" in str(error.value) and " GB in float32" in str(error.value)
    assert cost["peak_mb"] < 10 and cost["calls"] < MAX_CALLS, cost


REAL = dict(
    double_z=False, z_channels=256, resolution=256, in_channels=3, out_ch=3, ch=128,
    num_res_blocks=2, dropout=0.0,
)  # fmt: skip
NAMED = {  # the named models' first stages (taming's and PyTTI's configs)
    "imagenet": (TARGET_VQ, 16384, [1, 1, 2, 2, 4], [16]),
    "imagenet_1024": (TARGET_VQ, 1024, [1, 1, 2, 2, 4], [16]),
    "coco": (TARGET_VQ, 8192, [1, 1, 2, 2, 4], [16]),
    "openimages": (TARGET_GUMBEL, 8192, [1, 1, 2, 4], [32]),
}


@pytest.mark.parametrize("name", NAMED)
def test_every_named_models_config_passes_well_under_the_bound(name):
    target, n_embed, ch_mult, attn = NAMED[name]
    config = {
        "model": {
            "target": target,
            "params": {
                "n_embed": n_embed,
                "embed_dim": 256,
                "ddconfig": {**REAL, "ch_mult": ch_mult, "attn_resolutions": attn},
            },
        }
    }
    shape = check_config(config)
    assert shape.factor == VQGAN_MODELS[name].factor
    assert shape.parameters <= IMAGENET_PARAMETERS <= MAX_VQGAN_PARAMETERS / 5
    assert name != "imagenet" or shape.parameters == IMAGENET_PARAMETERS


@pytest.mark.parametrize(
    "target,changes",
    [
        (TARGET_VQ, {}),
        (TARGET_GUMBEL, dict(params={"embed_dim": 8})),
        (TARGET_VQ, dict(ch_mult=[1, 1, 2, 2, 4], attn_resolutions=[16], resolution=256)),
        (TARGET_VQ, dict(ch_mult=[2, 1, 3], attn_resolutions=[16, 8, 4], num_res_blocks=3)),
        (TARGET_VQ, dict(resamp_with_conv=False, ch=64, attn_resolutions=[])),
    ],
)
def test_the_parameter_count_is_the_built_models(target, changes):
    config = taming(target, **changes)
    shape = check_config(config)
    with torch.device("meta"):  # shapes only: no memory
        model = build_vqgan(config)
    assert shape.parameters == sum(p.numel() for p in model.parameters())
    assert shape.parameters == vqgan_parameters(
        shape.ddconfig, shape.n_embed, shape.embed_dim, shape.gumbel
    )


# --- VQGAN checkpoints: zip bombs and records that lie about their size ----------------------


def raw_zip(path: Path, records) -> Path:
    """A zip archive written byte by byte from (name, payload, method, declared size, crc):
    what an archive declares need not be what it holds."""
    out, central = bytearray(), bytearray()
    for name, payload, method, size, crc in records:
        encoded, offset = name.encode(), len(out)
        fields = (method, 0, 0, crc, len(payload), size, len(encoded))
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, *fields, 0) + encoded + payload
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, *fields, 0, 0, 0, 0, 0, offset
        )
        central += encoded
    n = len(records)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))
    return path


def zeros_deflated(chunks: int, head: bytes = b"") -> bytes:
    """A raw deflate stream of head then `chunks` x 16 MiB of zeros, built in a blink: after a
    full flush every chunk compresses to the same bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    chunk = compressor.compress(bytes(2**24)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + chunk * chunks + compressor.flush()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A tiny VQGAN's taming checkpoint and config: (folder, {record name: bytes})."""
    folder = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    save_taming_checkpoint(build_vqgan(taming()), folder / "m.ckpt", folder / "m.yaml")
    with zipfile.ZipFile(folder / "m.ckpt") as archive:
        return folder, {info.filename: archive.read(info) for info in archive.infolist()}


def doctored(tmp_path, tiny_checkpoint, extra=(), *, pickle=None) -> Path:
    """The tiny model's checkpoint rewritten with extra records, or its pickle replaced by a
    (payload, method, declared size, crc) record."""
    folder, records = tiny_checkpoint
    (tmp_path / "m.yaml").write_bytes((folder / "m.yaml").read_bytes())
    rows = []
    for name, data in records.items():
        if pickle is not None and name.endswith("/data.pkl"):
            rows.append((name, *pickle))
        else:
            rows.append((name, data, zipfile.ZIP_STORED, len(data), zlib.crc32(data)))
    prefix = next(iter(records)).split("/")[0]
    rows += [(f"{prefix}/{name}", *rest) for name, *rest in extra]
    return raw_zip(tmp_path / "m.ckpt", rows)


def test_a_zip_bomb_checkpoint_is_refused_before_torch_reads_it(
    tmp_path, tiny_checkpoint, monkeypatch
):
    bomb = zeros_deflated(192)  # 3 GiB of zeros in about 3 MB
    assert len(bomb) < 4 * 2**20
    ckpt = doctored(
        tmp_path, tiny_checkpoint, [("data/99", bomb, zipfile.ZIP_DEFLATED, 3 * 2**30, 0)]
    )
    monkeypatch.setattr(
        vqgan_checkpoint, "load_weights_only", lambda *a: pytest.fail("torch read the bomb")
    )
    tracemalloc.start()
    try:
        with pytest.raises(VQGANError, match=r"declares 3,2\d\d,\d+,\d+ bytes unpacked .*zip bomb"):
            check_vqgan_model(str(ckpt))
        with pytest.raises(VQGANError, match="zip bomb"):
            load_vqgan_model(str(ckpt), device="cpu")
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert peak < 20
    err = refused(
        2, "validate", settings_file(tmp_path, image_model="VQGAN", vqgan_model=str(ckpt))
    )
    assert "vqgan_model:" in err and "zip bomb" in err


@pytest.mark.parametrize(
    "record,problem",
    [
        # one record inflating a thousand times, within the size bound
        (
            ("data/99", zeros_deflated(0, bytes(8 * 2**20)), 8, 8 * 2**20, 0),
            "allowed: at most 100 times",
        ),
        # compressed records declaring more than loading may inflate in memory (1.7 times each)
        (("data/98", b"x" * 2**20 * 40, 8, 70 * 2**20, 0), "re-save it with torch.save"),
        # a stored record declaring more than the file could hold for this config
        (("data/97", b"", 0, 2**31, 0), "declares"),
    ],
)
def test_compressed_records_inflating_too_much_are_refused(
    tmp_path, tiny_checkpoint, monkeypatch, record, problem
):
    monkeypatch.setattr(
        vqgan_checkpoint, "load_weights_only", lambda *a: pytest.fail("torch read it")
    )
    ckpt = doctored(tmp_path, tiny_checkpoint, [record])
    with pytest.raises(VQGANError, match="vqgan_model") as error:
        check_vqgan_model(str(ckpt))
    assert problem in str(error.value)


def test_a_legacy_checkpoint_larger_than_its_config_warrants_is_refused(tmp_path):
    ckpt = local_model(tmp_path / "m", taming())
    with open(ckpt, "wb") as f:  # a sparse file: 300 MB on paper, nothing on disk
        f.write(b"\x80\x02")
        f.truncate(300_000_000)
    with pytest.raises(VQGANError, match=r"read into memory whole .*allowed for its config's"):
        check_vqgan_model(str(ckpt))


def test_an_archive_with_a_huge_table_of_contents_is_refused(tmp_path):
    ckpt = local_model(tmp_path / "m", taming())
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 2**30, 0, 0)
    ckpt.write_bytes(end)
    with pytest.raises(VQGANError, match="lists its records in 1,073,741,824 bytes"):
        check_vqgan_model(str(ckpt))


def test_a_damaged_archive_is_refused_at_validation(tmp_path, tiny_checkpoint):
    folder, _ = tiny_checkpoint
    data = (folder / "m.ckpt").read_bytes()
    ckpt = local_model(tmp_path / "m", taming(), data[:100] + data[-22:])  # no records left
    with pytest.raises(VQGANError, match="a truncated or corrupt file"):
        check_vqgan_model(str(ckpt))


LIAR = """
import resource, sys
import torch  # imported first: only the load is measured
from pytti_nb.models import vqgan
from pytti_nb.models.vqgan_sources import VQGANError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    vqgan.load_vqgan_model(sys.argv[1], device="cpu")
except VQGANError:
    pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def test_a_record_lying_about_its_size_never_inflates_past_what_it_declares(
    tmp_path, tiny_checkpoint
):
    # the pickle's record declares its own size but holds 1 GiB of zeros after it: torch
    # inflates into a buffer of the declared size, so the lie costs no memory
    _, records = tiny_checkpoint
    pickle = next(data for name, data in records.items() if name.endswith("/data.pkl"))
    lie = (zeros_deflated(64, pickle), zipfile.ZIP_DEFLATED, len(pickle), zlib.crc32(pickle))
    ckpt = doctored(tmp_path, tiny_checkpoint, pickle=lie)
    check_vqgan_model(str(ckpt))  # what it declares is fine
    run = subprocess.run(
        [sys.executable, "-c", LIAR, str(ckpt)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout.split()[-1]) < 200  # MB: never the 1024 it holds


# --- depth models' preprocessor_config.json --------------------------------------------------


def depth_folder(folder: Path, preprocessor=None, config=None) -> Path:
    """A depth model folder (weights present) with these preprocessor and model configs (each
    a dict, dumped as JSON, or the file's text or bytes; a tiny Depth Anything's config and
    no preprocessor config where None)."""
    folder.mkdir(exist_ok=True)
    (folder / "model.safetensors").write_bytes(b"")
    write(folder / "config.json", depth_config() if config is None else config)
    if preprocessor is not None:
        write(folder / "preprocessor_config.json", preprocessor)
    return folder


def write(path: Path, content) -> None:
    """Write a dict as JSON, or text, or bytes."""
    if isinstance(content, (dict, list)):
        content = json_text(content)
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)


def json_text(value) -> str:
    """JSON as Python writes it (NaN and Infinity included, as a careless writer would)."""
    return json.dumps(value)


GOOD = {
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "ensure_multiple_of": 14,
    "size": {"height": 518, "width": 518},
}
BAD_PREPROCESSOR = [
    ("ensure_multiple_of", 0, "a whole number from 1 to 1024"),
    ("ensure_multiple_of", -14, "a whole number from 1 to 1024"),
    ("ensure_multiple_of", 1.5, "a whole number"),
    ("ensure_multiple_of", True, "a whole number"),
    ("ensure_multiple_of", "14", "a whole number"),
    ("ensure_multiple_of", 10**6, "from 1 to 1024"),
    ("ensure_multiple_of", None, "a whole number"),
    ("image_mean", "abc", "a list of 3 numbers"),
    ("image_mean", [1], "a list of 3 numbers"),
    ("image_mean", [0.1, 0.2, 0.3, 0.4], "a list of 3 numbers"),
    ("image_mean", [NAN, 0, 0], "a list of 3 numbers"),
    ("image_mean", [INF, 0, 0], "a list of 3 numbers"),
    ("image_mean", ["a", 0, 0], "a list of 3 numbers"),
    ("image_mean", [True, 0, 0], "a list of 3 numbers"),
    ("image_mean", [10**400, 0, 0], "a list of 3 numbers"),
    ("image_mean", {"r": 1}, "a list of 3 numbers"),
    ("image_mean", 5, "a list of 3 numbers"),
    ("image_std", [0, 0, 0], "from 0.001 to 1000"),
    ("image_std", [-1, 1, 1], "from 0.001 to 1000"),
    ("image_std", [1e-300] * 3, "from 0.001 to 1000"),
    ("image_std", [NAN] * 3, "from 0.001 to 1000"),
    ("image_std", [1e300] * 3, "from 0.001 to 1000"),
    ("image_std", "x", "a list of 3 numbers"),
    ("image_std", [[0.2]] * 3, "a list of 3 numbers"),
    ("size", {"height": 0, "width": 518}, "whole numbers from 1 to 4096"),
    ("size", {"height": "x"}, "whole numbers from 1 to 4096"),
    ("size", {"height": 10**9, "width": 518}, "from 1 to 4096"),
    ("size", [518], "whole numbers"),
    ("size", -1, "whole numbers"),
    ("size", {"shortest_edge": 2.5}, "whole numbers"),
]


@pytest.mark.parametrize("key,value,allowed", BAD_PREPROCESSOR)
def test_a_bad_preprocessor_value_is_refused_at_validation(tmp_path, key, value, allowed):
    folder = depth_folder(tmp_path / "d", {**GOOD, key: value})
    with pytest.raises(DepthModelError) as error:
        check_depth_model(str(folder))
    message = str(error.value)
    assert "preprocessor_config.json is not usable" in message
    assert f"{key} {shown(value)}; allowed: " in message and allowed in message


@pytest.mark.parametrize(
    "content,problem",
    [
        ("[1, 2]", "not a JSON object"),
        ("not json", "cannot be read"),
        ("[" * 100_000 + "]" * 100_000, "cannot be read"),
        ('{"a": "' + "x" * 300_000 + '"}', f"over {network.MAX_CONFIG_BYTES} bytes"),
        (b"\xff\xfe{}", "cannot be read"),
        ('{"image_std": [NaN, 1, 1]}', "image_std [nan, 1, 1]"),
        ('{"ensure_multiple_of": 1' + "0" * 5000 + "}", "cannot be read"),
        (
            {**GOOD, "ensure_multiple_of": 64, "size": {"height": 32, "width": 518}},
            "over the input",
        ),
    ],
)
def test_a_malformed_preprocessor_file_is_refused(tmp_path, content, problem):
    folder = depth_folder(tmp_path / "d", content)
    with pytest.raises(DepthModelError, match="depth_model") as error:
        check_depth_model(str(folder))
    assert problem in str(error.value) and len(str(error.value)) < 2000


def test_validate_names_depth_model_and_the_bad_entry_with_exit_2(tmp_path):
    for key, value in (("ensure_multiple_of", 0), ("image_mean", "abc"), ("image_std", [0, 0, 0])):
        folder = depth_folder(tmp_path / key, {**GOOD, key: value})
        path = settings_file(tmp_path, animation_mode="3D", depth_model=str(folder))
        err = refused(2, "validate", path)
        assert "depth_model:" in err and f"{key} {shown(value)}" in err


def test_a_depth_download_that_fails_partway_is_a_missing_model_with_exit_3(tmp_path, monkeypatch):
    """The hub answered at validation, then the download broke: the machine lacks the model
    (exit 3, as offline), not bad settings (exit 2)."""
    hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(network, "reachable", lambda *a, **k: True)

    def broken(*args, **kwargs):
        raise OSError("Connection broken: IncompleteRead(1048576 bytes read, 98566912 more)")

    monkeypatch.setattr(hub, "hf_hub_download", broken)
    spec = "depth-anything/Depth-Anything-V2-Small-hf"
    with pytest.raises(ModelUnavailable, match="IncompleteRead"):
        load_depth_model(spec, device="cpu", cache_dir=str(tmp_path / "cache"))
    path = settings_file(
        tmp_path, animation_mode="3D", depth_model=spec, models_cache_dir=str(tmp_path / "cache")
    )
    err = refused(3, "render", path)
    assert f"depth_model {shown(spec)} could not be loaded" in err and "IncompleteRead" in err


def test_a_bad_preprocessor_stops_loading_before_the_model_is_read(tmp_path, tiny_depth_model):
    folder = tmp_path / "copy"
    folder.mkdir()
    for path in tiny_depth_model.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    depth_folder(folder, {**GOOD, "image_std": [0, 0, 0]})
    with pytest.raises(DepthModelError, match=r"image_std \[0, 0, 0\]"):
        load_depth_model(str(folder), device="cpu")


def test_good_preprocessors_give_their_values(tmp_path, tiny_depth_model):
    check_depth_model(str(tiny_depth_model))
    settings = depth_checks.preprocessing("x", tiny_depth_model / "preprocessor_config.json")
    assert (settings["size"], settings["multiple"]) == (56, 14)
    missing = depth_checks.preprocessing("x", tmp_path / "absent.json")
    assert missing == {
        "mean": list(depth_checks.DEFAULT_MEAN),
        "std": list(depth_checks.DEFAULT_STD),
        "size": 518,
        "multiple": 14,
    }
    folder = depth_folder(tmp_path / "d", {"size": {"shortest_edge": 384}, "image_std": [1, 1, 1]})
    assert depth_checks.preprocessing("x", folder / "preprocessor_config.json")["size"] == 384


# --- hub ids ---------------------------------------------------------------------------------

BAD_IDS = [
    "foo/bar--baz",
    "foo/..bar",
    "a" * 256 + "/x",
    "x/" + "a" * 256,
    "x/" + "a" * 97,
    "-foo/bar",
    "foo/bar-",
    ".foo/bar",
    "foo/bar.git",
    "foo/b@r",
    "foo/bär",
    "foo/ba r",
    "foo//bar",
    "foo/bar/",
]
GOOD_IDS = [
    "depth-anything/Depth-Anything-V2-Small-hf",
    "timm/ViT-B-16-SigLIP",
    "a_/_b",
    "x/" + "a" * 96,
]


@pytest.mark.parametrize("repo", BAD_IDS)
def test_a_hub_id_no_hub_accepts_is_our_error_for_depth_models_and_perceptors(repo):
    with pytest.raises(DepthModelError, match="ORG/NAME, each part 1 to 96"):
        check_depth_model(repo)
    if repo.count("/") == 1 and "@" not in repo:  # other shapes fail the spec's syntax first
        with pytest.raises(PerceptorError, match="names no valid Hugging Face model id"):
            specs.check_perceptor_spec("hf-hub:" + repo)
    else:
        with pytest.raises(PerceptorError):
            specs.check_perceptor_spec("hf-hub:" + repo)


def test_the_hub_id_check_agrees_with_huggingface_hub():
    validators = pytest.importorskip("huggingface_hub.utils")
    for repo in BAD_IDS + GOOD_IDS:
        try:
            validators.validate_repo_id(repo)
            theirs = True
        except validators.HFValidationError:
            theirs = False
        ours = network.hub_id_problem(repo) is None
        assert ours <= theirs, repo  # never passes an id the hub refuses
        assert ours == (repo in GOOD_IDS), repo


def test_validate_refuses_bad_hub_ids_with_exit_2(tmp_path):
    for changes, setting in (
        ({"perceptors": ["demo", "hf-hub:foo/bar--baz"]}, "perceptors:"),
        ({"animation_mode": "3D", "depth_model": "foo/..bar"}, "depth_model:"),
        ({"animation_mode": "3D", "depth_model": "a" * 256 + "/x"}, "depth_model:"),
    ):
        err = refused(2, "validate", settings_file(tmp_path, **changes))
        assert setting in err and "each part 1 to 96" in err


def test_loading_refuses_a_bad_hub_id_with_our_error(tmp_path):
    with pytest.raises(DepthModelError, match="each part 1 to 96"):
        load_depth_model("foo/bar--baz", device="cpu", cache_dir=str(tmp_path))
    with pytest.raises(PerceptorError, match="each part 1 to 96"):
        ModelCache().perceptor("hf-hub:foo/..bar", cache_dir=str(tmp_path))


# --- perceptor weights: validate says what render would --------------------------------------


@pytest.mark.parametrize("spec", ["ViT-B-32@openai", "RN50", "hf-hub:timm/ViT-B-16-SigLIP"])
def test_validate_reports_weights_render_cannot_have_with_exit_3(tmp_path, monkeypatch, spec):
    monkeypatch.setattr(specs, "cached_tag_weights", lambda model, tag, cache_dir: None)
    path = settings_file(tmp_path, perceptors=["demo", spec], models_cache_dir=str(tmp_path))
    err = refused(3, "validate", path)
    assert "could not download weights" in err and "(no network?)" in err and "['demo']" in err


def test_validate_passes_weights_already_cached_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(specs, "cached_tag_weights", lambda model, tag, cache_dir: "/cache/w.bin")
    path = settings_file(tmp_path, perceptors=["ViT-B-32@openai"])
    code, out, err, *_ = run_cli("validate", path)
    assert code == 0 and "valid" in out, err


def test_hf_hub_offline_counts_as_offline_for_the_hub_only(monkeypatch):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(network, "reachable", lambda *a, **k: True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert network.surely_offline(network.hf_host())
    assert not network.surely_offline("heibox.uni-heidelberg.de")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert not network.surely_offline(network.hf_host())


# --- depth models' config.json ---------------------------------------------------------------


def depth_config(dinov2=None, **changes):
    """The tiny Depth Anything's config.json (as the tiny_depth_model fixture's), with changes
    (dinov2's to backbone_config)."""
    base = dict(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=4, image_size=56,
        patch_size=14, out_indices=[1, 2, 3, 4], model_type="dinov2", reshape_hidden_states=False,
    )  # fmt: skip
    top = dict(
        model_type="depth_anything", reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32],
        reassemble_factors=[4, 2, 1, 0.5], fusion_hidden_size=16, head_hidden_size=8,
        patch_size=14, depth_estimation_type="relative",
    )  # fmt: skip
    return {**top, "backbone_config": {**base, **(dinov2 or {})}, **changes}


BIG = 10**30
# (where, key, value, what the message says is allowed)
BAD_DEPTH_CONFIG = [
    ("config", "model_type", "dpt", "'depth_anything'"),
    ("config", "model_type", "evil", "'depth_anything'"),
    ("config", "model_type", ["depth_anything"], "'depth_anything'"),
    ("config", "model_type", None, "'depth_anything'"),
    ("config", "patch_size", 0, "from 8 to 64"),
    ("config", "patch_size", "14", "from 8 to 64"),
    ("config", "patch_size", [14, 14], "from 8 to 64"),
    ("config", "reassemble_hidden_size", -32, "from 1 to 8192"),
    ("config", "reassemble_hidden_size", True, "from 1 to 8192"),
    ("config", "reassemble_hidden_size", 32.0, "from 1 to 8192"),
    ("config", "reassemble_factors", [4, 2, 1, 0.3], "or their inverses"),
    ("config", "reassemble_factors", [4, 2, 1, -1], "or their inverses"),
    ("config", "reassemble_factors", [4, 2, 1, NAN], "or their inverses"),
    ("config", "reassemble_factors", [4, 2, 1, 1000], "or their inverses"),
    ("config", "reassemble_factors", "4, 2", "a list of 1 to 8"),
    ("config", "reassemble_factors", [1] * 9, "a list of 1 to 8"),
    ("config", "neck_hidden_sizes", [8, 16, 32, BIG], "from 1 to 8192"),
    ("config", "neck_hidden_sizes", [8, 16, 32, INF], "from 1 to 8192"),
    ("config", "neck_hidden_sizes", [], "a list of 1 to 8"),
    ("config", "neck_hidden_sizes", 32, "a list of 1 to 8"),
    ("config", "neck_hidden_sizes", {"a": 1}, "a list of 1 to 8"),
    ("config", "fusion_hidden_size", 1, "from 2 to 8192"),
    ("config", "fusion_hidden_size", 10**6, "from 2 to 8192"),
    ("config", "fusion_hidden_size", None, "from 2 to 8192"),
    ("config", "head_hidden_size", "8", "from 1 to 8192"),
    ("config", "head_hidden_size", 0, "from 1 to 8192"),
    ("config", "head_in_index", 99, "from -8 to 7"),
    ("config", "depth_estimation_type", "absolute", "'relative' or 'metric'"),
    ("config", "max_depth", 0, "from 0.001 to 1000000"),
    ("config", "max_depth", INF, "from 0.001 to 1000000"),
    ("config", "max_depth", None, "from 0.001 to 1000000"),
    ("config", "max_depth", "80", "from 0.001 to 1000000"),
    ("config", "backbone_config", [1, 2], "a mapping"),
    ("config", "backbone_config", "dinov2", "a mapping"),
    ("config", "backbone", "facebook/dinov2-giant", "a backbone named here is fetched"),
    ("config", "use_timm_backbone", True, "a backbone named here is fetched"),
    ("config", "use_pretrained_backbone", True, "a backbone named here is fetched"),
    ("config", "backbone_kwargs", {"out_indices": [1]}, "a backbone named here is fetched"),
    ("backbone_config", "model_type", "vit", "'dinov2'"),
    ("backbone_config", "hidden_size", "abc", "from 1 to 8192"),
    ("backbone_config", "hidden_size", 131072, "from 1 to 8192"),
    ("backbone_config", "hidden_size", -1, "from 1 to 8192"),
    ("backbone_config", "hidden_size", BIG, "from 1 to 8192"),
    ("backbone_config", "hidden_size", 1e300, "from 1 to 8192"),
    ("backbone_config", "hidden_size", [32], "from 1 to 8192"),
    ("backbone_config", "num_hidden_layers", 10**9, "from 1 to 128"),
    ("backbone_config", "num_hidden_layers", 0, "from 1 to 128"),
    ("backbone_config", "num_hidden_layers", False, "from 1 to 128"),
    ("backbone_config", "num_attention_heads", 0, "from 1 to 256"),
    ("backbone_config", "num_attention_heads", NAN, "from 1 to 256"),
    ("backbone_config", "mlp_ratio", 4.5, "from 1 to 16"),
    ("backbone_config", "mlp_ratio", 1000, "from 1 to 16"),
    ("backbone_config", "image_size", 10**6, "from 1 to 4096"),
    ("backbone_config", "image_size", [56, 56], "from 1 to 4096"),
    ("backbone_config", "patch_size", 1, "from 8 to 64"),
    ("backbone_config", "num_channels", 4, "3 (RGB)"),
    ("backbone_config", "qkv_bias", "yes", "true or false"),
    ("backbone_config", "use_swiglu_ffn", 1, "true or false"),
    ("backbone_config", "out_indices", "all", "a list of whole numbers"),
    ("backbone_config", "out_indices", [1, 2, 3, -4], "a list of whole numbers"),
]


def no_depth_model_built(monkeypatch):
    """Make building or reading a depth model fail the test."""
    from transformers import AutoModelForDepthEstimation

    def built(*args, **kwargs):
        pytest.fail("a depth model was built")

    monkeypatch.setattr(AutoModelForDepthEstimation, "from_pretrained", built)


def refused_depth(folder: Path, monkeypatch) -> str:
    """check_depth_model's and load_depth_model's message for a folder, nothing built."""
    no_depth_model_built(monkeypatch)
    with pytest.raises(DepthModelError) as checked:
        check_depth_model(str(folder))
    with pytest.raises(DepthModelError) as loaded:
        load_depth_model(str(folder), device="cpu")
    assert str(checked.value) == str(loaded.value)
    assert len(str(checked.value)) < 3000
    return str(checked.value)


@pytest.mark.parametrize("where,key,value,allowed", BAD_DEPTH_CONFIG)
def test_a_bad_depth_config_value_is_refused_before_building(
    tmp_path, monkeypatch, where, key, value, allowed
):
    if where == "config":
        config = depth_config(**{key: value})
    else:
        config = depth_config({key: value})
    message = refused_depth(depth_folder(tmp_path / "d", config=config), monkeypatch)
    assert "config.json is not usable" in message
    assert f"{where}.{key} {shown(value)}; allowed: " in message and allowed in message


@pytest.mark.parametrize(
    "config,problem",
    [
        ({**depth_config(), "auto_map": {"AutoModel": "evil.Evil"}}, "config.auto_map {'Aut"),
        (depth_config({"auto_map": {"AutoBackbone": "evil.Evil"}}), "backbone_config.auto_map"),
        ({**depth_config(), "trust_remote_code": True}, "config.trust_remote_code True is not"),
        ({k: v for k, v in depth_config().items() if k != "model_type"}, "model_type is missing"),
        (depth_config({"num_attention_heads": 3}), "a divisor of hidden_size (32)"),
        (depth_config(reassemble_hidden_size=64), "the backbone's hidden_size (32)"),
        (depth_config(neck_hidden_sizes=[8, 16, 32]), "one per reassemble factor"),
        (depth_config({"out_indices": [1, 2]}), "one per reassemble factor"),
        (depth_config({"out_indices": [1, 2, 3, 9]}), "indices of the 4 layers"),
        (depth_config({"image_size": 8, "patch_size": 14}), "at least its patch_size (14)"),
        ("[1, 2]", "holds [1, 2], not a JSON object"),
        ("null", "holds None, not a JSON object"),
        ('"depth_anything"', "not a JSON object"),
        ("not json", "cannot be read"),
        ("[" * 100_000 + "]" * 100_000, "cannot be read"),
        ('{"a": "' + "x" * 300_000 + '"}', f"over {network.MAX_CONFIG_BYTES} bytes"),
        (b"\xff\xfe{}", "cannot be read"),
        ('{"model_type": "depth_anything", "max_depth": NaN}', "config.max_depth nan"),
        ('{"patch_size": 1' + "0" * 5000 + "}", "cannot be read"),
    ],
)
def test_a_malformed_depth_config_is_refused_before_building(
    tmp_path, monkeypatch, config, problem
):
    message = refused_depth(depth_folder(tmp_path / "d", config=config), monkeypatch)
    assert "depth_model" in message and problem in message


def test_several_bad_depth_config_keys_are_all_named_in_one_error(tmp_path):
    config = depth_config({"hidden_size": "abc"}, fusion_hidden_size=-1, auto_map={})
    with pytest.raises(DepthModelError) as error:
        check_depth_model(str(depth_folder(tmp_path / "d", config=config)))
    message = str(error.value)
    assert all(
        k in message
        for k in ("backbone_config.hidden_size 'abc'", "fusion_hidden_size -1", "auto_map {}")
    )


LARGE_BACKBONE = dict(
    hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, image_size=518,
    out_indices=[5, 12, 18, 24],
)  # fmt: skip
LARGE = dict(
    reassemble_hidden_size=1024, neck_hidden_sizes=[256, 512, 1024, 1024],
    fusion_hidden_size=256, head_hidden_size=32,
)  # fmt: skip


@pytest.mark.parametrize(
    "backbone,changes",
    [
        (dict(hidden_size=8192, num_attention_heads=64, num_hidden_layers=128), {}),
        (dict(LARGE_BACKBONE, num_hidden_layers=96, out_indices=[5, 12, 18, 96]), LARGE),
        (dict(mlp_ratio=16, hidden_size=4096, num_attention_heads=32), {}),
        (dict(image_size=4096, patch_size=8, hidden_size=8192, num_attention_heads=8), {}),
        ({}, dict(fusion_hidden_size=8192)),
        ({}, dict(neck_hidden_sizes=[8192] * 4, reassemble_factors=[16, 16, 16, 16])),
    ],
)
def test_a_depth_config_too_big_for_memory_is_refused_from_its_shape_before_building(
    tmp_path, monkeypatch, backbone, changes
):
    changes = {"reassemble_hidden_size": backbone.get("hidden_size", 32), **changes}
    folder = depth_folder(tmp_path / "d", config=depth_config(backbone, **changes))
    with measured() as cost:
        message = refused_depth(folder, monkeypatch)
    assert f"allowed: at most {depth_checks.MAX_DEPTH_PARAMETERS:,}" in message
    assert "parameters" in message and " GB in float32" in message
    assert cost["peak_mb"] < 10 and cost["calls"] < MAX_CALLS, cost


def test_validate_names_depth_model_and_the_bad_config_key_with_exit_2(tmp_path):
    for name, config in {
        "hidden_size": depth_config({"hidden_size": "abc"}),
        "auto_map": {**depth_config(), "auto_map": {"AutoModel": "evil.Evil"}},
        "parameters": depth_config(
            {"num_hidden_layers": 128, "hidden_size": 8192}, reassemble_hidden_size=8192
        ),
    }.items():
        folder = depth_folder(tmp_path / name, GOOD, config)
        path = settings_file(tmp_path, animation_mode="3D", depth_model=str(folder))
        err = refused(2, "validate", path)
        assert "depth_model:" in err and name in err and "allowed" in err


def build_depth_anything(config: dict):
    """The model transformers builds from a config.json's dict, on the meta device (shapes
    only: no memory)."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation

    with torch.device("meta"):
        return DepthAnythingForDepthEstimation(DepthAnythingConfig.from_dict(config))


@pytest.mark.parametrize(
    "config",
    [
        depth_config(),
        {"model_type": "depth_anything"},  # transformers' defaults: Depth Anything V2 Small's
        {  # Depth Anything V2 Small's config.json as the hub has it (transformers 4.x)
            **depth_config(
                {
                    "hidden_size": 384,
                    "num_attention_heads": 6,
                    "image_size": 518,
                    "num_hidden_layers": 12,
                    "out_indices": [3, 6, 9, 12],
                    "out_features": ["stage3", "stage6", "stage9", "stage12"],
                    "layerscale_value": 1.0,
                    "architectures": ["Dinov2Model"],
                },
                reassemble_hidden_size=384,
                neck_hidden_sizes=[48, 96, 192, 384],
                fusion_hidden_size=64,
                head_hidden_size=32,
            ),
            "architectures": ["DepthAnythingForDepthEstimation"],
            "backbone": None,
            "backbone_kwargs": None,
            "use_pretrained_backbone": False,
            "use_timm_backbone": False,
            "torch_dtype": "float32",
            "transformers_version": "4.42.0.dev0",
        },  # fmt: skip
        depth_config(LARGE_BACKBONE, **LARGE),
        depth_config(
            {"use_swiglu_ffn": True, "qkv_bias": False, "use_mask_token": False, "mlp_ratio": 3},
            reassemble_factors=[8, 1, 0.25, 0.5],
            depth_estimation_type="metric",
            max_depth=20,
        ),
        depth_config(
            {"out_indices": None, "num_hidden_layers": 2},
            neck_hidden_sizes=[8],
            reassemble_factors=[2],
            head_in_index=0,
        ),  # fmt: skip
    ],
)
def test_the_depth_parameter_count_is_the_built_models(tmp_path, config):
    folder = depth_folder(tmp_path / "d", config=config)
    count = depth_checks.check_config("x", folder / "config.json")
    assert count == sum(p.numel() for p in build_depth_anything(config).parameters())
    assert (
        count
        <= depth_checks.DEPTH_ANYTHING_LARGE_PARAMETERS
        <= depth_checks.MAX_DEPTH_PARAMETERS / 2
    )


def test_the_tiny_depth_model_passes_and_its_count_is_the_loaded_models(tmp_path, tiny_depth_model):
    check_depth_model(str(tiny_depth_model))
    count = depth_checks.check_config("x", tiny_depth_model / "config.json")
    model = load_depth_model(str(tiny_depth_model), device="cpu").model
    assert count == sum(p.numel() for p in model.parameters())
    ours = depth_folder(tmp_path / "d", config=depth_config())  # the tests' own tiny config
    assert depth_checks.check_config("x", ours / "config.json") == count


EVIL = """
from pathlib import Path
Path({marker!r}).write_text("code from the model folder ran")
"""


def test_auto_map_is_never_honoured_even_when_the_check_is_bypassed(
    tmp_path, monkeypatch, tiny_depth_model
):
    folder = tmp_path / "evil"
    folder.mkdir()
    for path in tiny_depth_model.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "evil.py").write_text(EVIL.format(marker=str(tmp_path / "ran")))
    config = json.loads((folder / "config.json").read_text())
    remote = {"AutoConfig": "evil.EvilConfig", "AutoModelForDepthEstimation": "evil.Evil"}
    (folder / "config.json").write_text(json.dumps({**config, "auto_map": remote}))
    with pytest.raises(DepthModelError, match=r"config.auto_map .* is not allowed: code named"):
        check_depth_model(str(folder))
    monkeypatch.setattr(depth, "check_depth_model", lambda *a: None)
    monkeypatch.setattr(depth, "check_config", lambda *a: 0)
    for model_type in ("depth_anything", "evil"):  # a type transformers has, and one it lacks
        (folder / "config.json").write_text(
            json.dumps({**config, "auto_map": remote, "model_type": model_type})
        )
        try:
            load_depth_model(str(folder), device="cpu")
        except DepthModelError:
            pass  # refusing is fine; running the folder's code is not
        assert not (tmp_path / "ran").exists()


# --- local-dir perceptors' open_clip_config.json ---------------------------------------------


def clip_folder(folder: Path, content) -> str:
    """A local-dir perceptor folder (a weights file present) with this open_clip_config.json
    (a dict, dumped as JSON, or the file's text or bytes); its spec."""
    folder.mkdir(exist_ok=True)
    (folder / "open_clip_model.safetensors").write_bytes(b"")
    write(folder / "open_clip_config.json", content)
    return f"local-dir:{folder}"


def model_cfg(vision=None, text=None, **changes) -> dict:
    """A whole open_clip_config.json around TINY_VIT's model_cfg, with changes."""
    towers = {
        "vision_cfg": {**TINY_VIT["vision_cfg"], **(vision or {})},
        "text_cfg": {**TINY_VIT["text_cfg"], **(text or {})},
    }
    return {"model_cfg": {**TINY_VIT, **towers, **changes}}


# (where, key, value, what the message says is allowed)
BAD_CLIP_CONFIG = [
    ("model_cfg", "embed_dim", "24", "from 1 to 8192"),
    ("model_cfg", "embed_dim", 0, "from 1 to 8192"),
    ("model_cfg", "embed_dim", -24, "from 1 to 8192"),
    ("model_cfg", "embed_dim", True, "from 1 to 8192"),
    ("model_cfg", "embed_dim", 24.0, "from 1 to 8192"),
    ("model_cfg", "embed_dim", BIG, "from 1 to 8192"),
    ("model_cfg", "embed_dim", INF, "from 1 to 8192"),
    ("model_cfg", "embed_dim", [24], "from 1 to 8192"),
    ("model_cfg", "vision_cfg", [1], "a mapping"),
    ("model_cfg", "text_cfg", "clip", "a mapping"),
    ("model_cfg", "quick_gelu", "yes", "true or false"),
    ("model_cfg", "custom_text", 1, "true or false"),
    ("model_cfg", "init_logit_scale", NAN, "a number from -100 to 100"),
    ("model_cfg", "init_logit_bias", "x", "null or a number"),
    ("vision_cfg", "width", "abc", "from 1 to 8192"),
    ("vision_cfg", "width", 131072, "from 1 to 8192"),
    ("vision_cfg", "width", None, "from 1 to 8192"),
    ("vision_cfg", "layers", 10**9, "from 1 to 256"),
    ("vision_cfg", "layers", 0, "from 1 to 256"),
    ("vision_cfg", "layers", -1, "from 1 to 256"),
    ("vision_cfg", "layers", [1, 1, 1], "4 whole numbers"),
    ("vision_cfg", "layers", [1, 1, 1, 10**6], "4 whole numbers"),
    ("vision_cfg", "layers", 2.5, "from 1 to 256"),
    ("vision_cfg", "layers", "12", "from 1 to 256"),
    ("vision_cfg", "patch_size", 0, "a whole number"),
    ("vision_cfg", "patch_size", 8.0, "a whole number"),
    ("vision_cfg", "patch_size", [8, 8], "a whole number"),
    ("vision_cfg", "image_size", -32, "a whole number or [height, width]"),
    ("vision_cfg", "image_size", 10**5, "from 1 to 2048"),
    ("vision_cfg", "image_size", [32], "a whole number or [height, width]"),
    ("vision_cfg", "image_size", [32, "x"], "a whole number or [height, width]"),
    ("vision_cfg", "head_width", 0, "from 1 to 8192"),
    ("vision_cfg", "head_width", NAN, "from 1 to 8192"),
    ("vision_cfg", "mlp_ratio", 0, "from 0.01 to 16"),
    ("vision_cfg", "mlp_ratio", 1e9, "from 0.01 to 16"),
    ("vision_cfg", "mlp_ratio", INF, "from 0.01 to 16"),
    ("vision_cfg", "patch_dropout", 1, "from 0 to 0.99"),
    ("vision_cfg", "ls_init_value", "x", "null or a number"),
    ("vision_cfg", "pool_type", "max", "'tok' or 'avg'"),
    ("vision_cfg", "pos_embed_type", "sin_cos_2d", "'learnable'"),
    ("vision_cfg", "no_ln_pre", "false", "true or false"),
    ("text_cfg", "width", -16, "from 1 to 8192"),
    ("text_cfg", "heads", 0, "from 1 to 8192"),
    ("text_cfg", "heads", "2", "from 1 to 8192"),
    ("text_cfg", "layers", 1e300, "from 1 to 256"),
    ("text_cfg", "context_length", 0, "from 1 to 4096"),
    ("text_cfg", "context_length", 10**7, "from 1 to 4096"),
    ("text_cfg", "context_length", None, "from 1 to 4096"),
    ("text_cfg", "vocab_size", 2**40, "from 1 to 1048576"),
    ("text_cfg", "vocab_size", 0, "from 1 to 1048576"),
    ("text_cfg", "vocab_size", [49408], "from 1 to 1048576"),
    ("text_cfg", "pool_type", "mean", "'argmax', 'last', 'first' or 'eos'"),
    ("text_cfg", "proj_type", "mlp", "'linear' or 'none'"),
    ("text_cfg", "eos_id", -1, "a token id"),
    ("text_cfg", "embed_cls", None, "true or false"),
]


def no_perceptor_built(monkeypatch):
    """Make open_clip building a model fail the test."""
    import open_clip

    def built(*args, **kwargs):
        pytest.fail("a perceptor was built")

    monkeypatch.setattr(open_clip, "create_model", built)


def refused_perceptor(spec: str, monkeypatch) -> str:
    """check_perceptor_spec's and loading's message for a spec, nothing built."""
    no_perceptor_built(monkeypatch)
    with pytest.raises(PerceptorError) as checked:
        specs.check_perceptor_spec(spec)
    with pytest.raises(PerceptorError) as loaded:
        ModelCache().perceptor(spec)
    parsed = specs.parse_perceptor_spec(spec)
    with pytest.raises(PerceptorError) as direct:
        perceptors.load_perceptor(parsed, device="cpu", dtype=torch.float32)
    assert str(checked.value) == str(loaded.value) == str(direct.value)
    assert len(str(checked.value)) < 3000
    return str(checked.value)


@pytest.mark.parametrize("where,key,value,allowed", BAD_CLIP_CONFIG)
def test_a_bad_open_clip_config_value_is_refused_before_building(
    tmp_path, monkeypatch, where, key, value, allowed
):
    if where == "model_cfg":
        config = model_cfg(**{key: value})
    else:
        config = model_cfg(**{where.split("_")[0]: {key: value}})
    message = refused_perceptor(clip_folder(tmp_path / "p", config), monkeypatch)
    assert "open_clip_config.json is not usable" in message
    assert f"{where}.{key} {shown(value)}; allowed: " in message and allowed in message


@pytest.mark.parametrize(
    "config,problem",
    [
        (model_cfg(vision={"timm_model_name": "vit_giant_patch14_224"}), "a timm image tower"),
        (model_cfg(text={"hf_model_name": "org/huge-text-model"}), "a Hugging Face text tower"),
        (model_cfg(text={"hf_tokenizer_name": "org/tok"}), "a Hugging Face tokenizer"),
        (model_cfg(text={"tokenizer_kwargs": {"clean": "x"}}), "a Hugging Face tokenizer"),
        (model_cfg(multimodal_cfg={"width": 512}), "a CoCa captioning model is not a perceptor"),
        (model_cfg(vision={"attentional_pool": True}), "attentional pooling"),
        (model_cfg(vision={"norm_kwargs": {"eps": 1e-6}}), "arguments passed on to layers"),
        (model_cfg(text={"act_kwargs": {"approximate": "x"}}), "arguments passed on to layers"),
        (model_cfg(text={"qk_norm": True}), "custom attention blocks"),
        (model_cfg(vision={"foo": 1}), "'foo' not keys pytti_nb can check; allowed keys: "),
        (model_cfg(auto_map={"a": "b"}), "model_cfg: 'auto_map' not keys pytti_nb can check"),
        ({"model_cfg": {"embed_dim": 24}}, "model_cfg.vision_cfg is missing"),
        ({"model_cfg": {k: v for k, v in TINY_VIT.items() if k != "embed_dim"}}, "embed_dim is"),
        (model_cfg(vision={"head_width": 12}), "allowed: a divisor of width (32)"),
        (model_cfg(text={"heads": 3}), "text_cfg.heads 3; allowed: a divisor of width"),
        (model_cfg(vision={"patch_size": 64}), "into 0 patches"),
        (model_cfg(vision={"patch_size": 1, "image_size": 2048}), "into 4,194,304 patches"),
        (model_cfg(vision={"patch_size": None}), "a ViT's is a whole number"),
        (
            {"model_cfg": TINY_RESNET | {"vision_cfg": TINY_RESNET["vision_cfg"] | {"width": 7}}},
            "allowed: an even width",
        ),  # fmt: skip
        (
            {
                "model_cfg": TINY_RESNET
                | {"vision_cfg": TINY_RESNET["vision_cfg"] | {"image_size": [32, 32]}}
            },
            "an image_size a multiple of 32",
        ),  # fmt: skip
        ({**model_cfg(), "preprocess_cfg": {"std": [0, 0, 0]}}, "preprocess_cfg.std [0, 0, 0]"),
        ({**model_cfg(), "preprocess_cfg": {"mean": "x"}}, "preprocess_cfg.mean 'x'"),
        ({**model_cfg(), "preprocess_cfg": [1]}, "preprocess_cfg [1]; allowed: a mapping"),
        ({"model_cfg": [1]}, "no 'model_cfg' mapping"),
        (TINY_VIT, "no 'model_cfg' mapping"),
        ("[1, 2]", "holds [1, 2], not an object"),
        ("null", "holds None, not an object"),
        ("not json", "cannot be read"),
        ("[" * 100_000 + "]" * 100_000, "cannot be read"),
        ('{"a": "' + "x" * 300_000 + '"}', f"over {network.MAX_CONFIG_BYTES} bytes"),
        (b"\xff\xfe{}", "cannot be read"),
        ('{"model_cfg": {"embed_dim": 1' + "0" * 5000 + "}}", "cannot be read"),
        (json_text(model_cfg(text={"width": NAN})), "text_cfg.width nan"),
    ],
)
def test_a_malformed_open_clip_config_is_refused_before_building(
    tmp_path, monkeypatch, config, problem
):
    message = refused_perceptor(clip_folder(tmp_path / "p", config), monkeypatch)
    assert "perceptor 'local-dir:" in message and problem in message


BIGG = {  # open_clip's ViT-bigG-14
    "embed_dim": 1280,
    "vision_cfg": {"image_size": 224, "layers": 48, "width": 1664, "head_width": 104,
                   "mlp_ratio": 4.9231, "patch_size": 14},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 1280, "heads": 20,
                 "layers": 32},
}  # fmt: skip


@pytest.mark.parametrize(
    "vision,text",
    [
        ({"width": 8192, "head_width": 64, "layers": 256}, {}),
        ({}, {"width": 8192, "heads": 64, "layers": 256}),
        ({}, {"vocab_size": 2**20, "width": 8192, "heads": 8}),
        ({"layers": [128] * 4, "width": 1024, "head_width": 64, "patch_size": None}, {}),
        ({"width": 8192, "mlp_ratio": 16, "layers": 12, "head_width": 64}, {}),
    ],
)
def test_an_open_clip_config_too_big_for_memory_is_refused_before_building(
    tmp_path, monkeypatch, vision, text
):
    spec = clip_folder(tmp_path / "p", model_cfg(vision, text))
    with measured() as cost:
        message = refused_perceptor(spec, monkeypatch)
    assert f"allowed: at most {clip_config.MAX_PERCEPTOR_PARAMETERS:,}" in message
    assert "parameters" in message and " GB in float32" in message
    assert cost["peak_mb"] < 10 and cost["calls"] < MAX_CALLS, cost


def test_validate_names_perceptors_and_the_bad_clip_key_with_exit_2(tmp_path):
    for name, config in {
        "width": model_cfg({"width": "abc"}),
        "timm_model_name": model_cfg({"timm_model_name": "vit_huge_patch14_224"}),
        "parameters": model_cfg({"width": 8192, "head_width": 64, "layers": 256}),
    }.items():
        spec = clip_folder(tmp_path / name, config)
        err = refused(2, "validate", settings_file(tmp_path, perceptors=["demo", spec]))
        assert "perceptors:" in err and name in err and "allowed" in err


def build_clip(cfg: dict):
    """The CLIP open_clip builds from a model_cfg, on the meta device (shapes only)."""
    from open_clip.model import CLIP, CustomTextCLIP

    cfg = dict(cfg)
    with torch.device("meta"):
        return (CustomTextCLIP if cfg.pop("custom_text", False) else CLIP)(**cfg)


@pytest.mark.parametrize(
    "cfg",
    [
        TINY_VIT,
        TINY_RESNET,
        BIGG,
        model_cfg(
            {"image_size": [32, 48], "ls_init_value": 0.1, "no_ln_pre": True, "mlp_ratio": 2.5},
            {"embed_cls": True, "proj_bias": True, "ls_init_value": 1e-5, "pool_type": "last"},
            init_logit_bias=-10.0,
            custom_text=True,
        )["model_cfg"],
        model_cfg(text={"proj_type": "none", "no_causal_mask": True})["model_cfg"],
    ],
)
def test_the_clip_parameter_count_is_the_built_models(tmp_path, cfg):
    spec = clip_folder(tmp_path / "p", {"model_cfg": cfg})
    specs.check_perceptor_spec(spec)
    count = clip_config.check_open_clip_config(spec, tmp_path / "p")
    assert count == sum(p.numel() for p in build_clip(cfg).parameters())
    assert count <= clip_config.VIT_BIGG_PARAMETERS <= clip_config.MAX_PERCEPTOR_PARAMETERS / 1.9


def test_every_plain_open_clip_model_passes_with_its_exact_count():
    from open_clip.factory import _MODEL_CONFIGS

    for name in ("ViT-B-32", "RN50", "ViT-L-14-336", "RN50x64", "ViT-B-16-quickgelu"):
        cfg = _MODEL_CONFIGS[name]
        problems: list[str] = []
        shape = clip_config._checked_model_cfg(cfg, problems)
        assert not problems, (name, problems)
        built = sum(p.numel() for p in build_clip(cfg).parameters())
        assert clip_config.clip_parameters(*shape) == built, name


def test_the_tiny_local_dir_perceptors_pass_and_load_with_their_counts(tmp_path):
    for name, cfg, weights in (
        ("vit", TINY_VIT, "open_clip_model.safetensors"),
        ("rn", TINY_RESNET, "weights.pth"),
    ):
        spec = _write_local_dir(tmp_path / name, cfg, weights, 0.5)
        specs.check_perceptor_spec(spec)
        count = clip_config.check_open_clip_config(spec, tmp_path / name)
        model = ModelCache().perceptor(spec).model
        assert count == sum(p.numel() for p in model.parameters())
    demo = clip_config.check_open_clip_config("demo", specs.demo_dir())
    assert 0 < demo < 10_000_000


def test_raft_weights_are_where_torchvision_and_torch_hub_put_them(monkeypatch, tmp_path):
    """flow_weights knows RAFT's URLs and torch's hub folder without importing torch; both are
    torchvision's and torch's own."""
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

    from pytti_nb.models import flow_weights

    assert flow_weights.RAFT_URLS == {
        "raft_small": Raft_Small_Weights.DEFAULT.url,
        "raft_large": Raft_Large_Weights.DEFAULT.url,
    }
    for env in ({}, {"XDG_CACHE_HOME": str(tmp_path / "x")}, {"TORCH_HOME": str(tmp_path / "t")}):
        for name in ("XDG_CACHE_HOME", "TORCH_HOME"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert flow_weights.torch_hub_dir() == Path(torch.hub.get_dir())
