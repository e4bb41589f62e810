"""Videos and sounds the tests draw: a textured square moving over a textured background,
masks that switch sides, tone bursts at known times."""

import imageio_ffmpeg
import numpy as np
from scipy.io import wavfile

SQUARE = 20  # side of the moving square, pixels
TOP = 26  # its top row


def square_video(path, *, frames=10, width=96, height=72, step=3, start=10, fps=12):
    """A lossless video: a bright textured square moving `step` pixels right per frame."""
    rng = np.random.default_rng(0)
    background = (rng.random((height, width, 3)) * 110).astype(np.uint8)
    texture = (145 + rng.random((SQUARE, SQUARE, 3)) * 110).astype(np.uint8)
    images = []
    for i in range(frames):
        image = background.copy()
        x = start + i * step
        image[TOP : TOP + SQUARE, x : x + SQUARE] = texture
        images.append(image)
    write_video(path, images, fps)
    return path


def square_mask_video(path, *, frames=10, width=96, height=72, step=3, start=10, fps=12):
    """The mask drawn for square_video: white where its square is, black elsewhere."""
    images = []
    for i in range(frames):
        image = np.zeros((height, width, 3), np.uint8)
        x = start + i * step
        image[TOP : TOP + SQUARE, x : x + SQUARE] = 255
        images.append(image)
    write_video(path, images, fps)
    return path


def halves_video(path, *, frames=10, width=96, height=72, fps=12):
    """A mask video: white on the left half in even frames, on the right half in odd ones."""
    images = []
    for i in range(frames):
        image = np.zeros((height, width, 3), np.uint8)
        half = slice(0, width // 2) if i % 2 == 0 else slice(width // 2, width)
        image[:, half] = 255
        images.append(image)
    write_video(path, images, fps)
    return path


def write_video(path, images, fps):
    """Frames (HxWx3 uint8) into a lossless H.264 file."""
    height, width = images[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(path), (width, height), fps=fps, codec="libx264", pix_fmt_out="yuv444p",
        output_params=["-qp", "0"], macro_block_size=1, ffmpeg_log_level="error",
    )  # fmt: skip
    writer.send(None)
    for image in images:
        writer.send(np.ascontiguousarray(image).tobytes())
    writer.close()


def tone_bursts(path, *, seconds, bursts, frequency=80.0, rate=44100):
    """A quiet high hum with loud `frequency` Hz bursts of 0.1 s starting at `bursts` seconds."""
    t = np.arange(int(seconds * rate)) / rate
    sound = 0.05 * np.sin(2 * np.pi * 3000 * t)
    for start in bursts:
        on = (t >= start) & (t < start + 0.1)
        sound[on] += 0.8 * np.sin(2 * np.pi * frequency * t[on])
    wavfile.write(str(path), rate, (sound * 32767).astype(np.int16))
    return path
