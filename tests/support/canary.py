"""Looking for a canary secret: its encodings, a private key's fingerprints, and the stores' text to search."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import redis
from sqlalchemy.engine import make_url


def encodings(value: str) -> dict[str, str]:
    raw = value.encode()
    return {"plain": value, "base64": base64.b64encode(raw).decode().rstrip("="),
            "urlsafe-base64": base64.urlsafe_b64encode(raw).decode().rstrip("="), "hex": raw.hex(),
            "json": json.dumps(value)[1:-1], "url": urllib.parse.quote(value, safe=""),
            "url-plus": urllib.parse.quote_plus(value)}


def key_fingerprints(pem: str) -> dict[str, str]:
    """Distinctive slices of the private key: a base64 line of its PEM body and hex of its DER."""
    lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    der = base64.b64decode("".join(lines))
    middle = len(der) // 2
    return {"pem-line": lines[len(lines) // 2], "der-hex": der[middle:middle + 24].hex(),
            "der-base64": base64.b64encode(der[middle:middle + 30]).decode()}


def pg_dump_text() -> str:
    url = make_url(os.environ["ATLAS_DATABASE_URL"]).set(drivername="postgresql")
    pg_dump = Path(sys.executable).parent.parent / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" \
        / "site-packages" / "pgserver" / "pginstall" / "bin" / "pg_dump"
    dump = subprocess.run([str(pg_dump), "--no-owner", url.render_as_string(hide_password=False)],
                          capture_output=True, text=True, timeout=120, check=True)
    return dump.stdout


def redis_text() -> str:
    client = redis.Redis.from_url(os.environ["ATLAS_REDIS_URL"])
    parts = []
    for key in client.scan_iter("*"):
        parts.append(repr(key))
        kind = client.type(key).decode()
        if kind == "string":
            parts.append(repr(client.get(key)))
        elif kind == "list":
            parts.extend(repr(item) for item in client.lrange(key, 0, -1))
        elif kind == "hash":
            parts.extend(repr(item) for item in client.hgetall(key).items())
        elif kind == "set":
            parts.extend(repr(item) for item in client.smembers(key))
        elif kind == "zset":
            parts.extend(repr(item) for item in client.zrange(key, 0, -1, withscores=True))
    return "\n".join(parts)
