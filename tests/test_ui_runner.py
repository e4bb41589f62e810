"""The studio's render driver: asyncio task, stop, pause, live steering, Ctrl-C, errors."""

import asyncio
from pathlib import Path

import pytest
from waiting import until

from pytti_nb.config.settings import from_dict, replace
from pytti_nb.engine import step as step_module
from pytti_nb.errors import PerceptorError
from pytti_nb.io.checkpoint import load_checkpoint
from pytti_nb.models import ModelCache, network
from pytti_nb.perception import specs as perceptors_module
from pytti_nb.ui import runner as runner_module
from pytti_nb.ui.runner import DONE, ERROR, LOADING, PAUSED, RUNNING, STOPPED, Runner

pytestmark = pytest.mark.colab_stack


@pytest.fixture(scope="module")
def cache():
    """One perceptor cache for the module, as a notebook session keeps one."""
    return ModelCache()


def make_runner(cache, on_snapshot=None):
    """A runner that records every state it passes through."""
    states = []
    runner = Runner(
        cache,
        on_state=lambda state, message: states.append((state, message)),
        on_snapshot=on_snapshot,
    )
    return runner, states


def run_task(runner, settings=None, **kwargs):
    """Start the render as an asyncio task (as the studio does) and wait for its outcome."""

    async def main():
        task = runner.start(settings=settings, **kwargs)
        assert not task.done()  # start() returns at once; the loop drives the render
        return await runner.wait()

    return asyncio.run(main())


def test_a_task_render_runs_every_step_and_writes_frames_and_video(cache, tiny):
    frames = []
    runner, states = make_runner(cache, frames.append)
    outcome = run_task(runner, from_dict(tiny))
    assert outcome.state == DONE and outcome.message.endswith("done")
    assert [s for s, _ in states][:2] == [LOADING, RUNNING] and states[-1][0] == DONE
    assert [f.step for f in frames] == [2, 4, 6, 8, 10, 12]
    assert len(list((outcome.run_dir / "frames").glob("*.png"))) == 3
    assert outcome.video is not None and outcome.video.is_file()
    assert not runner.busy


def test_the_loop_handles_other_work_between_frame_pulls(cache, tiny):
    seen = []
    runner, _ = make_runner(cache)

    async def main():
        runner.start(settings=from_dict(tiny))
        while runner.busy:
            seen.append(runner.session.step if runner.session else 0)
            await asyncio.sleep(0)
        return runner.outcome

    assert asyncio.run(main()).state == DONE
    # other coroutines (widget messages, in a kernel) ran at several points during the render
    assert len({s for s in seen if 0 < s < 12}) >= 3


def test_the_loop_gets_a_turn_between_display_points(cache, tiny, monkeypatch):
    monkeypatch.setattr(runner_module, "TURN_S", 0)  # the engine hands back after every step
    seen, frames = [], []
    runner, _ = make_runner(cache, frames.append)

    async def main():
        runner.start(settings=from_dict({**tiny, "display_every": 0}))
        while runner.busy:
            seen.append(runner.session.step if runner.session else 0)
            await asyncio.sleep(0)
        return runner.outcome

    assert asyncio.run(main()).state == DONE
    assert set(range(1, 12)) <= set(seen)  # a turn at every step, not only at save points
    assert [f.step for f in frames] == [4, 8, 12]  # the studio sees only the save points


def test_stop_ends_after_the_current_step_and_keeps_frames_and_checkpoint(cache, tiny):
    runner, _ = make_runner(cache)
    runner.on_snapshot = lambda frame: runner.stop() if frame.step == 4 else None
    outcome = run_task(runner, from_dict(tiny))
    assert outcome.state == STOPPED and outcome.message.endswith("stopped")
    assert load_checkpoint(outcome.run_dir)["step"] == 5
    assert sorted(p.name for p in (outcome.run_dir / "frames").glob("*.png")) == [
        "000001.png",
        "000002.png",
    ]
    assert runner.last_snapshot.final and runner.last_snapshot.step == 5


def test_pause_holds_the_render_and_resume_continues(cache, tiny, monkeypatch):
    monkeypatch.setattr(runner_module, "PAUSE_POLL_S", 0)  # a paused render polls every turn
    runner, states = make_runner(cache)
    runner.on_snapshot = lambda frame: runner.pause() if frame.step == 2 else None

    async def main():
        runner.start(settings=from_dict(tiny))
        await until(lambda: runner.state == PAUSED, "the pause")
        held = runner.session.step
        for _ in range(20):  # twenty turns of the loop, each a pause poll: no step may run
            await asyncio.sleep(0)
        assert runner.session.step == held == 2 and runner.state == PAUSED
        runner.resume()
        return await runner.wait()

    outcome = asyncio.run(main())
    assert outcome.state == DONE and runner.session.step == 12
    assert (PAUSED, "paused at step 2") in states


def test_stop_while_paused_saves_after_one_more_step(cache, tiny):
    runner, _ = make_runner(cache)
    runner.on_snapshot = lambda frame: runner.pause() if frame.step == 2 else None

    async def main():
        runner.start(settings=from_dict(tiny))
        await until(lambda: runner.state == PAUSED, "the pause")
        runner.stop()
        return await runner.wait()

    outcome = asyncio.run(main())
    assert outcome.state == STOPPED and load_checkpoint(outcome.run_dir)["step"] == 3


def test_a_live_prompt_edit_changes_the_target_at_the_next_step(cache, tiny):
    settings = from_dict(tiny)
    targets = {}

    def on_snapshot(frame):
        target = runner.session.term("prompts").scenes[0][0]
        targets[frame.step] = (target.source, target.embeds[runner.session.perceptors[0]].clone())
        if frame.step == 4:
            runner.steer(replace(settings, scenes="a yellow square on a blue background"))

    runner, states = make_runner(cache, on_snapshot)
    outcome = run_task(runner, settings)
    assert outcome.state == DONE
    assert targets[4][0] == "a red circle on a black background"
    assert targets[6][0] == "a yellow square on a blue background"
    assert not targets[6][1].equal(targets[4][1])
    assert any("live edit applied at step 5" in m for _, m in states)
    assert runner.session.settings.scenes == "a yellow square on a blue background"


def test_a_live_edit_of_a_fixed_setting_waits_for_the_next_render(cache, tiny):
    settings = from_dict(tiny)
    runner, states = make_runner(cache)
    runner.on_snapshot = lambda f: (
        runner.steer(replace(settings, width=20)) if f.step == 2 else None
    )
    assert run_task(runner, settings).state == DONE
    assert runner.session.settings.width == 12
    assert any("width apply to the next render" in m for _, m in states)


def test_an_invalid_live_edit_is_reported_and_the_render_goes_on(cache, tiny):
    settings = from_dict(tiny)
    runner, states = make_runner(cache)
    runner.on_snapshot = lambda f: (
        runner.steer(replace(settings, steps_per_scene=3)) if f.step == 4 else None
    )
    assert run_task(runner, settings).state == DONE
    assert runner.session.step == 12
    assert any(m.startswith("live edit not applied: steps_per_scene") for _, m in states)


def test_ctrl_c_inside_a_step_ends_like_stop(cache, tiny, monkeypatch):
    runner, _ = make_runner(cache)

    def on_snapshot(frame):
        if frame.step == 4:
            train_step = step_module.train_step

            def interrupted(session, ctx):
                monkeypatch.setattr(step_module, "train_step", train_step)
                raise KeyboardInterrupt  # what Colab's stop button raises mid-step

            monkeypatch.setattr(step_module, "train_step", interrupted)

    runner.on_snapshot = on_snapshot
    outcome = run_task(runner, from_dict(tiny))
    assert outcome.state == STOPPED
    assert load_checkpoint(outcome.run_dir)["step"] == 5
    assert (outcome.run_dir / "frames" / "000002.png").is_file()


def test_foreground_render_ends_cleanly_on_ctrl_c(cache, tiny):
    runner, _ = make_runner(cache)

    def on_snapshot(frame):
        if frame.step == 2:
            raise KeyboardInterrupt

    runner.on_snapshot = on_snapshot
    outcome = runner.render_blocking(settings=from_dict(tiny))
    assert outcome.state == STOPPED
    assert (outcome.run_dir / "frames").is_dir()


def test_foreground_render_without_interruption_finishes(cache, tiny):
    runner, _ = make_runner(cache)
    outcome = runner.render_blocking(settings=from_dict(tiny))
    assert outcome.state == DONE and load_checkpoint(outcome.run_dir)["step"] == 12


def test_missing_weights_end_in_a_plain_error_and_leave_no_run_folder(tiny, monkeypatch):
    # Offline: the weights host cannot be reached and nothing is cached.
    monkeypatch.setattr(network, "reachable", lambda *a, **k: False)
    monkeypatch.setattr(perceptors_module, "cached_tag_weights", lambda *a: None)
    for proxy in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    runner, states = make_runner(ModelCache())
    outcome = run_task(runner, from_dict({**tiny, "perceptors": ["ViT-B-32@openai"]}))
    assert outcome.state == ERROR and isinstance(outcome.error, PerceptorError)
    assert "'demo'" in outcome.message and states[-1] == (ERROR, outcome.message)
    assert not (Path(tiny["output_root"]) / "run").exists()


def test_only_one_render_at_a_time(cache, tiny):
    runner, _ = make_runner(cache)

    async def main():
        runner.start(settings=from_dict(tiny))
        with pytest.raises(RuntimeError, match="already running"):
            runner.start(settings=from_dict(tiny))
        runner.stop()
        return await runner.wait()

    assert asyncio.run(main()).state == STOPPED


def test_a_live_edit_waits_until_typing_settles(cache, tiny):
    settings = from_dict(tiny)

    def on_snapshot(frame):
        if frame.step == 2:  # still "typing": the edit must not reach this short render
            runner.steer(replace(settings, scenes="a yel"), settle=60.0)

    runner, _ = make_runner(cache, on_snapshot)
    assert run_task(runner, settings).state == DONE
    assert (
        runner.session.term("prompts").scenes[0][0].source == "a red circle on a black background"
    )
