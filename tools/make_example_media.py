"""Draw the small video and sound the examples use: python tools/make_example_media.py.

examples/media/circle.mp4: a white circle crossing a black background (the demo perceptor
knows circles and both colours), 48 frames at 12 fps, 120x120. examples/media/beat.wav: four
seconds of a kick drum every half second over a quiet hum. Seeded: the files come out the same.
"""

from pathlib import Path

import imageio_ffmpeg
import numpy as np
from scipy.io import wavfile

MEDIA = Path(__file__).resolve().parent.parent / "examples" / "media"


def circle_video(path, frames=48, size=120, fps=12):
    """A white circle moving left to right and back along a gentle arc."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    writer = imageio_ffmpeg.write_frames(
        str(path), (size, size), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
        output_params=["-crf", "18"], macro_block_size=8, ffmpeg_log_level="error",
    )  # fmt: skip
    writer.send(None)
    for i in range(frames):
        phase = 2 * np.pi * i / frames
        cx, cy = size / 2 + 35 * np.sin(phase), size / 2 + 12 * np.cos(2 * phase)
        inside = (xs - cx) ** 2 + (ys - cy) ** 2 < 22**2
        frame = np.zeros((size, size, 3), np.uint8)
        frame[inside] = 255
        writer.send(frame.tobytes())
    writer.close()


def beat(path, seconds=4.0, rate=11025, every=0.5):
    """A decaying 60 Hz kick every `every` seconds over a faint 2 kHz hum."""
    t = np.arange(int(seconds * rate)) / rate
    sound = 0.02 * np.sin(2 * np.pi * 2000 * t)
    since = t % every
    sound += 0.9 * np.sin(2 * np.pi * 60 * t) * np.exp(-since / 0.08)
    wavfile.write(str(path), rate, (np.clip(sound, -1, 1) * 32767).astype(np.int16))


if __name__ == "__main__":
    MEDIA.mkdir(exist_ok=True)
    circle_video(MEDIA / "circle.mp4")
    beat(MEDIA / "beat.wav")
