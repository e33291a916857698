"""The static webhook headers OpenVidu 2 sends (OPENVIDU_WEBHOOK_HEADERS), checked in constant time.

OpenVidu's HttpClient writes a header value as it was configured, one byte per character (ISO-8859-1), and spaces
around it may or may not survive the HTTP parser: values are compared as ISO-8859-1 bytes with spaces and tabs
stripped on both sides. The UTF-8 form is accepted too, for senders such as curl that write UTF-8.
"""

from __future__ import annotations

import hmac

_OWS = b" \t"


class HeaderAuth:
    def __init__(self, expected: tuple[tuple[str, str], ...]) -> None:
        self._expected = [(name.lower().encode("latin-1"), _forms(value)) for name, value in expected]

    def __bool__(self) -> bool:
        return bool(self._expected)

    def problem(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """None when every configured header is present once with its value; otherwise why not (never a value)."""
        for name, forms in self._expected:
            found = [v for k, v in headers if k == name]
            if not found:
                return f"missing header {name.decode()}"
            if len(found) > 1:
                return f"header {name.decode()} sent {len(found)} times"
            received = found[0].strip(_OWS)
            if not any([hmac.compare_digest(received, form) for form in forms]):  # a list: every form is compared
                return f"wrong value in header {name.decode()}"
        return None


def _forms(value: str) -> tuple[bytes, ...]:
    stripped = value.strip(" \t")
    latin, utf8 = stripped.encode("latin-1"), stripped.encode()
    return (latin,) if latin == utf8 else (latin, utf8)
