"""The outbox transport: each message written as an .eml file instead of sent. The default, safe to
try, and what the demo uses; a later `send` with a real transport still sends everyone."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.delivery.base import ServerUnavailable, Transport, TransportContext
from newsletter.state_dir import write_private

if TYPE_CHECKING:
    from newsletter.delivery.message import Outgoing


@dataclass(frozen=True)
class OutboxSettings:
    """[delivery.outbox]: .eml files instead of sending; the default, and safe to try."""

    dir: Path | None = None  # default: <state_dir>/outbox

    def folder(self, state_dir: Path) -> Path:
        """Where the batches go: `dir`, or outbox/ in the state folder."""
        return self.dir or state_dir / "outbox"


class OutboxTransport(Transport):
    """Writes each message as an .eml file, each batch (edition, test sends, reviews) in its own folder."""

    name = "outbox"
    Settings = OutboxSettings
    done_status = "sent"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[Path] = []
        self._count: int | None = None

    @classmethod
    def create(cls, settings: OutboxSettings, context: TransportContext) -> OutboxTransport:
        return cls(settings.folder(context.state_dir) / context.batch)

    def open(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # each colleague's email: theirs and ours

    def send(self, out: Outgoing, before_data: Callable[[], None]) -> str:
        safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", out.recipient)[:120]
        if self._count is None:
            self._count = len(list(self.folder.glob("*.eml")))
        self._count += 1
        target = self.folder / f"{self._count:05d}-{safe}.eml"
        temporary = target.with_suffix(".tmp")
        before_data()
        try:
            write_private(temporary, out.data)
            temporary.replace(target)
        except OSError as exc:  # a disk full, a folder gone: nothing is in the outbox; a later run writes it
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise ServerUnavailable(f"cannot write {target} ({exc.strerror or exc}); free space or fix the "
                                    "outbox folder, then run again") from None
        self.written.append(target)
        return f"written to {target}"

    def close(self) -> None:
        pass
