"""Audio reactivity: a sound file's loudness in frequency bands, one value per animation frame.

The file is decoded once, by the ffmpeg that imageio-ffmpeg ships, to mono at PyTTI's 44.1
kHz, or at 22.05 or 11.025 kHz when every band lies below a fifth of that rate (the filters
then run on a half or a quarter of the samples, with the same result). Each band of
`input_audio_filters` is a Butterworth band-pass of its order applied forward and backward
over the whole track, as scipy's `sosfiltfilt(butter(...))` does: zero phase, so a beat peaks
in the frame where it sounds. It is applied in the frequency domain, as the squared magnitude
of the digital Butterworth response (bilinear transform, prewarped edges): one FFT of the
track and one inverse FFT per band, with numpy alone. (scipy's filters agree to rounding away
from the track's ends, a test checks it; importing scipy.signal alone takes longer than the
analysis.) A frame's value is the band's largest absolute amplitude
in the frame's 1/fps window (from input_audio_offset on), divided by the band's largest over
the track, so it lies in [0, 1] as in PyTTI. Frames before the animation and after the track
are 0. In every expression the band is `<name>` and the previous frame's value `<name>_prev`.
"""

import keyword
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from ..errors import MediaError, shown, shown_path
from .video import file_stamp

SAMPLE_RATE = 44100  # PyTTI's; bands must lie below half of it
RATES = (11025, 22050, SAMPLE_RATE)  # decoding rates, lowest first
HEADROOM = 5  # a band's upper edge stays below rate / HEADROOM
MAX_SECONDS = 4 * 3600  # a decoded hour of audio is 600 MB; four is the limit
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
    from ..expressions import FUNCTIONS

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


def decode_audio(path, where: str = "input_audio", rate: int = SAMPLE_RATE) -> np.ndarray:
    """The file's sound as float32 mono samples at `rate`, decoded (and resampled) by ffmpeg."""
    file = Path(str(path)).expanduser()
    if not file.is_file():
        raise MediaError(f"{where}: file {shown_path(path)} does not exist")
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(file)]
    cmd += ["-vn", "-t", str(MAX_SECONDS), "-ac", "1", "-ar", str(rate)]
    cmd += ["-f", "s16le", "-acodec", "pcm_s16le", "-"]
    run = subprocess.run(cmd, capture_output=True, check=False)
    samples = np.frombuffer(run.stdout, dtype=np.int16)
    if run.returncode != 0 or samples.size == 0:
        reason = run.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no sound"]
        raise MediaError(
            f"{where}: {shown_path(path)} has no audio ffmpeg can decode ({reason[0][:200]})"
        )
    return samples.astype(np.float32) / 32768


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
    track's rfft: |H(f)|^2 = 1 / (1 + ((W^2 - Wl Wh) / ((Wh - Wl) W))^(2 order)) with the
    bilinear transform's prewarped frequencies W = 2 rate tan(pi f / rate)."""
    freqs = np.fft.rfftfreq(length, 1 / rate)
    nyquist = rate / 2

    def prewarp(hz):
        return 2 * rate * np.tan(np.pi * np.clip(hz, 1e-6, nyquist * (1 - 1e-9)) / rate)

    w, low, high = prewarp(freqs), prewarp(band.low), prewarp(band.high)
    ratio = (w * w - low * high) / ((high - low) * w)
    gain = 1 / (1 + ratio ** (2 * band.order))
    return np.fft.irfft(spectrum * gain, length)


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


def analyse_audio(path, offset: float, fps: float, filters, where="input_audio") -> AudioBands:
    """Decode a track once and measure every band in every 1/fps window after the offset."""
    rate = analysis_rate(filters)
    samples = decode_audio(path, where, rate)
    seconds = len(samples) / rate - offset
    if seconds <= 0:
        raise MediaError(
            f"input_audio_offset: {offset:g} s is past the end of {shown_path(path)} "
            f"({len(samples) / rate:.2f} s long)"
        )
    track = samples[round(offset * rate) :]
    frames = math.ceil(seconds * fps)
    starts = np.round(np.arange(frames) * rate / fps).astype(np.int64)
    starts = starts[starts < len(track)]
    values = np.zeros((len(starts), len(filters)), dtype=np.float32)
    # A second of silence after the track keeps the FFT's circular filtering from ringing the
    # track's end into its start; a 5-smooth length keeps the FFT fast.
    padded = _smooth_length(len(track) + rate)
    spectrum = np.fft.rfft(track.astype(np.float64), padded)
    for k, band in enumerate(filters):
        loudness = np.abs(band_pass(spectrum, padded, rate, band)[: len(track)])
        peaks = np.maximum.reduceat(loudness, starts)  # each frame's window, in one pass
        top = peaks.max()
        values[:, k] = peaks / top if top > 0 else 0.0
    file = Path(str(path)).expanduser()
    return AudioBands(str(file), offset, fps, tuple(filters), values, seconds, file_stamp(file))
