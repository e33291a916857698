"""The start-up check that the installed uvicorn, aio-pika, aiormq and pamqp still have the private parts that
bridge/protocol.py and bridge/confirms.py use: another release stops the bridge with one line saying what to
install, instead of failing on the first request or the first publish."""

from __future__ import annotations

from importlib import metadata

from bridge import confirms, protocol

SUPPORTED = protocol.SUPPORTED | confirms.SUPPORTED


def check_internals() -> str | None:
    """None when everything is there, else one line naming what is missing, the installed and supported releases."""
    missing = protocol.missing_internals() + confirms.missing_internals()
    if not missing:
        return None
    installed = ", ".join(f"{name} {_version(name)}" for name in SUPPORTED)
    supported = ", ".join(f"{name}{spec}" for name, spec in SUPPORTED.items())
    return (
        f"the installed {installed} lack {', '.join(missing)}, which the bridge uses; "
        f"supported: {supported} (install from requirements/runtime.txt)"
    )


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "(not installed)"
