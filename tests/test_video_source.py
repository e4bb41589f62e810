"""Video Source: the image follows a video's motion along its optical flow, video masks follow
the frames, and everything is checked before a model loads."""

import functools

import numpy as np
import pytest
import torch
from media import SQUARE, TOP, halves_video, square_video

from pytti_nb.animation.flow import consistency_mask, flow_warp
from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.engine.render import snapshots
from pytti_nb.engine.session import Session
from pytti_nb.errors import SettingsError
from pytti_nb.io.checkpoint import load_checkpoint, save_checkpoint
from pytti_nb.media.video import VideoReader, probe_video
from pytti_nb.models import ModelCache, network
from pytti_nb.models.flow import DisFlow, load_flow_model
from pytti_nb.models.flow_weights import FlowModelError, raft_weights_path

pytestmark = pytest.mark.numerics

STEP = 3  # the test video's square moves 3 pixels right per frame


@pytest.fixture(scope="module")
def models():
    return ModelCache()


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return square_video(tmp_path_factory.mktemp("video") / "square.mp4", step=STEP)


@functools.cache
def decoded(path) -> tuple:
    """Every frame of a test video at the runs' size, decoded once (a decoder start each)."""
    reader = VideoReader(path, 12.0, (96, 72), keep=10**6)
    try:
        return tuple(reader.frame(i) for i in range(probe_video(path, 12.0).frames))
    finally:
        reader.close()


def source(path, index):
    """A frame of the test video as [1,3,H,W] in [0,1]."""
    frame = decoded(str(path))[index]
    return torch.from_numpy(frame.astype(np.float32) / 255).permute(2, 0, 1)[None]


def following(video, tmp_path, **changes):
    """A Video Source run that follows the video, one step per frame, nearly frozen."""
    return {
        "scenes": "a red circle",
        "perceptors": ["demo"],
        "width": 96,
        "height": 72,
        "pixel_size": 1,
        "cutouts": 2,
        "steps_per_scene": 100,
        "steps_per_frame": 1,
        "save_every": 1,
        "display_every": 1,
        "learning_rate": 1e-6,
        "smoothing_weight": 0,
        "seed": 1,
        "device": "cpu",
        "animation_mode": "Video Source",
        "video_path": str(video),
        "flow_model": "dis",
        "reencode_each_frame": False,
        "sampling_mode": "bilinear",
        "infill_mode": "smear",
        "output_root": str(tmp_path),
        **changes,
    }


def saved(settings, models):
    """(Session, every saved snapshot)."""
    r = Session(plan_run(from_dict(settings)), models)
    return r, [s for s in snapshots(r) if s.save_number]


def right_edge(image):
    """The rightmost column of the bright textured square (its texture is above 145)."""
    rows = image[TOP + 4 : TOP + SQUARE - 4].astype(int)
    bright = (rows.min(axis=2) > 145).mean(axis=0) > 0.5
    return int(np.flatnonzero(bright).max())


def test_the_run_ends_with_the_video_and_starts_from_its_first_frame(video, tmp_path):
    p = plan_run(from_dict(following(video, tmp_path, steps_per_frame=2, pre_animation_steps=3)))
    # 10 source frames: frame k shows source frame k + 1, so 9 frames, then the video ends
    assert p.clock.frames == 9 and p.total_steps == 3 + 9 * 2
    assert (p.video.frames, p.video.width, p.video.height) == (10, 96, 72)


def test_the_square_follows_the_source_motion(video, tmp_path, models):
    r, snaps = saved(following(video, tmp_path), models)
    assert [s.frame for s in snaps] == list(range(9))
    start = right_edge(source(video, 0)[0].permute(1, 2, 0).numpy() * 255)
    edges = [start] + [right_edge(s.image) for s in snaps]
    # frame k shows source frame k + 1: 3 pixels further each frame (the edge, resampled by
    # every warp, blurs by under a pixel), 27 pixels in all
    assert all(2 <= b - a <= 4 for a, b in zip(edges, edges[1:], strict=False)), edges
    assert abs(edges[-1] - (start + 9 * STEP)) <= 1, edges
    assert snaps[-1].motion["source_frame"] == 9 and snaps[-1].motion["reencoded"] is False


def test_the_consistency_mask_is_zero_where_the_square_uncovers_the_background(tmp_path):
    fast = square_video(tmp_path / "fast.mp4", step=4, frames=4)
    before, after = source(fast, 2), source(fast, 3)
    flow = DisFlow()
    mask = consistency_mask(flow(before, after), flow(after, before))[0, 0]
    left = 10 + 3 * 4  # the square's left edge in frame 3; it uncovered the 4 columns before
    # the outer half of the uncovered strip (DIS spreads the square's motion about 2 px out)
    uncovered = mask[TOP + 4 : TOP + SQUARE - 4, left - 4 : left - 2]
    assert uncovered.max() < 0.05
    assert mask[TOP + 6 : TOP + SQUARE - 6, left + 6 : left + SQUARE - 6].min() > 0.9
    assert mask[60:, 60:].min() > 0.9 and mask[30:42, 2:8].min() > 0.9  # still background


def warped_change(snaps, video):
    """Mean change between consecutive outputs after moving the older along the video's flow."""
    flow, changes = DisFlow(), []
    for k in range(1, len(snaps)):
        a, b = source(video, k), source(video, k + 1)
        older = torch.from_numpy(snaps[k - 1].image.astype(np.float32) / 255).permute(2, 0, 1)
        moved = flow_warp(flow(b, a), "bilinear", "smear").apply(older[None])[0]
        newer = torch.from_numpy(snaps[k].image.astype(np.float32) / 255).permute(2, 0, 1)
        changes.append(float((moved - newer).abs().mean()))
    return np.mean(changes)


def test_flow_stabilization_holds_frames_to_the_moved_previous_output(video, tmp_path, models):
    free = following(
        video, tmp_path, learning_rate=0.05, steps_per_frame=3, save_every=3, steps_per_scene=15
    )  # five frames
    _, loose = saved(free, models)
    # Adam normalises step sizes: the loss must outweigh the prompts to hold the pixels
    _, held = saved({**free, "flow_stabilization_weight": 1000}, models)
    assert warped_change(held, video) < 0.6 * warped_change(loose, video)


def test_resume_mid_video_is_exact(video, tmp_path, models):
    settings = following(
        video, tmp_path, learning_rate=0.05, steps_per_frame=3, save_every=3, steps_per_scene=18,
        flow_long_term_samples=2, flow_stabilization_weight=1, direct_stabilization_weight=1,
    )  # fmt: skip
    whole = list(snapshots(Session(plan_run(from_dict(settings)), models)))[-1]
    r = Session(plan_run(from_dict(settings)), models)
    list(snapshots(r, should_stop=lambda: r.step >= 14))  # mid frame 4, two outputs kept
    save_checkpoint(tmp_path, r.state_dict())
    state = load_checkpoint(tmp_path)
    # frame 4: the outputs of frames 0 to 3 are kept for the samples 1, 2 and 4 frames back
    assert set(state["animator"]["kept"]) == {"0", "1", "2", "3"}
    assert "stabilization_flow" in state["terms"]
    resumed = Session(plan_run(from_dict(settings)), models, resume=state)
    last = list(snapshots(resumed))[-1]
    assert np.array_equal(last.image, whole.image)


def test_reencoding_starts_each_frame_from_the_source(video, tmp_path, models):
    _, snaps = saved(following(video, tmp_path, reencode_each_frame=True), models)
    for snap in snaps:
        frame = source(video, snap.frame + 1)[0].permute(1, 2, 0).numpy() * 255
        assert np.abs(snap.image.astype(float) - frame).mean() < 3  # lr 1e-6: still the frame
        assert snap.motion["reencoded"] is True


def test_video_masks_follow_the_frames(video, tmp_path, models):
    mask = halves_video(tmp_path / "halves.mp4")
    settings = following(
        video, tmp_path, scenes=f"a red circle:1_[{mask}]",
        direct_stabilization_weight=f"1_[-{mask}]", steps_per_scene=4,
    )  # fmt: skip
    r = Session(plan_run(from_dict(settings)), models)
    target = r.term("prompts").scenes[0][0]
    held = r.term("stabilization_direct")
    assert target.mask_image[0, 0, 0, 0] == 1  # before the animation: the mask's first frame
    for snap in snapshots(r):
        # animation frame k takes mask frame k + 1 (PyTTI): white on the left when even
        left_white = (snap.frame + 1) % 2 == 0
        assert bool(target.mask_image[0, 0, 0, 0] > 0.5) == left_white
        assert bool(held.mask[0, 0, 0, 0] > 0.5) != left_white  # the inverted mask


def test_the_loop_never_decodes_a_video_frame_itself(video, tmp_path, models, monkeypatch):
    import threading

    mask = halves_video(tmp_path / "halves.mp4")
    settings = following(video, tmp_path, scenes=f"a red circle:1_[{mask}]", steps_per_scene=4)
    r = Session(plan_run(from_dict(settings)), models)  # the first frames: read before the loop
    threads, frame = [], VideoReader.frame

    def recorded(reader, index):
        threads.append(threading.current_thread())
        return frame(reader, index)

    monkeypatch.setattr(VideoReader, "frame", recorded)
    assert len(list(snapshots(r))) == 4
    # the source and mask frames of every animation frame came from the reading thread
    assert threads and threading.current_thread() not in threads
    r.close()


def test_raft_weights_load_from_the_cache_like_a_download(tmp_path, video):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = raft_weights_path("raft_small", str(tmp_path))
    path.parent.mkdir(parents=True)
    torch.save(raft_small(weights=None).state_dict(), path)  # where a download would land
    model = load_flow_model("raft_small", device="cpu", cache_dir=str(tmp_path))
    a, b = source(video, 0), source(video, 1)
    assert model(a, b).shape == (1, 2, 72, 96)


def test_raft_weights_download_through_the_bounded_downloader(tmp_path, monkeypatch, video):
    """RAFT's weights come through models/download.py: kept when their sha256 starts with the
    hash their file name gives (as torch's hub checks), refused (nothing kept) otherwise."""
    import hashlib
    import io

    from test_vqgan_models import Server
    from torchvision.models.optical_flow import raft_small

    from pytti_nb.models import flow_weights

    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(raft_small(weights=None).state_dict(), buffer)
    data = buffer.getvalue()
    good = hashlib.sha256(data).hexdigest()[:8]
    server = Server()
    try:
        server.files = {f"/raft_small-{good}.pth": data, "/raft_small-00000000.pth": data}
        monkeypatch.setitem(
            flow_weights.RAFT_URLS, "raft_small", f"{server.url}/raft_small-00000000.pth"
        )
        with pytest.raises(FlowModelError, match="not the 00000000"):
            load_flow_model("raft_small", device="cpu", cache_dir=str(tmp_path / "bad"))
        assert not any((tmp_path / "bad").rglob("*.pth"))
        monkeypatch.setitem(
            flow_weights.RAFT_URLS, "raft_small", f"{server.url}/raft_small-{good}.pth"
        )
        model = load_flow_model("raft_small", device="cpu", cache_dir=str(tmp_path / "good"))
        assert model(source(video, 0), source(video, 1)).shape == (1, 2, 72, 96)
        assert raft_weights_path("raft_small", str(tmp_path / "good")).read_bytes() == data
    finally:
        server.close()


def problems_of(settings):
    with pytest.raises(SettingsError) as e:
        plan_run(from_dict(settings))
    return "\n".join(e.value.problems)


def test_bad_videos_are_named_before_anything_loads(video, tmp_path):
    missing = problems_of(following("gone.mp4", tmp_path))
    assert "video_path: file 'gone.mp4' does not exist" in missing
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    assert "is not a readable video" in problems_of(following(junk, tmp_path))
    single = square_video(tmp_path / "one.mp4", frames=1)
    assert "has 1 frame(s)" in problems_of(following(single, tmp_path))
    assert "Video Source needs a video" in problems_of(following("", tmp_path))


def test_a_short_mask_video_is_refused_with_the_frames_it_needs(video, tmp_path):
    short = halves_video(tmp_path / "short.mp4", frames=4)
    text = problems_of(following(video, tmp_path, scenes=f"a:1_[{short}]"))
    assert "has 4 frame(s)" in text and "the run needs 10" in text


def test_raft_offline_and_not_downloaded_names_dis(video, tmp_path, monkeypatch):
    monkeypatch.setattr(network, "reachable", lambda *a, **k: False)
    for proxy in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    text = problems_of(
        following(video, tmp_path, flow_model="raft_large", models_cache_dir=str(tmp_path))
    )
    assert "not downloaded yet" in text and "flow_model: dis" in text


def test_a_scene_cut_starts_the_frame_from_the_new_shot(tmp_path, models):
    from media import write_video

    rng = np.random.default_rng(5)
    shot_a = (rng.random((72, 96, 3)) * 255).astype(np.uint8)
    shot_b = (rng.random((72, 96, 3)) * 255).astype(np.uint8)
    write_video(tmp_path / "cut.mp4", [shot_a] * 5 + [shot_b] * 5, 12)
    _, snaps = saved(following(tmp_path / "cut.mp4", tmp_path), models)  # no re-encoding asked
    # frame 4 follows the flow from source frame 4 to 5, across the cut: it starts from frame 5
    assert [s.frame for s in snaps if s.motion["cut"]] == [4]
    assert snaps[4].motion["reencoded"] and not snaps[3].motion["reencoded"]
    decoded = source(tmp_path / "cut.mp4", 5)[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(snaps[4].image.astype(float) - decoded).mean() < 3  # lr 1e-6: still it
