"""Video and audio files a run reads: probed and decoded through the ffmpeg of imageio-ffmpeg."""
