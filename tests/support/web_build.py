"""Building and starting a web app in tests: builds take turns, and a failing start shows the log's tail."""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A cold first build installs the frontend packages from the npm registry; later starts take seconds.
START_TIMEOUT = float(os.environ.get("ATLAS_WEB_START_TIMEOUT", "420"))


@contextmanager
def build_turn() -> Iterator[None]:
    """An exclusive lock, per checkout, held while one web app builds and starts.

    `reflex run` also writes files in the project root (.gitignore, reflex.lock/) while it builds; two builds at
    once can truncate them for each other, so builds take turns (across xdist workers and test runs).
    """
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"atlas-web-build-{digest}.lock", "wb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
