"""The console process's collector policy: off while modules load, back on for the work."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.e2e import sandbox_process, write_config
from tests.support.images import write_sized_png
from uploader import gcpolicy
from uploader.http.client import Timeouts, build_client


@pytest.fixture
def restore_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    gcpolicy._Pause.active = False
    gc.unfreeze()
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.usefixtures("restore_gc")
def test_pause_then_building_the_client_freezes_start_up_and_collects_again() -> None:
    gc.unfreeze()
    gcpolicy.pause()
    assert not gc.isenabled()
    with build_client(Timeouts(), tls=False):
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restore_gc")
def test_resume_without_pause_changes_nothing() -> None:
    gc.unfreeze()
    gc.enable()
    gcpolicy.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("restore_gc")
def test_pause_leaves_a_collector_someone_else_disabled_alone() -> None:
    gc.disable()
    gcpolicy.pause()
    gcpolicy.resume()
    assert not gc.isenabled()  # not ours to turn on


def _probe(tmp_path: Path, body: str) -> dict[str, object]:
    script = tmp_path / "probe.py"
    script.write_text(body)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_console_entry_point_collects_again_once_the_client_exists(tmp_path: Path) -> None:
    """Paused while modules load, on for the upload itself, frozen for the exit."""
    image = write_sized_png(tmp_path / "a.png", 2048)
    with sandbox_process() as base_url:
        config = write_config(tmp_path / "config.toml", base_url)
        body = (
            "import gc, json, sys\n"
            "import uploader.http.client as client\n"
            "seen = {}\n"
            "real = client.build_client\n"
            "def spy(*a, **k):\n"
            "    seen['before'] = gc.isenabled()\n"
            "    c = real(*a, **k)\n"
            "    seen['after'] = gc.isenabled()\n"
            "    return c\n"
            "client.build_client = spy\n"
            "import uploader.commands.runtime as runtime\n"
            "runtime.build_client = spy\n"
            f"sys.argv = ['uploader', '--config', {str(config)!r}, 'upload', {str(image)!r}]\n"
            "from uploader.__main__ import main\n"
            "try:\n"
            "    main()\n"
            "except SystemExit as exc:\n"
            "    seen['code'] = exc.code\n"
            "print()\n"
            "print(json.dumps({**seen, 'frozen': gc.get_freeze_count() > 0}))\n"
        )
        result = _probe(tmp_path, body)
    assert result == {"before": False, "after": True, "code": 0, "frozen": True}
