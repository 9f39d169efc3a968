"""The ingest writer's socket directory: private, marked with its `vigil serve`'s pid, and
removed at the next start when that `vigil serve` was killed before it could clean up."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from vigil.integrations.remote import (
    SOCKET_DIR_PREFIX,
    make_socket_dir,
    remove_stale_socket_dirs,
)


def _dead_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def _socket_dir(root: Path, name: str, owner: int | None, age_seconds: float = 0) -> Path:
    directory = root / f"{SOCKET_DIR_PREFIX}{name}"
    directory.mkdir()
    if owner is not None:
        (directory / "owner.pid").write_text(str(owner))
    then = time.time() - age_seconds
    os.utime(directory, (then, then))
    return directory


def test_a_new_socket_directory_is_private_and_names_its_owner(tmp_path: Path) -> None:
    directory = make_socket_dir(str(tmp_path))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert (directory / "owner.pid").read_text() == str(os.getpid())


def test_a_start_removes_the_directories_of_killed_servers_and_keeps_the_living(
    tmp_path: Path,
) -> None:
    killed = _socket_dir(tmp_path, "killed", owner=_dead_pid())
    running = _socket_dir(tmp_path, "running", owner=os.getpid(), age_seconds=7 * 24 * 3600)
    from_an_older_vigil = _socket_dir(tmp_path, "old", owner=None, age_seconds=2 * 24 * 3600)
    just_made = _socket_dir(tmp_path, "starting", owner=None)
    unrelated = tmp_path / "something-else"
    unrelated.mkdir()

    fresh = make_socket_dir(str(tmp_path))

    assert not killed.exists()
    assert not from_an_older_vigil.exists()
    assert running.exists() and just_made.exists() and unrelated.exists() and fresh.exists()
    assert remove_stale_socket_dirs(str(tmp_path)) == []  # nothing left to remove
