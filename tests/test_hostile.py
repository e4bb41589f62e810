"""Hostile input: every kind a probe found (and others of the same kinds) ends in our own error
and a documented exit code, within bounded memory, time and message length; a PNG or a file
someone else wrote never decides where a render writes or what it deletes; links never lead a
render out of its run folder; one render at a time per run folder."""

import io
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from inprocess import run_cli, run_main
from PIL import Image, PngImagePlugin
from tiny import tiny_settings

from pytti_nb.config.overrides import apply_overrides
from pytti_nb.config.settings import from_dict, to_dict
from pytti_nb.errors import OutputError, SettingsError, shown
from pytti_nb.io import run_folder
from pytti_nb.io.bounded import load_yaml
from pytti_nb.io.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from pytti_nb.io.png_meta import png_bytes, read_png_metadata

ROOT = Path(__file__).resolve().parent.parent
MAX_MESSAGE = 20_000  # characters of stderr any hostile input may cause
MAX_PEAK_MB = 150  # Python memory any hostile input may take (tracemalloc)
MAX_CALLS = (
    20_000_000  # function calls a hostile input may cost (tests/inprocess.py; ~2M the most seen)
)
TINY = tiny_settings(steps_per_scene=4, save_every=2)
BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{b}: &{b} [" + ",".join([f"*{a}"] * 9) + "]"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    + ["scenes: *i", "width: *i", "widht: *i"]
)


pytestmark = pytest.mark.usefixtures("offline", "perceptor_check_imported")


def refused(code, *argv, calls=MAX_CALLS):
    """Run argv, which must fail with `code` and a short, bounded message; stderr."""
    got, out, err, peak, made = run_cli(*argv)
    assert got == code, (got, out[-2000:], err[-2000:])
    assert "Traceback" not in err and err.startswith("error: ")
    assert len(err) < MAX_MESSAGE and len(out) < MAX_MESSAGE
    assert peak < MAX_PEAK_MB and made < calls, (peak, made)
    return err


def write(folder: Path, name: str, content) -> Path:
    path = folder / name
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return path


def png_with_chunk(path: Path, text: str, key="pytti_nb") -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_itxt(key, text, zip=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path, pnginfo=info)
    return path


def png_chunks(data: bytes):
    """(type, body) of every chunk of PNG bytes."""
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def png_from_chunks(chunks) -> bytes:
    """PNG bytes of chunks, every checksum correct."""
    out = b"\x89PNG\r\n\x1a\n"
    for kind, body in chunks:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
    return out


def small_png(w=16, h=16) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def with_size(data: bytes, w: int, h: int) -> bytes:
    """The PNG with its header claiming w x h (checksums fixed): a decompression bomb."""
    chunks = png_chunks(data)
    kind, body = chunks[0]
    chunks[0] = (kind, struct.pack(">II", w, h) + body[8:])
    return png_from_chunks(chunks)


def corrupt_pixels(data: bytes) -> bytes:
    """The PNG with garbage pixel data under valid checksums."""
    chunks = [
        (k, b"\x78\x9c" + bytes(range(200)) if k == b"IDAT" else b) for k, b in png_chunks(data)
    ]
    return png_from_chunks(chunks)


def files_under(folder: Path):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# --- size: files, expansions, values, messages ---------------------------------------------


@pytest.mark.parametrize("command", ["validate", "render", "import-pytti"])
def test_a_yaml_anchor_bomb_is_refused_at_once(command, tmp_path):
    path = write(tmp_path, "bomb.yaml", BOMB)
    extra = [tmp_path / "x.yaml"] if command == "import-pytti" else []
    err = refused(2, command, path, *extra, calls=500_000)
    assert "expands to more than" in err and not (tmp_path / "x.yaml").exists()


def test_the_anchor_bomb_in_a_real_process_stays_within_memory(tmp_path):
    def peak_mb(*argv):
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytti_nb", *argv],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, proc.stderr.read()

    base_code, base, _ = peak_mb("validate", ROOT / "examples" / "demo.yaml")
    code, peak, err = peak_mb("validate", write(tmp_path, "bomb.yaml", BOMB))
    assert base_code == 0 and code == 2 and len(err) < MAX_MESSAGE
    assert peak < base + 100, (peak, base)


@pytest.mark.parametrize(
    "name,content,problem",
    [
        ("big.yaml", "scenes: " + "a" * 300_000, "larger than"),
        ("deep.yaml", "scenes: " + "[" * 5000 + "]" * 5000, "nested more than"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "nested more than"),
        ("deep.txt", "{" + '"a":[' * 3000 + "]" * 3000 + "}", "nested"),
        ("int.yaml", "width: " + "9" * 10_000, "too many digits"),
        ("long.yaml", yaml.safe_dump({**TINY, "scenes": "a" * 100_000}), "at most 20000"),
        ("prompts.yaml", yaml.safe_dump({**TINY, "scenes": "|".join("a" * 9000)}), "at most 2000"),
        ("scenes.yaml", yaml.safe_dump({**TINY, "scenes": "||".join("a" * 1500)}), "at most 1000"),
        ("keys.yaml", "".join(f"k{i}: 1\n" for i in range(1000)), "more problem(s)"),
        ("list.yaml", yaml.safe_dump({"perceptors": ["demo"] * 1000}), "at most 32"),
        ("cyclic.yaml", "scenes: &a [*a]", "contains itself"),
    ],
)
def test_oversized_settings_are_refused_with_a_short_message(name, content, problem, tmp_path):
    err = refused(2, "validate", write(tmp_path, name, content))
    assert problem in err


def test_an_interpolation_bomb_in_a_pytti_file_is_refused(tmp_path):
    lines = [f"k{i}: ${{k{i + 1}}}${{k{i + 1}}}" for i in range(60)] + ["k60: abcdef"]
    text = "# @package _global_\nscenes: a\n" + "\n".join(lines)
    assert "expands to more than" in refused(2, "validate", write(tmp_path, "i.yaml", text))


def test_a_deep_chain_of_interpolations_is_refused_not_a_recursion_error(tmp_path):
    lines = [f"k{i}: ${{k{i + 1}}}" for i in range(600)] + ["k600: abcdef"]
    text = "# @package _global_\nscenes: a\n" + "\n".join(lines)
    assert "nest more than 100 deep" in refused(2, "validate", write(tmp_path, "c.yaml", text))


def test_every_quoted_value_is_short():
    assert len(shown("x" * 10**6)) <= 80 and "..." in shown("x" * 10**6)
    nested = []
    for _ in range(200):
        nested = [nested, nested]
    assert len(shown(nested)) <= 80
    with pytest.raises(SettingsError) as e:
        from_dict({"scenes": ["a" * 10**5] * 10, "k" * 10**5: 1, "width": "9" * 10**5})
    assert max(len(p) for p in e.value.problems) < 400


def test_settings_at_every_bound_round_trip_through_png_metadata(tmp_path):
    heavy = "\U0001f600"  # four UTF-8 bytes each
    texts = ("scene_prefix", "scene_suffix", "direct_image_prompts", "vqgan_model",
             "depth_model", "file_namespace")  # fmt: skip
    paths = ("init_image", "target_palette", "video_path", "input_audio", "models_cache_dir")
    most = {"scenes": "a" + heavy * 19_998, **{k: heavy * 9_999 for k in texts}}
    long_path = ('"' * 255 + "/") * 15  # quotes: two bytes in JSON; names of 255 bytes at most
    s = from_dict({**most, **{k: long_path for k in paths}})
    path = tmp_path / "f.png"
    path.write_bytes(png_bytes(np.zeros((8, 8, 3), np.uint8), {"settings": to_dict(s)}))
    assert read_png_metadata(path)["settings"] == to_dict(s)
    with pytest.raises(SettingsError, match="characters of text in all"):
        from_dict({**most, **{k: ("p" * 255 + "/") * 16 for k in paths}})


# --- ordinary bad input: our errors, never a traceback -------------------------------------


@pytest.mark.parametrize(
    "name,content,problem",
    [
        ("list.yaml", "- a\n- b\n", "got a list"),
        ("scalar.yaml", "hello\n", "got a single value 'hello'"),
        ("number.json", "42", "got a single value 42"),
        ("latin1.yaml", b"scenes: caf\xe9\n", "not UTF-8 text"),
        ("garbage.yaml", bytes(range(256)) * 4, "not UTF-8"),
        ("tuple_key.txt", "SETTINGS: {(1, 2): 3}", ""),
        ("unhashable.yaml", "? [a, b]\n: 1\n", "not valid YAML"),
        ("set.yaml", "scenes: !!set {a, b}\n", "not valid YAML"),
        ("python.yaml", "scenes: !!python/object:os.system {}\n", "not valid YAML"),
        ("nul.yaml", yaml.safe_dump({**TINY, "init_image": "a\0b.png"}), "control character"),
        ("surrogate.json", '{"scenes": "a \\ud800 b"}', "unpaired surrogate"),
        ("namespace.yaml", yaml.safe_dump({**TINY, "file_namespace": "x" * 300}), "at most 200"),
        ("namespace_nul.yaml", yaml.safe_dump({**TINY, "file_namespace": "a\0"}), "control"),
        ("filters.yaml", yaml.safe_dump({**TINY, "input_audio_filters": [[1]]}), "filter 1"),
        ("filters2.yaml", "input_audio_filters: {a: 1}\nscenes: a\n", "not a list of filters"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "render", "import-pytti"])
def test_ordinary_bad_files_are_exit_2(command, name, content, problem, tmp_path):
    path = write(tmp_path, name, content)
    extra = [tmp_path / "out.yaml"] if command == "import-pytti" else []
    more = ["--out", tmp_path / "o"] if command == "render" else []
    err = refused(2, command, path, *extra, *more)
    assert problem in err and not (tmp_path / "o" / "run").exists()


def test_a_settings_path_with_a_nul_is_exit_2(tmp_path):
    assert "cannot read it" in refused(2, "validate", f"{tmp_path}/a\0b.yaml")


def test_import_pytti_to_an_unwritable_destination_is_exit_4(tmp_path):
    path = write(tmp_path, "p.yaml", "# @package _global_\nscenes: a\nRN50: true\n")
    assert "No such file" in refused(4, "import-pytti", path, tmp_path / "missing" / "o.yaml")


@pytest.mark.parametrize(
    "metadata,problem",
    [
        ("[1, 2, 3]", "not a JSON object"),
        ('{"settings": "abc"}', "no settings mapping"),
        ('{"settings": [1, 2]}', "no settings mapping"),
        ('{"settings": null}', "no settings mapping"),
        ("{not json", "corrupt metadata JSON"),
        ('{"settings":' + "[" * 50_000 + "]" * 50_000 + "}", "corrupt metadata JSON"),
        (
            json.dumps({"settings": {**TINY, "width": [1], "scenes": {"a": 1}, "seed": "x"}}),
            "is not",
        ),
        (json.dumps({"settings": {"scenes": "a" * 30_000}}), "at most 20000"),
    ],
)
def test_png_metadata_of_the_wrong_kind_is_exit_2(metadata, problem, tmp_path):
    path = png_with_chunk(tmp_path / "m.png", metadata)
    assert problem in refused(2, "render", path, "--out", tmp_path / "o")
    assert not (tmp_path / "o" / "run").exists()


@pytest.mark.parametrize(
    "data,problem",
    [
        (with_size(small_png(), 100_000, 100_000), "not a readable image"),  # Pillow's guard
        (with_size(small_png(), 9_000, 9_000), "larger than 64000000 pixels"),
        (corrupt_pixels(small_png()), "not a readable image"),
        (small_png()[:60], "not a readable image"),
    ],
)
@pytest.mark.parametrize("setting", ["init_image", "scenes"])
def test_hostile_images_fail_validation_before_any_model_loads(setting, data, problem, tmp_path):
    image = write(tmp_path, "x.png", data)
    value = f"[{image}]:1" if setting == "scenes" else str(image)
    path = write(tmp_path, "s.yaml", yaml.safe_dump({**TINY, setting: value}))
    assert problem in refused(2, "render", path, "--out", tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing half-made


# --- silent wrong results ------------------------------------------------------------------


def test_text_settings_keep_the_text_typed_and_yaml_has_its_1_2_types(tmp_path):
    data = apply_overrides({}, ["file_namespace=010", "scene_suffix=yes", "scene_prefix=1e3"])
    s = from_dict(data)
    assert (s.file_namespace, s.scene_suffix, s.scene_prefix) == ("010", "yes", "1e3")
    loaded = load_yaml("a: 010\nb: yes\nc: on\nd: 1_000\ne: 1e3\nf: 2024-01-01\ng: 1:30\nh: 0o10")
    assert loaded == {"a": 10, "b": "yes", "c": "on", "d": "1_000", "e": 1000.0,
                      "f": "2024-01-01", "g": "1:30", "h": 8}  # fmt: skip
    s = from_dict(load_yaml("file_namespace: 010\nscenes: 1.50\nwidth: 010\nlock_camera: false"))
    assert (s.file_namespace, s.scenes, s.width, s.lock_camera) == ("010", "1.50", 10, False)
    path = write(tmp_path, "s.yaml", yaml.safe_dump({**TINY, "steps_per_scene": 2}))
    assert (
        run_main("render", path, "--out", tmp_path, "--set", "file_namespace=010", "--quiet")[0]
        == 0
    )
    assert (tmp_path / "010" / "frames").is_dir() and not (tmp_path / "8").exists()


@pytest.mark.parametrize(
    "changes,problem",
    [
        ({"scenes": "a red circle:1e300"}, "reaches 1e+300"),
        ({"scenes": "a red circle:(10**300)*sin(t)"}, "at some step"),
        ({"scenes": "a red circle:exp(t*1e6)"}, "exp"),
        ({"smoothing_weight": "1e7"}, "within ±1e+06"),
        ({"scenes": "a:1_r_1e200"}, "reaches 1e+200"),
        ({"animation_mode": "2D", "translate_x": "1e300"}, "a motion value must stay"),
        ({"steps_per_scene": 1_000_000, "scenes": "a||b"}, "at most 1,000,000"),
    ],
)
def test_absurd_numbers_over_the_run_are_refused_by_validation(changes, problem, tmp_path):
    path = write(tmp_path, "s.yaml", yaml.safe_dump({**TINY, **changes}))
    assert problem in refused(2, "validate", path)


def test_too_much_to_check_is_refused_quickly(tmp_path):
    scenes = " | ".join(f"p{i}:sin(t)" for i in range(40))
    path = write(tmp_path, "s.yaml", yaml.safe_dump({**TINY, "scenes": scenes,
                                                     "steps_per_scene": 900_000}))  # fmt: skip
    assert "evaluations to check" in refused(2, "validate", path, calls=500_000)


@pytest.mark.parametrize("word,chosen", [("no", False), ("off", False), ("yes", True)])
def test_import_pytti_reads_switch_words_as_pytti_users_mean_them(word, chosen, tmp_path):
    text = f'# @package _global_\nscenes: a\nRN50: true\nViTB32: "{word}"\n'
    code, out, err, *_ = run_main(
        "import-pytti", write(tmp_path, "p.yaml", text), tmp_path / "o.yaml"
    )
    assert code == 0, err
    perceptors = yaml.safe_load((tmp_path / "o.yaml").read_text())["perceptors"]
    assert ("ViT-B-32@openai" in perceptors) == chosen


def test_import_pytti_refuses_a_switch_that_is_no_word(tmp_path):
    text = '# @package _global_\nscenes: a\nRN50: true\nViTB32: "maybe"\n'
    err = refused(2, "import-pytti", write(tmp_path, "p.yaml", text), tmp_path / "o.yaml")
    assert "ViTB32: 'maybe' is not true or false" in err


# --- where a render writes, and what it deletes --------------------------------------------


def rendered_png(tmp_path: Path, **changes) -> Path:
    """A frame of a real render, its settings changed (as someone else's PNG might be)."""
    folder = tmp_path / "theirs"
    path = write(tmp_path, "t.yaml", yaml.safe_dump({**TINY, "steps_per_scene": 2}))
    assert run_main("render", path, "--out", folder, "--quiet")[0] == 0
    frame = folder / "run" / "frames" / "000001.png"
    metadata = read_png_metadata(frame)
    metadata["settings"].update(changes)
    shared = tmp_path / "shared.png"
    shared.write_bytes(png_bytes(np.asarray(Image.open(frame)), metadata))
    return shared


def test_a_shared_png_chooses_neither_the_output_folder_nor_overwriting(tmp_path):
    victim = tmp_path / "victim"
    (victim / "run" / "frames").mkdir(parents=True)
    write(victim / "run", "settings.yaml", "precious")  # looks like a run folder of ours
    shared = rendered_png(tmp_path, output_root=str(victim), allow_overwrite=True)
    mine = tmp_path / "mine"
    (mine / "run" / "frames").mkdir(parents=True)
    write(mine / "run" / "frames", "000001.png", small_png())  # an earlier render of mine
    before = {p: p.read_bytes() for p in [*victim.rglob("*.*"), *mine.rglob("*.*")]}
    code, out, err, *_ = run_main("render", shared, "--out", mine, "--quiet")
    assert code == 0, err
    assert "output_root" in out and "allow_overwrite" in out and "is not used" in out
    assert {p: p.read_bytes() for p in before} == before  # nothing replaced or deleted
    assert files_under(victim) == ["run", "run/frames", "run/settings.yaml"]
    assert (mine / "run(1)" / "frames" / "000001.png").is_file()


def test_overwriting_is_the_users_choice_and_deletes_only_pytti_nb_files(tmp_path):
    path = write(tmp_path, "s.yaml", yaml.safe_dump({**TINY, "steps_per_scene": 2}))
    for _ in range(2):
        run_main(
            "render", path, "--out", tmp_path / "o", "--set", "allow_overwrite=true", "--quiet"
        )
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["run"]  # reused
    write(tmp_path / "o" / "run", "notes.txt", "mine")
    code, out, *_ = run_main(
        "render", path, "--out", tmp_path / "o", "--set", "allow_overwrite=true"
    )
    assert code == 0 and "did not write" in out
    assert (tmp_path / "o" / "run" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "o" / "run(1)" / "frames" / "000001.png").is_file()


@pytest.mark.parametrize("link", ["frames", "palettes", "snapshots"])
def test_a_link_inside_a_run_folder_never_leads_a_render_outside(link, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside, "000001.png", b"keep me")
    path = write(tmp_path, "s.yaml", yaml.safe_dump({**TINY, "steps_per_scene": 2}))
    root = tmp_path / "o"
    assert run_main("render", path, "--out", root, "--quiet")[0] == 0
    run_dir = root / "run"
    if (run_dir / link).exists():
        for p in (run_dir / link).iterdir():
            p.unlink()
        (run_dir / link).rmdir()
    (run_dir / link).symlink_to(outside, target_is_directory=True)
    code, *_ = run_main("render", path, "--out", root, "--set", "allow_overwrite=true", "--quiet")
    assert code == 0 and (root / "run(1)" / "frames" / "000001.png").is_file()  # not reused
    if link == "frames":
        err = refused(4, "render", "--resume", run_dir)
        assert "is a link" in err
    assert files_under(outside) == ["000001.png"] and (outside / "000001.png").read_bytes() == (
        b"keep me"
    )


def test_a_run_folder_that_is_itself_a_link_outside_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "run").symlink_to(outside)
    path = write(tmp_path, "s.yaml", yaml.safe_dump(TINY))
    assert "outside the output folder" in refused(4, "render", path, "--out", tmp_path / "o")
    assert list(outside.iterdir()) == []


# --- one render per run folder -------------------------------------------------------------


def hold_lock(folder: Path) -> subprocess.Popen:
    """Another process holding a run folder's lock, as a render writing there does."""
    code = (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); "
        "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_render_never_mixes_into_a_folder_in_use(tmp_path):
    path = write(tmp_path, "s.yaml", yaml.safe_dump({**TINY, "steps_per_scene": 2}))
    root = tmp_path / "o"
    (root / "run").mkdir(parents=True)
    holder = hold_lock(root / "run")
    try:
        # without allow_overwrite: the next free folder; with it: a clear error (exit 4)
        assert run_main("render", path, "--out", root, "--quiet")[0] == 0
        assert (root / "run(1)" / "frames").is_dir() and files_under(root / "run") == []
        err = refused(4, "render", path, "--out", root, "--set", "allow_overwrite=true")
        assert "is in use by another render" in err
        (root / "run(1)" / CHECKPOINT_NAME).rename(root / "run" / CHECKPOINT_NAME)
        assert "in use by another render" in refused(4, "render", "--resume", root / "run")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    (root / "run" / CHECKPOINT_NAME).unlink()
    code, *_ = run_main("render", path, "--out", root, "--set", "allow_overwrite=true", "--quiet")
    assert code == 0 and (root / "run" / "frames" / "000001.png").is_file()  # no stale lock


def test_claiming_a_run_folder_is_exclusive_in_one_process_too(tmp_path):
    first, lock, _ = run_folder.claim_run_dir(tmp_path, "run", False)
    second, other, _ = run_folder.claim_run_dir(tmp_path, "run", False)
    assert (first.name, second.name) == ("run", "run(1)")
    with pytest.raises(OutputError, match="in use by another render"):
        run_folder.claim_run_dir(tmp_path, "run", True)
    lock.release()
    other.release()
    assert run_folder.claim_run_dir(tmp_path, "run", True)[0] == first


# --- checkpoints that do not fit -----------------------------------------------------------


@pytest.fixture(scope="module")
def finished_once(tmp_path_factory):
    """A finished 4-step render, rendered once for the module."""
    tmp_path = tmp_path_factory.mktemp("finished")
    path = write(tmp_path, "s.yaml", yaml.safe_dump({**TINY, "steps_per_scene": 4}))
    assert (
        run_main("render", path, "--out", tmp_path / "o", "--set", "save_every=2", "--quiet")[0]
        == 0
    )
    return tmp_path / "o" / "run"


@pytest.fixture
def finished_run(finished_once, tmp_path):
    """A copy of the finished render's folder, and its checkpoint's state set back to step 2."""
    run_dir = tmp_path / "o" / "run"
    shutil.copytree(finished_once, run_dir, symlinks=True)
    state = load_checkpoint(run_dir)
    state["step"] = 2  # so a resume has steps left to take
    return run_dir, state


def _wrong_shape(state):
    key = next(iter(state["image"]))
    state["image"][key] = torch.zeros(3, 5, 7)


def _wrong_optimizer(state):
    for entry in state["optimizer"]["state"].values():
        for name, value in entry.items():
            if torch.is_tensor(value) and value.dim():
                entry[name] = torch.zeros(2, 2)


def _nan_image(state):
    key = next(iter(state["image"]))
    state["image"][key] = torch.full_like(state["image"][key], float("nan"))


@pytest.mark.parametrize(
    "damage",
    [
        _wrong_shape,
        _wrong_optimizer,
        _nan_image,
        lambda s: s.update(step=10**9),
        lambda s: s.update(step="3"),
        lambda s: s.pop("rng"),
        lambda s: s.update(rng=torch.zeros(3)),
        lambda s: s.update(image=[1, 2]),
        lambda s: s.update(settings=[1]),
        lambda s: s.update(terms={"prompts": {"x": 1}}),
        lambda s: s["settings"].update(width=10**9),
    ],
)
def test_a_checkpoint_that_does_not_fit_the_run_is_an_error_not_a_traceback(damage, finished_run):
    run_dir, state = finished_run
    damage(state)
    save_checkpoint(run_dir, state)
    code, out, err, *_ = run_main("render", "--resume", run_dir, "--quiet")
    assert code in (0, 2, 4) and "Traceback" not in err and len(err) < MAX_MESSAGE
    if code == 0:  # only a harmless change resumes
        assert load_checkpoint(run_dir)["step"] == 4


def test_resource_limits_hold_for_a_whole_process(tmp_path):
    """The bomb under a hard address-space limit in a child: an error, never a MemoryError."""
    limit = 6 * 2**30  # torch reserves a lot of address space at import; data must stay small

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    run = subprocess.run(
        [sys.executable, "-m", "pytti_nb", "validate", str(write(tmp_path, "b.yaml", BOMB))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=limited,
        timeout=120,
    )
    assert run.returncode == 2 and "MemoryError" not in run.stderr, run.stderr[-2000:]
