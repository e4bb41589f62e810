"""Audio reactivity: a band's loudness per frame drives expressions, is recorded with every
frame, and the sound goes into the video."""

import re
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from media import tone_bursts

from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.errors import SettingsError
from pytti_nb.io.png_meta import read_png_metadata
from pytti_nb.run import prepare_run, run_to_completion

pytestmark = pytest.mark.numerics

FPS = 12
BURSTS = (1.0, 2.5, 4.0)  # seconds: frames 12, 30 and 48 at 12 fps
BASS = {"variable_name": "bass", "f_center": 80, "f_width": 40, "order": 5}


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    return tone_bursts(tmp_path_factory.mktemp("audio") / "song.wav", seconds=7.0, bursts=BURSTS)


def dancing(song, tmp_path, **changes):
    """A small 2D animation whose motion and prompt weight follow the bass."""
    return {
        "scenes": "a red circle:1+2*bass",
        "perceptors": ["demo"],
        "width": 8,
        "height": 8,
        "pixel_size": 2,
        "cutouts": 1,
        "steps_per_scene": 60,
        "steps_per_frame": 1,
        "frames_per_second": FPS,
        "save_every": 1,
        "display_every": 60,
        "seed": 2,
        "device": "cpu",
        "animation_mode": "2D",
        "translate_x": "4*bass",
        "zoom_x_2d": "bass - bass_prev",
        "input_audio": str(song),
        "input_audio_filters": [BASS],
        "output_root": str(tmp_path),
        "file_namespace": "dance",
        **changes,
    }


def test_the_bass_peaks_in_the_frames_of_its_bursts_and_drives_the_motion(song, tmp_path):
    job = prepare_run(settings=from_dict(dancing(song, tmp_path)))
    run_to_completion(job, progress=False)
    meta = [read_png_metadata(p) for p in sorted((job.run_dir / "frames").glob("*.png"))]
    bass = np.array([m["audio"]["bass"] for m in meta])
    frames = [m["frame"] for m in meta]
    assert frames == list(range(60))
    peaks = [
        f
        for f in frames[1:-1]
        if bass[f] == 1.0 or (bass[f] > 0.5 and bass[f] >= bass[f - 1] and bass[f] >= bass[f + 1])
    ]
    assert peaks == [round(b * FPS) for b in BURSTS]
    assert bass[[20, 40, 55]].max() < 0.05  # silence between the bursts
    for m in meta:  # the recorded motion is the expression of the recorded band
        assert m["motion"]["translate_x"] == pytest.approx(4 * m["audio"]["bass"])


def test_the_video_carries_the_sound_for_its_own_length(song, tmp_path):
    job = prepare_run(settings=from_dict(dancing(song, tmp_path, input_audio_offset=0.5)))
    result = run_to_completion(job, progress=False)
    info = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(result.video)],
        capture_output=True,
        text=True,
    ).stderr
    assert re.search(r"Stream #0:\d.*: Video: h264", info) and re.search(r"Audio: aac", info)
    # 6.5 s of sound after the offset, cut to the 5 s of the 60 frames; the video is whole
    assert stream_seconds(result.video, "a") == pytest.approx(60 / FPS, abs=0.1)
    assert stream_seconds(result.video, "v") == pytest.approx(60 / FPS, abs=0.1)


def stream_seconds(path, stream) -> float:
    """How long one stream ('a' or 'v') of a media file plays, decoded by ffmpeg."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path), "-map", f"0:{stream}"]
    decoded = subprocess.run([*command, "-f", "null", "-"], capture_output=True, text=True)
    h, m, s = re.findall(r"time=(\d+):(\d+):([\d.]+)", decoded.stderr)[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_the_bands_are_known_to_validation(song, tmp_path):
    ok = plan_run(from_dict(dancing(song, tmp_path)))
    assert ok.audio.names() == ("bass", "bass_prev")
    with pytest.raises(SettingsError) as e:
        plan_run(from_dict(dancing(song, tmp_path, translate_x="4*treble")))
    assert "translate_x" in str(e.value) and "'treble' is not a known name" in str(e.value)
    assert "bass" in str(e.value)  # the names it could have used


@pytest.mark.parametrize(
    ("band", "message"),
    [
        ({**BASS, "f_center": 30000}, "must lie between 0 and 22050 Hz"),
        ({**BASS, "f_width": 0}, "f_width 0 Hz must be above 0"),
        ({**BASS, "variable_name": "t"}, "'t' is taken"),
        ({**BASS, "variable_name": "2x"}, "must be a name"),
        ({**BASS, "order": 40}, "order 40 must be a whole number from 1 to 12"),
        ({"variable_name": "x", "f_center": 80}, "missing f_width"),
        ({**BASS, "gain": 2}, "unknown key(s) gain"),
        ({**BASS, "variable_name": "\ufb01x"}, "reads as 'fix' in expressions"),  # ﬁ ligature
        ({**BASS, "variable_name": "\ufb00"}, "reads as 'ff' in expressions"),
        ({**BASS, "variable_name": "\u2168"}, "reads as 'IX' in expressions"),  # Roman numeral
        ({**BASS, "variable_name": "\uff42ass"}, "reads as 'bass' in expressions"),  # fullwidth
        ({**BASS, "variable_name": "\u00aab"}, "reads as 'ab' in expressions"),  # ordinal
        ({**BASS, "variable_name": "\u212bng"}, "reads as '\u00c5ng' in expressions"),  # Angstrom
    ],
)
def test_bad_filters_are_named(song, tmp_path, band, message):
    with pytest.raises(SettingsError) as e:
        from_dict(dancing(song, tmp_path, input_audio_filters=[band], translate_x=0, scenes="a"))
    assert "input_audio_filters: filter 1" in str(e.value) and message in str(e.value)


def test_unreadable_audio_and_half_set_audio_are_refused(song, tmp_path):
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"not sound")

    def problems(**changes):
        with pytest.raises(SettingsError) as e:
            plan_run(from_dict(dancing(song, tmp_path, **changes)))
        return str(e.value)

    assert "has no audio ffmpeg can decode" in problems(input_audio=str(junk))
    assert "past the end of" in problems(input_audio_offset=9.0)  # the song lasts 7 s
    assert "(7.00 s long)" in problems(input_audio_offset=9.0)
    assert "needs both a sound file" in problems(
        input_audio="", translate_x=0, zoom_x_2d=0, scenes="a"
    )
    assert "input_audio_filters" in problems(
        input_audio_filters=[], translate_x=0, zoom_x_2d=0, scenes="a"
    )


@pytest.mark.parametrize("order", [1, 3, 5])
def test_the_band_pass_matches_scipys_zero_phase_butterworth(order):
    from scipy.signal import butter, sosfiltfilt

    from pytti_nb.media.audio import BandFilter, band_pass

    rate = 11025
    noise = np.random.default_rng(order).normal(size=4 * rate)
    band = BandFilter("mid", f_center=600.0, f_width=600.0, order=order)
    ours = band_pass(np.fft.rfft(noise), len(noise), rate, band)
    sos = butter(order, [band.low, band.high], btype="bandpass", fs=rate, output="sos")
    theirs = sosfiltfilt(sos, noise)
    inner = slice(rate // 2, -rate // 2)  # away from the ends, where the two pad differently
    error = np.abs(ours[inner] - theirs[inner]).max() / np.abs(theirs[inner]).max()
    assert error < 1e-6  # the same filter: they differ by rounding (a wrong order is off by 2%+)


def test_a_burst_at_the_end_does_not_ring_into_the_start(tmp_path):
    from pytti_nb.media.audio import analyse_audio, parse_filters

    late = tone_bursts(tmp_path / "late.wav", seconds=2.0, bursts=(1.9,))
    values = analyse_audio(late, 0.0, FPS, parse_filters([BASS])).values[:, 0]
    assert values.argmax() >= 22 and values[:3].max() < 0.01
