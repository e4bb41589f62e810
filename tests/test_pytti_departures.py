"""Differences from PyTTI: one list (config/pytti_departures), the README's table made from it,
and the import report naming, for each file, the rows it depends on and where."""

import re
from pathlib import Path

import pytest

from pytti_nb.config.files import read_settings_dict
from pytti_nb.config.pytti_departures import DEPARTURES, REPORT_PREFIX, applying
from pytti_nb.config.pytti_import import import_pytti
from pytti_nb.config.settings import from_dict_lenient
from pytti_nb.docs import DEPARTURES_END, DEPARTURES_START, departures_table

FILES = Path(__file__).parent / "pytti_files"
README = Path(__file__).resolve().parent.parent / "README.md"
REAL = sorted(p.name for p in FILES.iterdir() if p.suffix in (".yaml", ".txt"))
NEEDS_SCENES = {"book_crashcourse_perceptors_RN50.yaml", "book_usage_motion_zoom_in_slow.yaml"}
NEEDS_SCENES |= {"core_default.yaml", "core_empty.yaml"}  # PyTTI's `scenes: ???`
AUDIO = {"input_audio_filters": [{"variable_name": "fLo", "f_center": 80, "f_width": 40}]}


def reported(notes) -> dict[str, str]:
    """id -> the report's line, for each departure line of an import's notes."""
    out = {}
    for note in notes:
        found = re.match(rf"{REPORT_PREFIX} \[([a-z0-9-]+)\] ", note)
        if found:
            out[found.group(1)] = note
    return out


def imported(data, *overrides):
    """An import's notes and the ids its predicates answer for the converted settings."""
    ours, notes = import_pytti(data, overrides)
    expected = {d.id for d, _ in applying(from_dict_lenient(ours)[0])}
    return reported(notes), expected


@pytest.mark.parametrize("name", REAL)
def test_each_real_file_reports_exactly_the_rows_its_predicates_answer(name):
    sets = ["scenes=a red circle"] if name in NEEDS_SCENES else []
    lines, expected = imported(read_settings_dict(FILES / name), *sets)
    assert set(lines) == expected
    assert "last-frame" in expected  # every render saves its last step; PyTTI's never did


@pytest.mark.parametrize(
    "name, ids",
    [
        # 3D Limited Palette: PyTTI's camera and a metric depth model; the palette's own rows
        ("core_demo.yaml", {"camera-3d", "depth-model", "palette-ramp", "palette-normalization"}),
        # VQGAN rotoscoping: the latent losses, its encoder, GMA's place taken by RAFT
        (
            "book_rotoscoping_spring2winter_reencode_flow_long.yaml",
            {"latent-loss", "vqgan-encode", "flow-model", "motion-edge"},
        ),
        ("book_permutations_limited_palette_2D.yaml", {"warp-2d", "palette-ramp"}),
        ("book_settings_audio_example.yaml", {"audio-filter", "audio-edges"}),
    ],
)
def test_spot_checks_by_hand(name, ids):
    lines, _ = imported(read_settings_dict(FILES / name))
    assert ids <= set(lines)
    assert not {"audio-prev", "mask-geometry", "urls"} & set(lines)  # none of these files has one


def test_a_prev_expression_gets_the_prev_row_naming_it():
    data = {
        **AUDIO, "scenes": "calm:1 | burst:(10*(fLo-fLo_prev))", "input_audio": "song.mp3",
        "animation_mode": "2D", "rotate_2d": "20*(fLo - fLo_prev)", "zoom_x_2d": "3*fLo",
    }  # fmt: skip
    lines, expected = imported(data, "perceptors=[demo]")
    assert set(lines) == expected
    line = lines["audio-prev"]
    assert "scenes prompt 'burst:(10*(fLo-fLo_prev))'" in line
    assert "rotate_2d '20*(fLo - fLo_prev)'" in line
    assert "zoom_x_2d" not in line and "calm" not in line  # fLo alone is PyTTI's too
    assert "zoom_x_2d '3*fLo'" in lines["audio-edges"]


def test_masks_are_named_by_the_row_each_kind_departs_in():
    data = {
        "scenes": "sky:2_u | fire:1_[mask.png] | sun:3_[glow.mp4] | tree:1_forest",
        "animation_mode": "2D",
        "direct_stabilization_weight": "1_[-hold.mp4]",
    }
    lines, expected = imported(data, "perceptors=[demo]")
    assert set(lines) == expected
    geometry = lines["mask-geometry"]  # letter and image masks; video and semantic are right
    assert "'sky:2_u'" in geometry and "'fire:1_[mask.png]'" in geometry
    assert "glow" not in geometry and "forest" not in geometry
    assert "'sun:3_[glow.mp4]'" in lines["mask-video-rate"] and "hold" in lines["mask-video-rate"]
    assert "hold.mp4" in lines["mask-files"]  # PyTTI dropped the '-' of a pixel loss's video


def test_a_weight_schedule_pytti_read_as_off_and_urls_are_named():
    data = {
        "scenes": "a | [https://example.com/cat.png]:1",
        "animation_mode": "2D",
        "direct_stabilization_weight": "0:(0), 5:(1)",
    }
    lines, expected = imported(data, "perceptors=[demo]")
    assert set(lines) == expected
    assert "direct_stabilization_weight '0:(0), 5:(1)'" in lines["checked-fields"]
    assert "https://example.com/cat.png" in lines["urls"]


def test_rows_are_whole_and_their_ids_unique():
    ids = [d.id for d in DEPARTURES]
    assert len(ids) == len(set(ids))
    for d in DEPARTURES:
        assert re.fullmatch(r"[a-z0-9-]+", d.id)
        assert all(text.strip() for text in (d.topic, d.pytti, d.ours, d.why, d.imported)), d.id


def test_the_readme_table_is_current_and_lists_every_row():
    text = README.read_text(encoding="utf-8")
    block = text.split(DEPARTURES_START, 1)[1].split(DEPARTURES_END, 1)[0]
    assert block.strip() == departures_table().strip(), "run `make readme` and commit README.md"
    assert all(f"| `{d.id}` |" in block for d in DEPARTURES)
