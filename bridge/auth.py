"""The static webhook headers OpenVidu 2 sends (OPENVIDU_WEBHOOK_HEADERS), checked in constant time."""

from __future__ import annotations

import hmac


class HeaderAuth:
    def __init__(self, expected: tuple[tuple[str, str], ...]) -> None:
        self._expected = [(name.lower().encode("latin-1"), value.encode()) for name, value in expected]

    def __bool__(self) -> bool:
        return bool(self._expected)

    def problem(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """None when every configured header is present once with its value; otherwise why not (never a value)."""
        for name, value in self._expected:
            found = [v for k, v in headers if k == name]
            if not found:
                return f"missing header {name.decode()}"
            if len(found) > 1:
                return f"header {name.decode()} sent {len(found)} times"
            if not hmac.compare_digest(found[0], value):
                return f"wrong value in header {name.decode()}"
        return None
