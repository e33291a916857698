"""What a handler raises to say what happens to its message, and the configuration error."""

from __future__ import annotations


class Retry(Exception):
    """Try this message again later, after the next delay of CONSUMER_RETRY_DELAYS (dead letters after the last)."""


class Reject(Exception):
    """Never try this message again: it goes straight to the consumer's dead letters."""


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the variable."""
