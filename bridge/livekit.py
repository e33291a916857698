"""OpenVidu 3 (LiveKit) webhooks: a JWT in Authorization, HS256 with the API secret, binding the body's SHA-256."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping

import jwt

from bridge.records import Source
from bridge.sessions import session_key
from bridge.webhooks import Accepted, Refused, event_of, parse

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 60
_MAX_ID = 255  # an AMQP message_id is a short string


class LiveKitVerifier:
    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = dict(keys)

    def accept(self, body: bytes, authorization: bytes | None) -> Accepted:
        self._verify(body, authorization)
        data = parse(body)
        event = event_of(data)
        session = session_key(data, event, livekit=True)
        event_id = data.get("id")
        if isinstance(event_id, str) and 0 < len(event_id.encode()) <= _MAX_ID and event_id.isprintable():
            return Accepted(event, event_id, Source.LIVEKIT, session)
        return Accepted(event, hashlib.sha256(body).hexdigest(), Source.LIVEKIT, session)

    def _verify(self, body: bytes, authorization: bytes | None) -> None:
        """Refuse (401) unless the token is valid for a configured key and binds exactly these body bytes."""
        if not self._keys:
            raise Refused(
                401,
                "LiveKit webhooks are not enabled on this bridge: set LIVEKIT_API_KEY and LIVEKIT_API_SECRET "
                "(or BRIDGE_LIVEKIT_KEYS) to the key pair named in livekit.yaml's webhook.api_key",
            )
        if not authorization:
            raise Refused(401, "missing Authorization token")
        token = authorization.decode("latin-1").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise Refused(401, "malformed Authorization token") from None
        if not isinstance(issuer, str) or issuer not in self._keys:
            raise Refused(401, "token signed with an unknown API key")
        claimed = _claims(token, issuer, self._keys[issuer]).get("sha256")
        digest = base64.b64encode(hashlib.sha256(body).digest())
        if not isinstance(claimed, str) or not hmac.compare_digest(claimed.encode(), digest):
            raise Refused(401, "body does not match the token's sha256 claim")


_WHY: dict[type[Exception], str] = {
    jwt.InvalidAlgorithmError: "token algorithm must be HS256",
    jwt.ExpiredSignatureError: "token expired",
    jwt.ImmatureSignatureError: "token not valid yet (nbf)",
    jwt.InvalidSignatureError: "token signature does not match the API secret",
}


def _claims(token: str, issuer: str, secret: str) -> dict[str, object]:
    try:
        claims: dict[str, object] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],  # never "none", never an asymmetric algorithm keyed with the secret
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "sha256"]},
        )
    except jwt.PyJWTError as exc:
        raise Refused(401, _WHY.get(type(exc), f"invalid token: {type(exc).__name__}")) from None
    return claims
