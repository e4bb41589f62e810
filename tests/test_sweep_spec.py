"""The sweep file's grammar, render names and checks: every problem reported before any render."""

from pathlib import Path

import pytest
import yaml
from PIL import Image

from pytti_nb.errors import SettingsError
from pytti_nb.io.namespace import namespace_problem
from pytti_nb.sweep.checks import check_renders
from pytti_nb.sweep.naming import render_names
from pytti_nb.sweep.pool import pool_shape
from pytti_nb.sweep.sheet import PAD, TILE, Tile, columns_for, contact_sheet
from pytti_nb.sweep.spec import expand, load_sweep, parse_sweep

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def base(tmp_path):
    """A tiny base: 8x8 pixels, 4 steps, the demo perceptor."""
    return {
        "scenes": "a red circle",
        "perceptors": ["demo"],
        "width": 8,
        "height": 8,
        "pixel_size": 2,
        "cutouts": 2,
        "steps_per_scene": 4,
        "save_every": 2,
        "display_every": 0,
        "seed": 3,
        "device": "cpu",
        "output_root": str(tmp_path / "out"),
    }


def sweep(base, tmp_path, **sections):
    """A checked sweep of the base with these sections, writing under tmp_path/sweep."""
    return parse_sweep({"base": base, **sections}, folder=tmp_path, out=tmp_path / "sweep")


def problems_of(data, tmp_path) -> list[str]:
    """The problems a sweep mapping is refused with."""
    with pytest.raises(SettingsError) as e:
        parse_sweep(data, source="s.yaml", folder=tmp_path, out=tmp_path / "sweep")
    return e.value.problems


def test_grid_zip_and_seeds_vary_in_the_order_written(base, tmp_path):
    spec = sweep(
        base,
        tmp_path,
        grid={"cutouts": [2, 4], "learning_rate": [0.05, 0.1]},
        zip={"width": [8, 10], "height": [8, 12]},
        seeds=[7, 9],
    )
    renders = expand(spec, seed=0)
    assert len(renders) == 2 * 2 * 2 * 2
    first, second, last = renders[0], renders[1], renders[-1]
    assert first.values == {"cutouts": 2, "learning_rate": 0.05, "width": 8, "height": 8, "seed": 7}
    assert second.values["seed"] == 9  # the last axis varies fastest
    assert last.values == {"cutouts": 4, "learning_rate": 0.1, "width": 10, "height": 12, "seed": 9}
    assert first.name == "cutouts-2_learning_rate-0.05_width-8_height-8_seed-7"
    assert len({r.name for r in renders}) == len(renders)
    s = first.settings
    assert (s["file_namespace"], s["allow_overwrite"]) == (first.name, False)
    assert s["output_root"] == str((tmp_path / "sweep").resolve())
    assert s["scenes"] == "a red circle"  # the rest is the base's


def test_seed_count_starts_at_the_base_seed_or_one_drawn_for_the_sweep(base, tmp_path):
    renders = expand(sweep(base, tmp_path, seeds=3), seed=100)
    assert [r.values["seed"] for r in renders] == [3, 4, 5]
    del base["seed"]
    renders = expand(sweep(base, tmp_path, seeds=2, grid={"cutouts": [2, 4]}), seed=100)
    assert [r.settings["seed"] for r in renders] == [100, 100, 101, 101]  # seeds written first
    renders = expand(sweep(base, tmp_path, grid={"cutouts": [2, 4]}), seed=100)
    assert [r.settings["seed"] for r in renders] == [100, 100]  # one seed: comparable renders
    assert "seed" in renders[0].changes


def test_follow_copies_a_value_or_maps_it_through_a_table(base, tmp_path):
    spec = sweep(
        base,
        tmp_path,
        grid={"save_every": [1, 2], "cutouts": [2, 4, 8]},
        follow={
            "steps_per_frame": "save_every",  # PyTTI's "mapped" settings
            "display_every": "steps_per_frame",  # a chain: resolved in order
            "cut_pow": {"from": "cutouts", "values": {2: 0.5, 4: 1.5}, "default": 2},
            "learning_rate": {"from": "steps_per_scene", "values": {4: 0.3}},  # not varied
        },
    )
    for r in expand(spec, seed=0):
        s = r.settings
        assert s["steps_per_frame"] == s["display_every"] == s["save_every"]
        assert s["cut_pow"] == {2: 0.5, 4: 1.5, 8: 2}[s["cutouts"]]
        assert s["learning_rate"] == 0.3
        assert set(r.values) == {"save_every", "cutouts"}  # followers are not in the label
        assert r.changes["cut_pow"] == s["cut_pow"]


def test_every_grammar_problem_is_reported_at_once(base, tmp_path):
    problems = problems_of(
        {
            "base": base,
            "gird": {"cutouts": [2]},
            "grid": {"cutuots": [2, 4], "learning_rate": 0.1, "cutouts": [2, "many"]},
            "zip": {"width": [8, 10], "height": [8]},
            "seeds": [1, 1],
            "set": {"file_namespace": "x", "cutouts": 4},
            "follow": {
                "steps_per_frame": "save_every",
                "save_every": "steps_per_frame",
                "cut_pow": {"from": "cutouts", "valeus": {2: 1}},
            },
        },
        tmp_path,
    )
    text = "\n".join(problems)
    assert "gird: unknown section; did you mean 'grid'?" in text
    assert "grid: 'cutuots' is not a setting; did you mean 'cutouts'?" in text
    assert "grid: learning_rate: expected a list of values, e.g. [1, 2], got 0.1" in text
    assert "grid: cutouts: 'many' is not an integer" in text
    assert "zip: the lists must have one length; width has 2, height has 1" in text
    assert "seeds: [1, 1]: a seed is listed twice" in text
    assert "set: file_namespace: the sweep sets it for every render" in text
    assert "cutouts: given in grid and set; vary or fix each setting in one place" in text
    assert "follow: a cycle: steps_per_frame follows save_every follows steps_per_frame" in text
    assert "follow: cut_pow: unknown key(s) ['valeus']" in text


def test_base_problems_and_missing_parts_are_named(tmp_path):
    text = "\n".join(problems_of({"base": "missing.yaml", "cutouts": [1]}, tmp_path))
    assert "base: settings file" in text and "missing.yaml" in text
    assert "cutouts: unknown section; settings go under base: or set:" in text
    text = "\n".join(problems_of({"grid": {"cutouts": [2]}}, tmp_path))
    assert "base: missing" in text
    text = "\n".join(problems_of({"base": {"seed": "x"}}, tmp_path))
    assert "nothing varies" in text and "base: seed: 'x' is not an integer" in text
    text = "\n".join(problems_of({"base": {}, "seeds": 5000}, tmp_path))
    assert "seeds: 5000: give a count from 1 to 1000" in text


def test_a_follow_table_without_a_value_is_refused_naming_it(base, tmp_path):
    data = {
        "base": base,
        "grid": {"cutouts": [2, 4, 8]},
        "follow": {"cut_pow": {"from": "cutouts", "values": {2: 1, 4: 1.5}}},
    }
    assert problems_of(data, tmp_path) == [
        "follow: cut_pow: no value for cutouts 8 (values has 2, 4); add it, or give a default:"
    ]


def test_each_render_is_planned_and_its_problems_name_it(base, tmp_path):
    spec = sweep(
        base,
        tmp_path,
        grid={"gradient_accumulation_steps": [1, 3], "learning_rate": [0.1, 0.2]},
        set={"scenes": "a circle:{oops}"},
    )
    with pytest.raises(SettingsError) as e:
        check_renders(expand(spec, seed=0), check_models=False)
    problems = e.value.problems
    assert any(p.startswith("scenes:") and p.endswith("(in every render)") for p in problems)
    named = [p for p in problems if "gradient_accumulation_steps: 3 does not divide" in p]
    assert named == [
        "render gradient_accumulation_steps-3_learning_rate-0.1, "
        "gradient_accumulation_steps-3_learning_rate-0.2: gradient_accumulation_steps: 3 does "
        "not divide cutouts (2); pick a divisor of 2"
    ]


def test_a_folder_of_other_settings_or_files_is_refused_before_rendering(base, tmp_path):
    renders = expand(sweep(base, tmp_path, grid={"cutouts": [2, 4]}), seed=0)
    check_renders(renders)  # nothing there yet
    first = tmp_path / "sweep" / renders[0].name
    first.mkdir(parents=True)
    (first / "settings.yaml").write_text("cutouts: 16\nseed: 3\n")
    second = tmp_path / "sweep" / renders[1].name
    second.mkdir()
    (second / "notes.txt").write_text("mine")
    with pytest.raises(SettingsError) as e:
        check_renders(renders)
    text = "\n".join(e.value.problems)
    assert "holds a render of other settings (cutouts: 16 there, 2 here)" in text
    assert "holds files that are not a render's (notes.txt)" in text


def test_names_are_safe_on_every_os_and_unique():
    values = [
        {"scenes": "a cat | a dog", "seed": 1},  # '|' is refused on Windows
        {"scenes": "A", "seed": 1},
        {"scenes": "a", "seed": 1},  # equal to the one above on a case-insensitive disk
        {"perceptors": ["demo", "ViT-B-32@openai"]},
        {"scenes": "x" * 200},
    ]
    names = render_names(values)
    assert names[3] == "perceptors-demo+ViT-B-32@openai"
    assert names[0].startswith("scenes-a_cat_a_dog_seed-1~")
    assert names[1] != names[2] and names[1].lower() != names[2].lower()
    assert len(names[4]) <= 80 and "~" in names[4]
    assert all(namespace_problem(n) is None for n in names)
    assert len({n.lower() for n in names}) == len(names)
    assert render_names(values) == names  # the same values always get the same folder


def test_the_example_sweep_is_valid():
    spec = load_sweep(EXAMPLES / "sweep.yaml")
    renders = expand(spec, seed=0)
    assert [r.values for r in renders][:2] == [
        {"cutouts": 8, "learning_rate": 0.1},
        {"cutouts": 8, "learning_rate": 0.3},
    ]
    assert {r.settings["cut_pow"] for r in renders} == {1.0, 1.5}
    check_renders(renders)


def test_contact_sheet_layout(tmp_path):
    frames = []
    for i, size in enumerate([(16, 16), (16, 8), (300, 150)]):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", size, (i * 80, 10, 200)).save(path)
        frames.append(path)
    tiles = [Tile(p, (f"n = {i}", "seed = 1")) for i, p in enumerate(frames)]
    tiles.append(Tile(None, ("n = 3",), "failed"))
    sheet, layout = contact_sheet(tiles, columns_for([4], 4))
    assert sheet.size == layout.size
    assert sheet.width == 2 * TILE + 3 * PAD  # 2 columns: about square for one axis
    left, top, right, bottom = layout.images[1]
    assert (right - left, bottom - top) == (256, 128)  # enlarged 16 times, pixels kept
    assert layout.images[2][2] - layout.images[2][0] == TILE  # reduced to fit
    colours = sheet.crop(layout.labels[0]).getcolors(1 << 16)
    assert any(sum(c) < 200 for _, c in colours)  # the label's text is drawn


def test_workers_hold_one_gpu_each_or_their_share_of_the_cores():
    gpus = {"CPU": 32.0, "GPU": 4.0}
    assert pool_shape(gpus, 1) == (4, {"num_gpus": 1, "num_cpus": 1})
    assert pool_shape(gpus, 1, count=2) == (2, {"num_gpus": 1, "num_cpus": 1})
    assert pool_shape(gpus, 2, devices=["cpu"]) == (16, {"num_cpus": 2})  # set to the CPU
    assert pool_shape({"CPU": 2.0}, 1, count=9) == (2, {"num_cpus": 1})  # two 1-thread renders
    assert pool_shape({"CPU": 2.0}, 4) == (1, {"num_cpus": 4})


def test_the_pytti_books_limited_palette_matrix_as_a_sweep(tmp_path):
    # permutations.ipynb's ExperimentMatrix: variant (a grid), invariant (a PyTTI base file),
    # mapped (follow), and its folder names made from the varying values (ours)
    book = Path(__file__).resolve().parent / "pytti_files"
    path = tmp_path / "matrix.yaml"
    path.write_text(
        f"base: {book / 'book_permutations_limited_palette_2D.yaml'}\n"
        "grid: {palettes: [10, 30, 70], palette_size: [3, 7, 15]}\n"
        "follow:\n"
        "  pre_animation_steps: steps_per_frame\n"
        "  save_every: steps_per_frame\n"
        "  display_every: steps_per_scene\n"
    )
    spec = load_sweep(path, out=tmp_path / "out", overrides=["perceptors=[demo]"])
    assert spec.notes  # the PyTTI file's conversion is reported
    renders = expand(spec, seed=0)
    assert len(renders) == 9 and renders[-1].name == "palettes-70_palette_size-15"
    assert all(r.settings["display_every"] == 1000 for r in renders)
    assert {r.settings["image_model"] for r in renders} == {"Limited Palette"}
    check_renders(renders)
    with pytest.raises(SettingsError) as e:
        load_sweep(path, overrides=["perceptors=[demo]", "palettes=4"])
    assert e.value.problems == [
        "palettes: given in grid and --set; vary or fix each setting in one place"
    ]


def test_a_shared_sweep_file_never_chooses_where_the_sweep_writes(base, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    shared = {**base, "output_root": str(elsewhere), "allow_overwrite": True}
    path = tmp_path / "shared.yaml"
    path.write_text(
        yaml.safe_dump({"base": shared, "seeds": 2, "out": str(elsewhere / "sweep")}),
        encoding="utf-8",
    )
    spec = load_sweep(path)
    assert spec.out == (tmp_path / "out" / "shared").resolve()  # the default, not the file's
    assert {n.split(" ")[0] for n in spec.dropped} == {"base:", "out:"}
    assert all("is not used" in n for n in spec.dropped)
    renders = expand(spec, seed=0)
    assert {r.settings["output_root"] for r in renders} == {str(spec.out)}
    assert not any(r.settings["allow_overwrite"] for r in renders)
    assert load_sweep(path, out=tmp_path / "mine").out == (tmp_path / "mine").resolve()


def test_a_sweep_file_is_read_within_the_settings_bounds(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb + "base: {}\nseeds: 2\n", encoding="utf-8")
    with pytest.raises(SettingsError) as e:
        load_sweep(path)
    assert "not valid YAML" in e.value.problems[0] and len(e.value.problems[0]) < 600
    path.write_text("base: {}\nseeds: 010\n", encoding="utf-8")
    assert load_sweep(path).seeds == 10  # YAML 1.2's types: 010 is ten, not YAML 1.1's eight
    path.write_bytes(b"base: {}\nseeds: \xff\n")
    with pytest.raises(SettingsError, match="not UTF-8"):
        load_sweep(path)


def test_seeds_and_list_valued_settings_vary_under_grid_and_zip_alike(base, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from pytti_nb.sweep.manifest import Manifest
    from pytti_nb.sweep.spec import resolved_axes

    base = {**base, "depth_model": "none"}
    for section in ("grid", "zip"):
        renders = expand(sweep(base, tmp_path, **{section: {"seed": [11, 12, 13]}}), seed=0)
        assert [(r.name, r.settings["seed"]) for r in renders] == [
            ("seed-11", 11), ("seed-12", 12), ("seed-13", 13),
        ]  # fmt: skip
    quaternions = [[1, 0, 0, 0], "[0.7071, 0.7071, 0, 0]"]
    spec = sweep(
        base,
        tmp_path,
        set={"animation_mode": "3D"},
        grid={"seed": [5, 6], "perceptors": [["demo"], ["demo", "demo"]]},
        zip={"rotate_3d": quaternions, "cutouts": [2, 4]},
    )
    renders = expand(spec, seed=0)
    assert len(renders) == 2 * 2 * 2 and len({r.name for r in renders}) == 8
    first = {"seed": 5, "perceptors": ["demo"], "rotate_3d": [1, 0, 0, 0], "cutouts": 2}
    assert renders[0].values == first
    assert renders[-1].settings["perceptors"] == ["demo", "demo"]
    assert [a.names for a in resolved_axes(spec, 0)] == [
        ("seed",), ("perceptors",), ("rotate_3d", "cutouts"),
    ]  # fmt: skip
    check_renders(renders)
    manifest = Manifest(spec, renders, 0)
    assert [e["values"] for e in manifest.data["renders"]] == [r.values for r in renders]
    assert problems_of({"base": base, "grid": {"seed": [1, 2]}, "seeds": 2}, tmp_path) == [
        "seed: given in grid and seeds; vary or fix each setting in one place"
    ]
