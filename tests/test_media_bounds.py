"""Media of any size or kind is checked at validation with bounded memory: long sound is
analysed a stretch at a time, sound of NaN samples, pictures over MAX_MEDIA_PIXELS and paths
that are no regular file are refused (exit 2) with what they are."""

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import tracemalloc

import imageio_ffmpeg
import numpy as np
import pytest
import yaml
from inprocess import run_cli, run_main
from media import square_video, tone_bursts
from scipy.io import wavfile
from tiny import tiny_settings

from pytti_nb.io import images
from pytti_nb.media import audio, video

pytestmark = pytest.mark.usefixtures("offline", "perceptor_check_imported")

BASS = {"variable_name": "bass", "f_center": 80, "f_width": 40, "order": 5}
LONG_SECONDS = 600  # ten minutes: a whole-track FFT of it takes hundreds of MB


def validate(tmp_path, *, measured=False, **changes):
    """`pytti-nb validate` of tiny settings with changes: (exit code, stderr, peak MB when
    `measured`, else None: tracing every allocation makes the command several times slower)."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_settings(smaller=True, **changes)))
    if measured:
        code, _, err, peak, _ = run_cli("validate", path)
    else:
        (code, _, err), peak = run_main("validate", path), None
    assert "Traceback" not in err
    return code, err, peak


def audio_run(path, **changes):
    """Settings of a 2D run whose motion follows a band of the sound at `path`."""
    return {
        "animation_mode": "2D",
        "translate_x": "bass",
        "input_audio": str(path),
        "input_audio_filters": [BASS],
        **changes,
    }


def tone(path, seconds, rate=4000):
    """`seconds` of an 80 Hz tone as a 16-bit WAV at a low rate (ffmpeg resamples it)."""
    wave = np.sin(2 * np.pi * 80 / rate * np.arange(seconds * rate, dtype=np.float32)) * 16000
    wavfile.write(str(path), rate, wave.astype(np.int16))
    return path


@pytest.fixture(scope="module")
def long_sound(tmp_path_factory):
    """Ten minutes of an 80 Hz tone."""
    return tone(tmp_path_factory.mktemp("long") / "long.wav", LONG_SECONDS)


def huge_wav(path, seconds=2.0, rate=8000):
    """A WAV whose header claims some 4 GB of sound (27 hours) over `seconds` of it."""
    samples = (0.5 * np.sin(np.arange(int(seconds * rate)) * 0.06) * 32767).astype("<i2")
    fmt = struct.pack("<HHIIHH", 1, 1, rate, 2 * rate, 2, 16)
    head = b"RIFF" + struct.pack("<I", 0xFFFFFFF0) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
    path.write_bytes(head + fmt + b"data" + struct.pack("<I", 0xFFFFFFC0) + samples.tobytes())
    return path


def analysed_peak(path, offset=0.0):
    """The analysis of `path` at 12 fps, and the most memory it took (bytes)."""
    tracemalloc.start()
    try:
        bands = audio.analyse_audio(path, offset, 12, audio.parse_filters([BASS]))
        return bands, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_long_track_is_analysed_in_bounded_memory(long_sound, tmp_path):
    bands, peak = analysed_peak(long_sound)
    _, short_peak = analysed_peak(tone(tmp_path / "short.wav", 3 * audio.CHUNK_SECONDS))
    assert peak < 1.5 * short_peak and peak < 64 * 2**20  # ten times longer, no more memory
    assert abs(len(bands.values) - LONG_SECONDS * 12) <= 1  # the resampler may add a sample
    steady = bands.values[12:-12, 0]  # a steady tone (its onset rings a little louder)
    assert steady.min() > 0.8 and steady.max() - steady.min() < 0.01


def test_an_offset_far_into_a_long_track_holds_no_more_of_it(long_sound):
    bands, peak = analysed_peak(long_sound, offset=LONG_SECONDS - 30)
    assert peak < 64 * 2**20 and abs(len(bands.values) - 30 * 12) <= 1


def test_a_wav_header_claiming_hours_is_analysed_for_the_sound_it_holds(tmp_path):
    bands, peak = analysed_peak(huge_wav(tmp_path / "huge.wav"))
    assert len(bands.values) == 24 and bands.seconds == pytest.approx(2.0)
    assert peak < 64 * 2**20


@pytest.mark.parametrize("rate", [8000, 44100])
def test_stretch_by_stretch_analysis_equals_filtering_the_whole_track_at_once(tmp_path, rate):
    # three stretches of CHUNK_SECONDS, loud bursts where one stretch meets the next
    seconds = 3 * audio.CHUNK_SECONDS
    edges = (1.3 + audio.CHUNK_SECONDS, 1.3 + 2 * audio.CHUNK_SECONDS)  # stretches start at 1.3 s
    bursts = (0.5, *(edge - 0.05 for edge in edges), seconds - 1)
    path = tone_bursts(tmp_path / "b.wav", seconds=seconds, bursts=bursts, rate=rate)
    filters = audio.parse_filters([BASS, {**BASS, "variable_name": "narrow", "f_width": 2}])
    ours = audio.analyse_audio(path, 1.3, 12, filters).values
    analysed = audio.analysis_rate(filters)
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-ar", str(analysed)]
    run = subprocess.run([*cmd, "-f", "f32le", "-"], capture_output=True, check=True)
    track = np.frombuffer(run.stdout, np.float32).astype(np.float64)
    pad = int(audio.MAX_MARGIN_SECONDS * analysed) * 2  # silence both sides, as the stream has
    whole = np.concatenate((np.zeros(pad), track, np.zeros(pad)))
    start = round(1.3 * analysed)
    starts = np.round(np.arange(len(ours)) * analysed / 12).astype(int)
    for k, band in enumerate(filters):
        loud = np.abs(audio.band_pass(np.fft.rfft(whole), len(whole), analysed, band))
        peaks = np.maximum.reduceat(loud[pad + start : pad + len(track)], starts)
        assert np.abs(ours[:, k] - peaks / peaks.max()).max() < 1e-4


@pytest.mark.parametrize(
    ("samples", "dtype"),
    [
        ("nan", np.float32),
        ("inf", np.float32),
        ("-inf", np.float32),
        ("nan", np.float64),
        ("nan-in-the-middle", np.float32),
    ],
)
def test_sound_of_samples_that_are_not_numbers_is_refused_at_validation(tmp_path, samples, dtype):
    sound = np.full(8000, 0.1, dtype)
    if samples == "nan-in-the-middle":
        sound[4000] = np.nan
    else:
        sound[:] = float(samples)
    wavfile.write(str(tmp_path / "bad.wav"), 8000, sound)
    code, err, _ = validate(tmp_path, **audio_run(tmp_path / "bad.wav"))
    assert code == 2 and "input_audio:" in err and "not numbers (NaN or infinity)" in err


def test_finite_float_sound_validates(tmp_path):
    sound = np.sin(np.arange(8000) * 0.06).astype(np.float32)
    wavfile.write(str(tmp_path / "ok.wav"), 8000, sound)
    assert validate(tmp_path, **audio_run(tmp_path / "ok.wav"))[0] == 0


def gif_of_size(path, width, height):
    """A GIF whose screen is width x height with a single 1x1 picture: a few bytes."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    picture = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    path.write_bytes(b"GIF89a" + screen + picture + b"\x3b")
    return path


def test_images_and_videos_share_one_pixel_bound():
    assert images.MAX_IMAGE_PIXELS == video.MAX_MEDIA_PIXELS == 64_000_000


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    """A video of 14 frames within every bound."""
    return square_video(tmp_path_factory.mktemp("small") / "small.mp4", frames=14)


@pytest.mark.parametrize("size", [(16000, 16000), (8001, 8000), (65535, 1000), (1000, 65535)])
@pytest.mark.parametrize("setting", ["video_path", "video mask", "image mask"])
def test_a_picture_over_the_pixel_bound_is_refused_at_validation(
    tmp_path, size, setting, small_video
):
    big = gif_of_size(tmp_path / "big.gif", *size)
    changes = {"animation_mode": "Video Source", "flow_model": "dis", "video_path": str(big)}
    if setting != "video_path":
        if setting == "video mask":  # ffmpeg reads a GIF by its content, whatever its name
            big = big.rename(tmp_path / "big.mkv")
        changes.update(video_path=str(small_video), scenes=f"a red circle:1_[{big}]")
    code, err, peak = validate(tmp_path, measured=True, **changes)
    assert code == 2 and "larger than 64000000 pixels" in err and peak < 150
    assert setting == "image mask" or f"is {size[0]}x{size[1]}" in err


def test_a_video_within_the_pixel_bound_is_read(tmp_path):
    small = gif_of_size(tmp_path / "small.gif", 640, 480)
    info = video.probe_video(small, 12.0)
    assert (info.width, info.height, info.frames) == (640, 480, 1)


@contextlib.contextmanager
def special_path(kind, folder):
    """A path of `kind` that is no regular file."""
    path = folder / "thing.mp4"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = "/dev/zero"
    elif kind == "socket":
        short = tempfile.mkdtemp(prefix="s")  # a socket's path is limited to ~100 bytes
        path = os.path.join(short, "s.mp4")
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
    elif kind == "link-to-folder":
        (folder / "real").mkdir()
        path.symlink_to(folder / "real")
    elif kind == "broken-link":
        path.symlink_to(folder / "gone")
    try:
        yield str(path)
    finally:
        if kind == "socket":
            server.close()
            shutil.rmtree(short)


EXPECTED = {
    "folder": "is a folder",
    "link-to-folder": "is a folder",
    "fifo": "is not a regular file (a FIFO)",
    "device": "is not a regular file (a device)",
    "socket": "is not a regular file (a socket)",
    "broken-link": "does not exist",
}


@pytest.mark.parametrize("kind", list(EXPECTED))
@pytest.mark.parametrize("setting", ["video_path", "input_audio", "init_image", "mask"])
def test_a_media_path_that_is_no_regular_file_says_what_it_is(tmp_path, kind, setting):
    with special_path(kind, tmp_path) as path:
        if setting == "video_path":
            changes = {"animation_mode": "Video Source", "flow_model": "dis", setting: path}
        elif setting == "input_audio":
            changes = audio_run(path)
        elif setting == "init_image":
            changes = {"init_image": path}
        else:
            changes = {"scenes": f"a red circle:1_[{path}]"}
        code, err, _ = validate(tmp_path, **changes)
    assert code == 2 and EXPECTED[kind] in err
    assert kind == "broken-link" or "does not exist" not in err
