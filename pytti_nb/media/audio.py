"""Audio reactivity: a sound file's loudness in frequency bands, one value per animation frame.

The file is decoded once, as a stream, by the ffmpeg that imageio-ffmpeg ships, to mono at
PyTTI's 44.1 kHz, or at 22.05 or 11.025 kHz when every band lies below a fifth of that rate
(the filters then run on a half or a quarter of the samples, with the same result). Each band
of `input_audio_filters` is a Butterworth band-pass of its order applied forward and backward,
as scipy's `sosfiltfilt(butter(...))` does: zero phase, so a beat peaks in the frame where it
sounds. It is applied in the frequency domain, as the squared magnitude of the digital
Butterworth response (bilinear transform, prewarped edges), with numpy alone, to stretches of
CHUNK_SECONDS with the filters' ringing either side: the same result as filtering the whole
track at once, in memory that does not grow with the track. (scipy's filters agree to rounding
away from the track's ends, a test checks it; importing scipy.signal alone takes longer than
the analysis.) A frame's value is the band's largest absolute amplitude in the frame's 1/fps
window (from input_audio_offset on), divided by the band's largest over the track, so it lies
in [0, 1] as in PyTTI. Frames before the animation and after the track are 0. In every
expression the band is `<name>` and the previous frame's value `<name>_prev`. A file with NaN
or infinite samples is refused (it would fail when its sound goes into the video).
"""

import keyword
import math
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from ..errors import MediaError, shown, shown_path
from .video import file_problem, file_stamp

SAMPLE_RATE = 44100  # PyTTI's; bands must lie below half of it
RATES = (11025, 22050, SAMPLE_RATE)  # decoding rates, lowest first
HEADROOM = 5  # a band's upper edge stays below rate / HEADROOM
MAX_SECONDS = 4 * 3600  # sound after four hours is not analysed (its frames read 0)
# Analysis holds one stretch of CHUNK_SECONDS plus the filters' ringing either side (at most
# MAX_MARGIN_SECONDS each), never the whole track: at most 60 s of sound at 44.1 kHz, some
# 21 MB per float64 copy, whatever the track's length.
CHUNK_SECONDS = 20
MAX_MARGIN_SECONDS = 20  # a band narrower than about 1 Hz rings longer; its tail is cut here
RINGING = 1e-7  # the part of a filter's peak response its ringing is measured down to
BLOCK_BYTES = 2**18  # read from ffmpeg at a time
FILTER_KEYS = ("variable_name", "f_center", "f_width", "order")
RESERVED = frozenset({"t", "frame", "r", "R", "mu", "pi", "e", "tau", "inf", "nan", "np"})


@dataclass(frozen=True)
class BandFilter:
    """One band: its variable name, centre and width in Hz, and the filter's order."""

    variable_name: str
    f_center: float
    f_width: float
    order: int = 5

    @property
    def low(self) -> float:
        """The lower edge in Hz."""
        return self.f_center - self.f_width / 2

    @property
    def high(self) -> float:
        """The upper edge in Hz."""
        return self.f_center + self.f_width / 2


def parse_filters(raw) -> tuple[BandFilter, ...]:
    """input_audio_filters as BandFilters; raises ValueError naming the bad filter and field."""
    from ..lang.expressions import FUNCTIONS

    if raw in (None, ""):
        return ()
    if not isinstance(raw, (list, tuple)):
        raise ValueError(f"{shown(raw)} is not a list of filters; write e.g. {_EXAMPLE}")
    out, names = [], set()
    for i, item in enumerate(raw):
        where = f"filter {i + 1}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: {shown(item)} is not a mapping; write e.g. {_EXAMPLE}")
        unknown = sorted(set(map(str, item)) - set(FILTER_KEYS))
        missing = [k for k in FILTER_KEYS[:3] if k not in item]
        if unknown or missing:
            raise ValueError(
                f"{where}: "
                + (f"unknown key(s) {_keys(unknown)}; " if unknown else "")
                + (f"missing {', '.join(missing)}; " if missing else "")
                + f"a filter has {', '.join(FILTER_KEYS)} (order is optional, 5)"
            )
        name = item["variable_name"]
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(
                f"{where}: variable_name {shown(name)} must be a name like fLo or bass"
            )
        if unicodedata.normalize("NFKC", name) != name:
            plain = unicodedata.normalize("NFKC", name)
            raise ValueError(
                f"{where}: variable_name {shown(name)} reads as {shown(plain)} in expressions "
                f"(they fold ligatures and other compatibility characters); write {shown(plain)}"
            )
        if name in RESERVED or name in FUNCTIONS or name.endswith("_prev") or name in names:
            raise ValueError(
                f"{where}: variable_name {shown(name)} is taken (t, frame, r, R, mu, np, constants, "
                "functions, *_prev names and the other bands); choose another"
            )
        names.add(name)
        band = BandFilter(
            name,
            _number(item["f_center"], f"{where}: f_center"),
            _number(item["f_width"], f"{where}: f_width"),
            _order(item.get("order", 5), where),
        )
        nyquist = SAMPLE_RATE / 2
        if band.f_width <= 0:
            raise ValueError(f"{where}: f_width {band.f_width:g} Hz must be above 0")
        if band.low <= 0 or band.high >= nyquist:
            raise ValueError(
                f"{where}: the band {band.low:g}-{band.high:g} Hz (f_center ± f_width/2) must "
                f"lie between 0 and {nyquist:g} Hz, half the {SAMPLE_RATE} Hz sample rate"
            )
        out.append(band)
    return tuple(out)


_EXAMPLE = "[{variable_name: fLo, f_center: 80, f_width: 40, order: 5}]"


def _keys(keys, most: int = 5) -> str:
    """Unknown filter keys for a message: short printable ones as they are, others quoted
    bounded, at most `most` of them."""
    named = [k if len(k) <= 40 and k.isprintable() else shown(k) for k in keys[:most]]
    more = f" and {len(keys) - most} more" if len(keys) > most else ""
    return ", ".join(named) + more


def _number(value, where) -> float:
    """A finite number, or ValueError."""
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            number = None
    if number is None or not math.isfinite(number):
        raise ValueError(f"{where} {shown(value)} is not a number (Hz)")
    return number


def _order(value, where) -> int:
    """A filter order from 1 to 12, or ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
        raise ValueError(f"{where}: order {shown(value)} must be a whole number from 1 to 12")
    return value


def analysis_rate(filters) -> int:
    """The lowest decoding rate that keeps every band well below its Nyquist frequency."""
    top = max((band.high for band in filters), default=0.0)
    return next((rate for rate in RATES if top * HEADROOM < rate), SAMPLE_RATE)


def file_blocks(path, where: str = "input_audio", rate: int = SAMPLE_RATE):
    """The file's sound as float32 mono blocks at `rate`, decoded (and resampled) by ffmpeg as
    they are read, so no more than a block is held; MediaError if it is no finite sound."""
    file = Path(str(path)).expanduser()
    problem = file_problem(file, shown_path(path))
    if problem:
        raise MediaError(f"{where}: {problem}")
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(file)]
    cmd += ["-vn", "-t", str(MAX_SECONDS), "-ac", "1", "-ar", str(rate)]
    cmd += ["-f", "f32le", "-acodec", "pcm_f32le", "-"]
    with tempfile.TemporaryFile() as log:  # a pipe could fill and stall ffmpeg
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log)
        try:
            decoded = yield from _read_blocks(proc.stdout, rate, path, where)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if proc.returncode != 0 or decoded == 0:
            log.seek(0)
            lines = log.read().decode("utf-8", "replace").strip().splitlines()[-1:]
            raise MediaError(
                f"{where}: {shown_path(path)} has no audio ffmpeg can decode "
                f"({(lines or ['no sound'])[0][:200]})"
            )


def _read_blocks(stream, rate, path, where):
    """Yield float32 blocks of a raw f32le stream; the number of samples read."""
    decoded, tail = 0, b""
    while data := stream.read(BLOCK_BYTES):
        data, tail = tail + data, b""
        if len(data) % 4:
            data, tail = data[: len(data) // 4 * 4], data[len(data) // 4 * 4 :]
        block = np.frombuffer(data, dtype=np.float32)
        if not np.isfinite(block).all():
            when = (decoded + int(np.argmin(np.isfinite(block)))) / rate
            raise MediaError(
                f"{where}: {shown_path(path)} has samples that are not numbers (NaN or "
                f"infinity), the first {when:.2f} s in; give a sound file of finite samples"
            )
        decoded += len(block)
        yield block
    return decoded


@dataclass(frozen=True)
class AudioBands:
    """Per-frame band values of a track: values[frame, band] in [0, 1]."""

    path: str
    offset: float
    fps: float
    filters: tuple
    values: np.ndarray = field(repr=False, compare=False)  # [frames, bands]
    seconds: float  # the track's length after the offset
    stamp: tuple = ()

    def matches(self, path, offset, fps, filters) -> bool:
        """Whether this analysis still stands for these settings (and the unchanged file)."""
        file = Path(str(path)).expanduser()
        same = (str(file), offset, fps, filters) == (self.path, self.offset, self.fps, self.filters)
        return same and file_stamp(file) == self.stamp

    def names(self) -> tuple[str, ...]:
        """Every variable the bands give expressions: each band and its _prev."""
        bands = [f.variable_name for f in self.filters]
        return (*bands, *(f"{b}_prev" for b in bands))

    def at(self, frame: int) -> dict:
        """The bands of an animation frame (0 before the animation and after the track)."""
        return {
            f.variable_name: float(v) for f, v in zip(self.filters, self._row(frame), strict=True)
        }

    def variables(self, frame: int) -> dict:
        """The bands of a frame and of the frame before, as expressions see them."""
        now, before = self._row(frame), self._row(frame - 1)
        out = {}
        for k, band in enumerate(self.filters):
            out[band.variable_name] = float(now[k])
            out[f"{band.variable_name}_prev"] = float(before[k])
        return out

    def _row(self, frame: int) -> np.ndarray:
        """values[frame], or zeros outside the track."""
        if 0 <= frame < len(self.values):
            return self.values[frame]
        return np.zeros(len(self.filters), dtype=np.float32)


def band_pass(spectrum: np.ndarray, length: int, rate: int, band: BandFilter) -> np.ndarray:
    """The track filtered forward and backward by the band's Butterworth band-pass, from the
    track's rfft."""
    return np.fft.irfft(spectrum * band_pass_gain(length, rate, band), length)


def band_pass_gain(length: int, rate: int, band: BandFilter, warped=None) -> np.ndarray:
    """The gain of the band's forward-backward Butterworth at the rfft frequencies of `length`
    samples: |H(f)|^2 = 1 / (1 + ((W^2 - Wl Wh) / ((Wh - Wl) W))^(2 order)) with the bilinear
    transform's prewarped frequencies W = 2 rate tan(pi f / rate); `warped`: those of the
    rfft frequencies, when already known (every band of a stretch shares them)."""
    w = prewarp(np.fft.rfftfreq(length, 1 / rate), rate) if warped is None else warped
    low, high = prewarp(band.low, rate), prewarp(band.high, rate)
    ratio = (w * w - low * high) / ((high - low) * w)
    return 1 / (1 + ratio ** (2 * band.order))


def prewarp(hz, rate: int):
    """The bilinear transform's prewarped angular frequency of `hz` (kept inside 0..Nyquist)."""
    return 2 * rate * np.tan(np.pi * np.clip(hz, 1e-6, rate / 2 * (1 - 1e-9)) / rate)


def _smooth_length(n: int) -> int:
    """The smallest 2^a 3^b 5^c at least n."""
    best, power5 = 2 * n, 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            size = power35 * 2 ** max(0, math.ceil(math.log2(n / power35)))
            best = min(best, size)
            power35 *= 3
        power5 *= 5
    return best


def ringing(filters, rate: int) -> int:
    """Samples either side of a sound that the bands' zero-phase filters spread it over (their
    impulse responses fall below RINGING of their peak there), at most MAX_MARGIN_SECONDS."""
    cap, most = int(MAX_MARGIN_SECONDS * rate), 1
    for band in filters:
        n = 2 * rate
        while True:  # a response longer than a quarter of n is measured again over twice n
            response = np.abs(np.fft.irfft(band_pass_gain(n, rate, band), n))[: n // 2]
            reach = int(np.nonzero(response > RINGING * response.max())[0][-1]) + 1
            if reach < n // 4 or n // 2 >= cap:
                break
            n *= 2
        most = max(most, min(reach, cap))
    return most


class _Counted:
    """An iterator of sample blocks that counts the samples it has given."""

    def __init__(self, blocks):
        self.blocks, self.samples = blocks, 0

    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        block = next(self.blocks)
        self.samples += len(block)
        return block


def _windows(blocks, start: int, core: int, margin: int):
    """(a, b, window) of consecutive stretches [a, b) of the stream from sample `start` to its
    end, `core` samples each; `window` holds samples a - margin .. b + margin as float64,
    silence beyond the track's ends. Only a window's worth of sound is held at a time."""
    buf, base, a, done = np.zeros(0, np.float32), 0, start, False
    while True:
        while not done and base + len(buf) < a + core + margin:
            block = next(blocks, None)
            if block is None:
                done = True
                break
            buf = np.concatenate((buf, block))
            drop = min(len(buf), max(0, a - margin - base))  # sound before the offset
            buf, base = buf[drop:], base + drop
        end = base + len(buf)
        if a >= end:
            return
        b = min(a + core, end)
        window = np.zeros(b - a + 2 * margin)
        lo, hi = max(a - margin, base), min(b + margin, end)
        window[lo - (a - margin) : hi - (a - margin)] = buf[lo - base : hi - base]
        yield a, b, window
        drop = max(0, b - margin - base)
        buf, base, a = buf[drop:], base + drop, b


class _Peaks:
    """Each frame's largest loudness per band, grown as the stream goes on."""

    def __init__(self, bands: int):
        self.values = np.zeros((64, bands), dtype=np.float32)
        self.frames = 0

    def add(self, first: int, rows: np.ndarray, band: int) -> None:
        """Raise frames first.. of a band to at least `rows`."""
        last = first + len(rows)
        while last > len(self.values):
            self.values = np.concatenate((self.values, np.zeros_like(self.values)))
        column = self.values[first:last, band]
        np.maximum(column, rows, out=column)
        self.frames = max(self.frames, last)


def analyse_audio(path, offset: float, fps: float, filters, where="input_audio") -> AudioBands:
    """Decode a track as a stream and measure every band in every 1/fps window after the
    offset, a stretch of CHUNK_SECONDS at a time (memory does not grow with the track)."""
    filters = tuple(filters)
    rate = analysis_rate(filters)
    margin, core = ringing(filters, rate), int(CHUNK_SECONDS * rate)
    start = round(offset * rate)
    blocks = _Counted(file_blocks(path, where, rate))
    peaks, tops = _Peaks(len(filters)), np.zeros(len(filters))
    warped = (0, None)  # the size of the stretches' FFT and its prewarped frequencies
    for a, b, window in _windows(blocks, start, core, margin):
        # frames whose 1/fps window meets [a, b): their starts, clipped to a
        first = max(0, math.floor((a - start) * fps / rate) - 1)
        ks = np.arange(first, math.floor((b - start) * fps / rate) + 2)
        starts = start + np.round(ks * rate / fps).astype(np.int64)
        meets = (starts < b) & (np.append(starts[1:], np.iinfo(np.int64).max) > a)
        ks, starts = ks[meets], np.maximum(starts[meets], a) - a
        # a 5-smooth length keeps the FFT fast; its silence keeps the wrap-around off the core
        size = _smooth_length(len(window))
        spectrum = np.fft.rfft(window, size)
        if warped[0] != size:  # the first stretch, and the last (shorter) one
            warped = (size, prewarp(np.fft.rfftfreq(size, 1 / rate), rate))
        for k, band in enumerate(filters):
            gain = band_pass_gain(size, rate, band, warped[1])
            filtered = np.fft.irfft(spectrum * gain, size)
            loudness = np.abs(filtered[margin : margin + b - a])
            peaks.add(int(ks[0]), np.maximum.reduceat(loudness, starts), k)
            tops[k] = max(tops[k], loudness.max())
    end = blocks.samples
    if end <= start:
        cut = end >= MAX_SECONDS * rate
        raise MediaError(
            f"input_audio_offset: {offset:g} s is past the end of {shown_path(path)} "
            + (
                f"(only its first {MAX_SECONDS:g} s are read)"
                if cut
                else f"({end / rate:.2f} s long)"
            )
        )
    values = peaks.values[: peaks.frames]
    values /= np.where(tops > 0, tops, 1).astype(np.float32)
    file = Path(str(path)).expanduser()
    seconds = end / rate - offset
    return AudioBands(str(file), offset, fps, filters, values, seconds, file_stamp(file))
