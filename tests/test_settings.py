"""Configuration from the environment: defaults, every variable, and a clear error for every bad value."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bridge.settings import ConfigError, Settings

OPEN = {"BRIDGE_ALLOW_UNAUTHENTICATED": "true"}


def test_defaults_match_the_readme() -> None:
    settings = Settings.from_env(OPEN)
    assert settings.rabbitmq_url == "amqp://guest:guest@localhost:5672/"
    assert (settings.host, settings.port, settings.path) == ("0.0.0.0", 8080, "/webhook")
    assert settings.exchange == "openvidu"
    assert settings.unrouted == "openvidu.unrouted"
    assert settings.webhook_headers == ()
    assert settings.webhook_events is None
    assert settings.livekit_keys == {}
    assert settings.allow_unauthenticated is True
    assert settings.confirm_timeout == 5.0  # below OpenVidu 2's 10 s read timeout
    assert settings.journal_dir == Path("data/journal")
    assert settings.journal_max_bytes == 1 << 30
    assert settings.journal_fsync == "interval"
    assert settings.journal_fsync_interval == pytest.approx(0.1)
    assert settings.ack == "journal"
    assert settings.max_body_bytes == 1 << 20
    assert settings.shutdown_grace == 5.0
    assert settings.log_level == "INFO"


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "RABBITMQ_URL": "amqp://u:p@rabbit:5673/vh",
            "BRIDGE_HOST": "127.0.0.1",
            "BRIDGE_PORT": "9000",
            "BRIDGE_PATH": "/hooks/openvidu",
            "BRIDGE_EXCHANGE": "ov.events",
            "BRIDGE_WEBHOOK_HEADERS": '["Authorization: Basic T1BFTlZJRFVBUFA6c2VjcmV0", "X-Tenant: a: b"]',
            "BRIDGE_WEBHOOK_EVENTS": '["sessionCreated", "room_finished"]',
            "BRIDGE_LIVEKIT_KEYS": '{"k1": "s1"}',
            "LIVEKIT_API_KEY": "k2",
            "LIVEKIT_API_SECRET": "s2",
            "BRIDGE_JOURNAL_DIR": "/var/lib/bridge",
            "BRIDGE_JOURNAL_MAX_BYTES": "2GiB",
            "BRIDGE_JOURNAL_SEGMENT_BYTES": "8MiB",
            "BRIDGE_JOURNAL_FSYNC": "ALWAYS",
            "BRIDGE_JOURNAL_FSYNC_INTERVAL_MS": "250",
            "BRIDGE_ACK": "confirm",
            "BRIDGE_MAX_BODY_BYTES": "64KiB",
            "BRIDGE_SHUTDOWN_GRACE": "2.5",
            "BRIDGE_DRAIN_TIMEOUT": "3",
            "BRIDGE_CONFIRM_TIMEOUT": "4",
            "BRIDGE_PUBLISH_WINDOW": "64",
            "BRIDGE_UNROUTED_MAX_LENGTH": "10",
            "BRIDGE_LOG_LEVEL": "warning",
        }
    )
    assert settings.rabbitmq_url == "amqp://u:p@rabbit:5673/vh"
    assert (settings.host, settings.port, settings.path, settings.exchange) == (
        "127.0.0.1",
        9000,
        "/hooks/openvidu",
        "ov.events",
    )
    # OpenVidu's own format, split on the first ":" (the value may contain ": ")
    assert settings.webhook_headers == (("authorization", "Basic T1BFTlZJRFVBUFA6c2VjcmV0"), ("x-tenant", "a: b"))
    assert settings.webhook_events == frozenset({"sessionCreated", "room_finished"})
    assert dict(settings.livekit_keys) == {"k1": "s1", "k2": "s2"}
    assert settings.journal_dir == Path("/var/lib/bridge")
    assert (settings.journal_max_bytes, settings.journal_segment_bytes) == (2 << 30, 8 << 20)
    assert (settings.journal_fsync, settings.journal_fsync_interval) == ("always", 0.25)
    assert settings.ack == "confirm"
    assert settings.max_body_bytes == 64 << 10
    assert (settings.shutdown_grace, settings.drain_timeout, settings.confirm_timeout) == (2.5, 3.0, 4.0)
    assert (settings.publish_window, settings.unrouted_max_length) == (64, 10)
    assert settings.log_level == "WARNING"
    assert settings.allow_unauthenticated is False


def test_nothing_to_authenticate_with_stops_the_start_naming_the_three_ways_out() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"BRIDGE_ALLOW_UNAUTHENTICATED": "false"})
    for name in ("BRIDGE_WEBHOOK_HEADERS", "LIVEKIT_API_KEY", "BRIDGE_ALLOW_UNAUTHENTICATED"):
        assert name in str(raised.value)
    assert Settings.from_env({"LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s"}).allow_unauthenticated is False
    assert Settings.from_env({"BRIDGE_WEBHOOK_HEADERS": '["X-Secret: s"]'}).webhook_headers == (("x-secret", "s"),)
    assert Settings.from_env({"BRIDGE_ALLOW_UNAUTHENTICATED": "yes"}).allow_unauthenticated is True


def test_headers_pasted_shell_escaped_from_an_openvidu_env_file_are_understood() -> None:
    escaped = r"[\"Authorization:\ Basic\ T1BFTlZJRFVBUFA6TVlfU0VDUkVU\"]"
    settings = Settings.from_env({"BRIDGE_WEBHOOK_HEADERS": escaped})
    assert settings.webhook_headers == (("authorization", "Basic T1BFTlZJRFVBUFA6TVlfU0VDUkVU"),)


def test_the_same_header_twice_keeps_the_last_as_openvidu_does() -> None:
    settings = Settings.from_env({"BRIDGE_WEBHOOK_HEADERS": '["Authorization: one", "authorization: two"]'})
    assert settings.webhook_headers == (("authorization", "two"),)


@pytest.mark.parametrize(
    ("entry", "value"),
    [
        ("Authorization: Basic abc", "Basic abc"),
        ("Authorization: Basic abc ", "Basic abc"),  # OpenVidu sends the space; the HTTP parser drops it
        ("Authorization:  Basic abc", "Basic abc"),
        ("Authorization:\tBasic abc\t", "Basic abc"),
        ("Authorization:Basic abc", "Basic abc"),
        ("Authorization: Basic\tabc", "Basic\tabc"),  # a tab inside a value is legal HTTP
        ("X-Secret: contraseña", "contraseña"),  # ISO-8859-1, as OpenVidu's HttpClient sends it
    ],
)
def test_header_values_are_read_as_they_arrive(entry: str, value: str) -> None:
    settings = Settings.from_env({"BRIDGE_WEBHOOK_HEADERS": orjson.dumps([entry]).decode()})
    assert settings.webhook_headers == ((entry.partition(":")[0].lower(), value),)


def test_a_content_type_entry_is_ignored_because_openvidu_overrides_it() -> None:
    headers = '["Authorization: Basic abc", "Content-Type: application/json; charset=UTF-8"]'
    assert Settings.from_env({"BRIDGE_WEBHOOK_HEADERS": headers}).webhook_headers == (("authorization", "Basic abc"),)
    with pytest.raises(ConfigError, match="only Content-Type"):
        Settings.from_env({"BRIDGE_WEBHOOK_HEADERS": '["Content-Type: application/json"]'})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BRIDGE_PORT": "http"}, "BRIDGE_PORT must be a whole number"),
        ({"BRIDGE_PORT": "70000"}, "BRIDGE_PORT must be between 0 and 65535"),
        ({"BRIDGE_PATH": "webhook"}, "BRIDGE_PATH must be a URL path"),
        ({"BRIDGE_EXCHANGE": "amq.topic"}, "BRIDGE_EXCHANGE must be a plain name"),
        ({"BRIDGE_WEBHOOK_HEADERS": "Authorization: x"}, "BRIDGE_WEBHOOK_HEADERS must be valid JSON"),
        ({"BRIDGE_WEBHOOK_HEADERS": '{"Authorization": "x"}'}, "must be a JSON array"),
        ({"BRIDGE_WEBHOOK_HEADERS": '["Authorization x"]'}, 'entry 0 is not of the form "Name: value"'),
        ({"BRIDGE_WEBHOOK_HEADERS": '["Authorization:  "]'}, 'entry 0 is not of the form "Name: value"'),
        ({"BRIDGE_WEBHOOK_HEADERS": '["X Secret: v"]'}, 'entry 0 is not of the form "Name: value"'),
        (
            {"BRIDGE_WEBHOOK_HEADERS": '["A: b", "X: a\\u0000b"]'},
            "BRIDGE_WEBHOOK_HEADERS entry 1 .X. holds a control character",
        ),
        ({"BRIDGE_WEBHOOK_HEADERS": '["X: a\\nb"]'}, "entry 0 .X. holds a control character"),
        ({"BRIDGE_WEBHOOK_HEADERS": '["X: \\u20ac5"]'}, "entry 0 .X. holds a character outside ISO-8859-1"),
        ({"BRIDGE_ALLOW_UNAUTHENTICATED": "maybe"}, "BRIDGE_ALLOW_UNAUTHENTICATED must be true or false"),
        ({"BRIDGE_WEBHOOK_EVENTS": '["session.created"]'}, "BRIDGE_WEBHOOK_EVENTS must be a JSON array"),
        ({"BRIDGE_LIVEKIT_KEYS": '["k"]'}, "BRIDGE_LIVEKIT_KEYS must be a JSON object"),
        ({"LIVEKIT_API_KEY": "k"}, "LIVEKIT_API_KEY and LIVEKIT_API_SECRET must be set together"),
        ({"BRIDGE_JOURNAL_MAX_BYTES": "0"}, "BRIDGE_JOURNAL_MAX_BYTES must be a positive size"),
        ({"BRIDGE_JOURNAL_MAX_BYTES": "1MiB"}, "at least twice BRIDGE_MAX_BODY_BYTES"),
        ({"BRIDGE_JOURNAL_FSYNC": "sometimes"}, "BRIDGE_JOURNAL_FSYNC must be one of always, interval, never"),
        ({"BRIDGE_ACK": "maybe"}, "BRIDGE_ACK must be one of journal, confirm"),
        ({"BRIDGE_SHUTDOWN_GRACE": "-1"}, "BRIDGE_SHUTDOWN_GRACE must be zero or more"),
        ({"BRIDGE_SHUTDOWN_GRACE": "nan"}, "BRIDGE_SHUTDOWN_GRACE must be zero or more"),
        ({"BRIDGE_LOG_LEVEL": "LOUD"}, "BRIDGE_LOG_LEVEL must be one of"),
    ],
)
def test_a_bad_value_is_a_clear_error_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Settings.from_env(env)


@pytest.mark.parametrize("entry", ["Authorization hunter2", "Authorization: hunter2\u0007", "X: hunter2\u20ac"])
def test_header_errors_never_echo_the_secret(entry: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"BRIDGE_WEBHOOK_HEADERS": orjson.dumps([entry]).decode()})
    assert "hunter2" not in str(raised.value)
