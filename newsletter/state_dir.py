"""The state directory: what it holds, and whether this user can use it.

It holds the SQLite store (newsletter.db), the lock of the run in progress (newsletter.lock), the
archive and, with the outbox transport, the outbox. A run creates it when missing; `check` only
asks whether a run could. A directory this user cannot use is a ConfigError naming it and the
user, not a traceback halfway into a run.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import tempfile
from pathlib import Path

from newsletter.errors import ConfigError

DB_NAME = "newsletter.db"
LOCK_NAME = "newsletter.lock"


def current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def unusable(path: Path, what: str) -> ConfigError:
    """The one-line error for a state directory (or a file in it) that this user cannot use."""
    user = current_user()
    return ConfigError(f"{path}: user {user} cannot {what}; make it a folder {user} can write (systemd: "
                       "StateDirectory=), or set newsletter.state_dir (--state-dir, $NEWSLETTER_STATE_DIR) elsewhere")


def prepare_state_dir(state_dir: Path) -> None:
    """Create `state_dir` when missing, readable by this user alone (it holds every colleague's
    address), and prove that this user can write in it."""
    _refuse_a_file_in_the_way(state_dir)
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise unusable(state_dir, f"create the state directory ({exc.strerror or exc})") from None
    _probe(state_dir, state_dir)


def write_private(path: Path, data: bytes) -> None:
    """Write `path` readable by this user alone, whatever the folder's mode or an earlier file's (a
    StateDirectory= is 0755): for what holds colleagues' addresses or their personal emails. A file
    left by a crash is replaced, not reused with its mode (and no chmod, which some file systems refuse)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
        file.write(data)


def check_state_dir(state_dir: Path) -> None:
    """What `check` asks: could a run create and write `state_dir`? It leaves nothing behind."""
    existing = _refuse_a_file_in_the_way(state_dir)
    if existing != state_dir:  # a run would create it: prove that it could, in the part that exists
        _probe(state_dir, existing, folder=True)
        return
    _probe(state_dir, state_dir)
    database = state_dir / DB_NAME
    if database.exists() and not os.access(database, os.R_OK | os.W_OK):
        raise unusable(database, "write the state database (permission denied)")


def _refuse_a_file_in_the_way(state_dir: Path) -> Path:
    """The nearest part of `state_dir` that exists; it must be a folder. A folder on the way this user
    may not enter (the service user's home) hides whether it exists: that is said as such."""
    try:
        existing = next(p for p in (state_dir, *state_dir.parents) if p.exists())
        is_dir = existing.is_dir()
    except OSError as exc:
        raise unusable(state_dir, f"reach the state directory ({exc.strerror or exc})") from None
    if not is_dir:
        what = "use it as the state directory: it is a file" if existing == state_dir else \
            f"create the state directory: {existing} is a file"
        raise unusable(state_dir, what)
    return existing


def _probe(state_dir: Path, where: Path, *, folder: bool = False) -> None:
    """Make and remove a file (or a folder) in `where`. Permission bits do not stop root, a
    read-only or special file system does: only trying tells."""
    try:
        if folder:
            os.rmdir(tempfile.mkdtemp(dir=where, prefix=".newsletter-probe-"))
        else:
            handle, name = tempfile.mkstemp(dir=where, prefix=".newsletter-probe-")
            os.close(handle)
            os.unlink(name)
    except OSError as exc:
        what = "create the state directory" if folder else "write in the state directory"
        raise unusable(state_dir, f"{what} ({exc.strerror or exc})") from None
