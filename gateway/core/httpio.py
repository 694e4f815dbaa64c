"""Reading HTTP bodies with a limit."""

from __future__ import annotations

from typing import Protocol


class _Stream(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


async def read_limited(stream: _Stream, limit: int) -> bytes:
    """The whole body, or ``limit + 1`` bytes when it is longer (the caller refuses it).

    aiohttp's ``StreamReader.read(n)`` returns what is buffered, up to ``n`` bytes, not ``n``
    bytes: one call returns part of a body that arrived in several packets."""
    buf = bytearray()
    while len(buf) <= limit:
        chunk = await stream.read(limit + 1 - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)
