"""Sweeps under hostile conditions: a cluster that does not answer, a signal while connecting, a
killed sweep's Ray processes, two sweeps into one folder, a user's files in it, over-long names."""

import json
import os
import signal
import socket
import threading
from pathlib import Path

import pytest
import yaml
from forked import Forked
from tiny import tiny_settings
from waiting import wait_for

from pytti_nb import cli
from pytti_nb.sweep.runner import check_own_sheet, claim_out
from pytti_nb.sweep.sheet import SHEET_NAME, Tile, write_sheet

BASE = tiny_settings(smaller=True, drop=("file_namespace",), display_every=0, steps_per_scene=4)


def write_sweep(folder: Path, base=None, **sections) -> Path:
    """A sweep file of the tiny base (seeds: 1 unless other sections are given)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweep.yaml"
    data = {"base": base or BASE, **(sections or {"seeds": 1})}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def sweep(args, capsys) -> tuple[int, str]:
    """Run the sweep command in this process: its exit code and what it printed to stderr."""
    code = cli.main(["sweep", *map(str, args)])
    return code, capsys.readouterr().err


def closed_port() -> int:
    """A TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_local_cluster(monkeypatch):
    """Ray's discovery of this machine's clusters finds none (others' tests may run one)."""
    ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")
    from ray._private import services

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: [])
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    return ray, services


def test_an_address_where_no_cluster_answers_is_a_clear_error_before_ray_connects(
    no_local_cluster, tmp_path, capsys, monkeypatch
):
    """The address is probed (a bounded TCP connect, PROBE_S) and refused before ray.init,
    whose own retries take minutes, is ever called."""
    ray, services = no_local_cluster
    connects = []
    monkeypatch.setattr(ray, "init", lambda *a, **k: connects.append(k.get("address")))
    path, out = write_sweep(tmp_path), tmp_path / "out"
    port = closed_port()
    cases = {
        f"127.0.0.1:{port}": "nothing listens at",
        f"localhost:{port}": "nothing listens at",
        "no-such-host.invalid:6379": "the host 'no-such-host.invalid' is unknown",
        "auto": "no Ray cluster runs on this machine",
        "ray://no-such-host.invalid:10001": "is unknown",
        "6379": "not HOST:PORT",
        "head:0": "not HOST:PORT",
        "head:port": "not HOST:PORT",
    }
    for address, said in cases.items():
        code, err = sweep([path, "--out", out, "--address", address], capsys)
        assert code == cli.EXIT_BAD_INPUT, (address, err)
        assert err.startswith(f"error: --address {address!r}: ") and said in err, err
        assert "Traceback" not in err and len(err.splitlines()) == 1
        assert connects == [], connects
        assert not ray.is_initialized()
        assert not out.exists()  # nothing written, nothing to resume
    # 'auto' finding the record of a cluster that has since ended
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: f"127.0.0.1:{port}")
    code, err = sweep([path, "--out", out, "--address", "auto"], capsys)
    assert code == cli.EXIT_BAD_INPUT and "nothing listens at" in err


def test_ray_address_in_the_environment_is_the_cluster_and_its_errors_name_it(
    no_local_cluster, tmp_path, capsys, monkeypatch
):
    """Without --address a sweep goes where RAY_ADDRESS points (as Ray itself does), checked as
    an --address is and named as what it is; --address still wins over it."""
    ray, _ = no_local_cluster
    connects = []
    monkeypatch.setattr(ray, "init", lambda *a, **k: connects.append(k.get("address")))
    path, out = write_sweep(tmp_path), tmp_path / "out"
    port, other = closed_port(), closed_port()
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    code, err = sweep([path, "--out", out], capsys)
    assert code == cli.EXIT_BAD_INPUT, err
    assert err.startswith(f"error: RAY_ADDRESS '127.0.0.1:{port}': no Ray cluster there"), err
    assert "nothing listens at" in err and "unset RAY_ADDRESS for a local Ray instance" in err
    monkeypatch.setenv("RAY_ADDRESS", "head:port")
    code, err = sweep([path, "--out", out], capsys)
    assert code == cli.EXIT_BAD_INPUT and "RAY_ADDRESS 'head:port': not HOST:PORT" in err, err
    code, err = sweep([path, "--out", out, "--address", f"127.0.0.1:{other}"], capsys)
    assert err.startswith(f"error: --address '127.0.0.1:{other}': no Ray cluster there"), err
    assert connects == [] and not out.exists()


class _Silent:
    """A TCP server that accepts connections and never answers (a port that is not Ray's)."""

    def __init__(self):
        self.server = socket.create_server(("", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.accepted.append(self.server.accept()[0])
            except OSError:  # closed
                return

    def close(self):
        self.server.close()
        for conn in self.accepted:
            conn.close()


def test_ctrl_c_or_sigterm_while_connecting_ends_the_sweep_at_once(tmp_path):
    pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")
    servers = {signal.SIGINT: _Silent(), signal.SIGTERM: _Silent()}
    drivers = {}
    try:
        for sig, server in servers.items():
            folder = tmp_path / sig.name
            path = write_sweep(folder)
            args = [path, "--out", folder / "out", "--address", f"localhost:{server.port}"]
            drivers[sig] = Forked(["sweep", *args], output=folder / "driver.log", cwd=folder)
        for sig, driver in drivers.items():
            # the probe's connection, then Ray's: the driver now waits for Ray to connect
            wait_for(
                lambda s=servers[sig]: len(s.accepted) >= 2, f"{sig.name}: Ray connecting", 240
            )
            driver.send_signal(sig)
        for sig, driver in drivers.items():
            driver.wait(timeout=20)
            err = driver.text()
            assert "Traceback" not in err, err
            if sig == signal.SIGINT:
                assert driver.returncode == cli.EXIT_STOPPED, err
                assert "stopped while connecting to Ray; nothing was rendered" in err
                assert not (tmp_path / sig.name / "out").exists()
            else:
                assert driver.returncode == -signal.SIGTERM, err
            assert not (tmp_path / sig.name / "out" / "manifest.json").exists()
    finally:
        for driver in drivers.values():
            driver.kill()
            driver.wait()
        for server in servers.values():
            server.close()


def test_a_folder_in_use_or_holding_a_users_files_is_refused_and_left_alone(tmp_path, capsys):
    path, out = write_sweep(tmp_path), tmp_path / "out"
    lock = claim_out(out)  # as a sweep running in another process holds it
    try:
        code, err = sweep([path, "--out", out], capsys)
    finally:
        lock.release()
    assert code == cli.EXIT_OUTPUT
    assert f"the sweep folder {str(out)!r} is in use by another sweep" in err
    assert list(out.iterdir()) == []

    mine = out / SHEET_NAME
    mine.write_bytes(b"\x89PNG my own contact sheet")
    code, err = sweep([path, "--out", out], capsys)
    assert code == cli.EXIT_OUTPUT and "which no sweep wrote; move it" in err
    assert mine.read_bytes() == b"\x89PNG my own contact sheet"
    assert sorted(p.name for p in out.iterdir()) == [SHEET_NAME]  # no manifest, no render
    mine.unlink()
    mine.symlink_to(tmp_path / "elsewhere.png")
    with pytest.raises(Exception, match="which no sweep wrote"):
        check_own_sheet(out)
    mine.unlink()
    write_sheet(mine, [Tile(None, ("a sweep's",))], 1)
    check_own_sheet(out)  # a sweep's own sheet: replaced by the next run

    other = {"format": 1, "sweep": "sweeps/other.yaml", "renders": []}
    (out / "manifest.json").write_text(json.dumps(other))
    code, err = sweep([path, "--out", out], capsys)
    assert code == cli.EXIT_OUTPUT and "holds the manifest of another sweep" in err
    assert "'sweeps/other.yaml'" in err and json.loads((out / "manifest.json").read_text()) == other

    (out / "manifest.json").write_text('{"my": "notes"}')
    code, err = sweep([path, "--out", out], capsys)
    assert code == cli.EXIT_OUTPUT and "is not a sweep manifest" in err
    assert (out / "manifest.json").read_text() == '{"my": "notes"}'


def test_over_long_names_in_a_sweeps_paths_are_named(tmp_path, capsys):
    long = "x" * 256
    path = write_sweep(tmp_path)
    code, err = sweep([path, "--out", tmp_path / long / "out"], capsys)
    assert code == cli.EXIT_OUTPUT and "is 256 bytes long; a file system takes at most 255" in err
    code, err = sweep([path, "--out", tmp_path / ("é" * 128)], capsys)  # 256 bytes in UTF-8
    assert code == cli.EXIT_OUTPUT and "is 256 bytes long" in err
    code, err = sweep([tmp_path / f"{long}.yaml"], capsys)
    assert code == cli.EXIT_BAD_INPUT and "File name too long" in err
    (tmp_path / "long_base.yaml").write_text(f"base: {long}.yaml\nseeds: 1\n")
    code, err = sweep([tmp_path / "long_base.yaml", "--out", tmp_path / "o"], capsys)
    assert code == cli.EXIT_BAD_INPUT and "base: settings file" in err
    assert "File name too long" in err and "Traceback" not in err


def test_a_killed_sweep_leaves_no_ray_process_and_holds_its_folder_while_it_runs(tmp_path, capsys):
    pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")
    if not Path("/proc/self/stat").is_file():
        pytest.skip("finds the sweep's processes in /proc (Linux)")
    # a render long enough to be running when the sweep is killed
    path = write_sweep(tmp_path, base={**BASE, "steps_per_scene": 100_000, "save_every": 0})
    out = tmp_path / "out"
    args = ["sweep", path, "--out", out, "--quiet"]
    driver = Forked(args, output=tmp_path / "driver.log", cwd=tmp_path)
    try:
        try:
            wait_for(lambda: _statuses(out) == ["running"], "a render running", process=driver)
        except (
            pytest.fail.Exception
        ) as e:  # Ray did not start (a machine too busy for its timeouts)
            pytest.fail(f"{e}: {(tmp_path / 'driver.log').read_text()[-2000:]}")
        started = _descendants(driver.pid)
        code, err = sweep([path, "--out", out], capsys)  # a second sweep into its folder
        assert code == cli.EXIT_OUTPUT and "is in use by another sweep" in err
        assert _statuses(out) == ["running"]
    finally:
        driver.kill()
        driver.wait(timeout=30)
    assert len(started) >= 4, started  # Ray's head, GCS server, raylet, a worker at least
    wait_for(lambda: not (_alive() & started), "the end of the killed sweep's Ray processes", 60)


def _statuses(out: Path) -> list:
    """The renders' statuses in a sweep's manifest (none while it cannot be read)."""
    try:
        return [e["status"] for e in json.loads((out / "manifest.json").read_text())["renders"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _processes() -> dict:
    """Every live process (zombies left out): (pid, start time) -> parent pid."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        if fields[0] != "Z":
            found[(int(stat.parent.name), fields[19])] = int(fields[1])
    return found


def _alive() -> set:
    """(pid, start time) of every live process."""
    return set(_processes())


def _descendants(pid: int) -> set:
    """(pid, start time) of every process below `pid`."""
    processes = _processes()
    children = {}
    for key, parent in processes.items():
        children.setdefault(parent, []).append(key)
    found, todo = set(), [pid]
    while todo:
        for key in children.get(todo.pop(), []):
            found.add(key)
            todo.append(key[0])
    return found
