"""A session's timeline, laid out for inline SVG: who was there when, what they published, what was recorded.

One row per person (a reconnect is a second bar in the same row), their published streams as thin bars under
it, recordings as bands across the top, time on a clock axis in UTC. Everything is placed here, in pixels of
the SVG's viewBox; the template only draws. A bar is never narrower than MIN_BAR, so 13 seconds stay visible
in a 10-hour session.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from consumers.sessions import view

WIDTH = 1120
LABELS = 250  # the names column
RIGHT = 28
AXIS = 30
BAND = 18
BAR = 14
STREAM = 6
STREAM_GAP = 2
ROW_GAP = 12
CROWDED = 20  # more rows than this and they are drawn thinner, so 50 people fit on two screens
MIN_BAR = 2.0
CHAR = 7.0  # the average width of a 12px sans-serif character, for cutting labels to fit

_STEPS = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_MAX_TICKS = 10
_STREAM_ORDER = ("CAMERA", "MICROPHONE", "AUDIO", "SCREEN", "SCREEN_SHARE", "SCREEN_SHARE_AUDIO")
_STREAM_CLASS = {"MICROPHONE": "audio", "AUDIO": "audio", "SCREEN": "screen", "SCREEN_SHARE": "screen",
                 "SCREEN_SHARE_AUDIO": "screen", "CAMERA": "camera"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str
    open_end: bool = False


@dataclasses.dataclass(frozen=True)
class Label:
    y: float
    text: str
    title: str
    tag: str | None = None  # egress, agent, SIP, ingress: not a person


@dataclasses.dataclass(frozen=True)
class Tick:
    x: float
    text: str


@dataclasses.dataclass(frozen=True)
class Band:
    x: float
    y: float
    width: float
    text: str
    tone: str
    title: str
    text_x: float
    outside: bool  # too narrow for its text, which then follows it


@dataclasses.dataclass(frozen=True)
class Timeline:
    height: float
    plot_top: float
    plot_bottom: float
    ticks: list[Tick]
    bands: list[Band]
    stripes: list[tuple[float, float]]  # (y, height) of every other row
    labels: list[Label]
    bars: list[Bar]
    now: float | None  # x of "now" in a live session
    width: int = WIDTH
    plot_left: int = LABELS
    plot_right: int = WIDTH - RIGHT


@dataclasses.dataclass
class _Row:
    name: str
    kind: str
    ids: set[str]
    spans: list[tuple[dict[str, Any], float | None, float | None]]  # (participant, joined, left)
    streams: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def build(session: dict[str, Any], now: datetime) -> Timeline | None:
    """The timeline of one session document; None while no time in it is known."""
    source = str(session.get("source"))
    rows = _rows(source, session.get("participants", []), session.get("streams", []))
    start, end = _range(session, rows, now.timestamp())
    if start is None or end is None:
        return None
    scale = _Scale(start, max(end, start + 1))
    recordings = session.get("recordings", [])
    lanes = _pack([(_seconds(r.get("started_at")) or start, _seconds(r.get("ended_at")) or end) for r in recordings])
    plot_top = AXIS + (max(lanes, default=-1) + 1) * (BAND + 4) + 8
    labels: list[Label] = []
    bars: list[Bar] = []
    stripes: list[tuple[float, float]] = []
    bar, stream, gap = (BAR, STREAM, ROW_GAP) if len(rows) <= CROWDED else (BAR - 4, STREAM - 2, ROW_GAP - 4)
    y = plot_top + 6
    for index, row in enumerate(rows):
        lanes_of_row = _stream_lanes(row.streams)
        height = bar + (3 + len(lanes_of_row) * (stream + STREAM_GAP) if lanes_of_row else 0)
        if index % 2 == 0:
            stripes.append((y - gap / 2, height + gap))
        tag = view.KINDS.get(row.kind, row.kind.lower()) if row.kind != view.PEOPLE else None
        labels.append(Label(y + bar / 2, _cut(row.name, 31 if tag is None else 23), row.name, tag))
        bars += _person_bars(row, scale, y, bar, end, session)
        for lane, streams in enumerate(lanes_of_row):
            lane_y = y + bar + 3 + lane * (stream + STREAM_GAP)
            bars += [_stream_bar(row, s, scale, lane_y, stream, end) for s in streams]
        y += height + gap
    plot_bottom = max(y - gap / 2, plot_top + 20)
    bands = [_band(r, lane, scale, start, end) for r, lane in zip(recordings, lanes, strict=True)]
    return Timeline(
        height=plot_bottom + AXIS,
        plot_top=plot_top,
        plot_bottom=plot_bottom,
        ticks=_ticks(scale),
        bands=bands,
        stripes=stripes,
        labels=labels,
        bars=bars,
        now=scale.x(now.timestamp()) if session.get("live") else None,
    )


class _Scale:
    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.per_second = (WIDTH - RIGHT - LABELS) / (end - start)

    def x(self, at: float) -> float:
        return round(LABELS + (min(max(at, self.start), self.end) - self.start) * self.per_second, 2)

    def span(self, start: float, end: float) -> tuple[float, float]:
        left = self.x(start)
        return left, round(max(self.x(end) - left, MIN_BAR), 2)


def _rows(source: str, participants: list[dict[str, Any]], streams: list[dict[str, Any]]) -> list[_Row]:
    """People in the order they first joined; a connection goes on a row whose bars it does not overlap."""
    rows: list[_Row] = []
    ordered = sorted(participants, key=lambda p: (_seconds(p.get("joined_at")) or 0, str(p.get("id"))))
    for participant in ordered:
        name, kind = view.display_name(source, participant), view.kind(participant)
        joined, left = _seconds(participant.get("joined_at")), _seconds(participant.get("left_at"))
        row = next((r for r in rows if r.name == name and r.kind == kind and _after(r, joined)), None)
        if row is None:
            row = _Row(name, kind, set(), [])
            rows.append(row)
        row.spans.append((participant, joined, left))
        row.ids |= {str(participant.get(k)) for k in ("id", "identity") if participant.get(k)}
    for stream in streams:
        if stream.get("role") == "subscriber":
            continue  # one per viewer and publisher: counted in the table, not drawn
        owner = str(stream.get("participant"))
        row = next((r for r in rows if owner in r.ids), None)
        if row is None:
            kind = "INGRESS" if stream.get("role") == "ingress" else view.PEOPLE
            row = _Row(owner, kind, {owner}, [])
            rows.append(row)
        row.streams.append(stream)
    return rows


def _after(row: _Row, joined: float | None) -> bool:
    """Whether a connection that joined at `joined` comes after every bar of the row (a reconnect)."""
    return joined is not None and all(left is not None and left <= joined for _, _, left in row.spans)


def _range(session: dict[str, Any], rows: list[_Row], now: float) -> tuple[float | None, float | None]:
    starts = [_seconds(session.get("started_at"))]
    ends = [_seconds(session.get("ended_at"))]
    for row in rows:
        starts += [joined for _, joined, _ in row.spans] + [_seconds(s.get("started_at")) for s in row.streams]
        ends += [left for _, _, left in row.spans] + [_seconds(s.get("ended_at")) for s in row.streams]
    for recording in session.get("recordings", []):
        starts.append(_seconds(recording.get("started_at")))
        ends.append(_seconds(recording.get("ended_at")))
    known_starts = [s for s in starts if s is not None]
    known_ends = [e for e in ends if e is not None]
    if session.get("live"):
        known_ends.append(now)
    if not known_starts:
        return None, None
    return min(known_starts), max(known_ends or known_starts)


def _person_bars(row: _Row, scale: _Scale, y: float, height: float, end: float, session: dict[str, Any]) -> list[Bar]:
    css = "person" if row.kind == view.PEOPLE else "service"
    bars = []
    for participant, joined, left in row.spans:
        x, width = scale.span(joined if joined is not None else scale.start, left if left is not None else end)
        reason = f" · {participant['reason']}" if participant.get("reason") else ""
        until = _clock(left) if left is not None else ("still in" if session.get("live") else "?")
        title = (
            f"{row.name} · {_clock(joined)} → {until} · {view.duration(participant.get('duration_seconds'))}{reason}"
        )
        bars.append(Bar(x, y, width, height, css, title, open_end=left is None))
    return bars


def _stream_lanes(streams: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    kinds = sorted({str(s.get("kind")) for s in streams}, key=lambda k: (_rank(k), k))
    return [[s for s in streams if str(s.get("kind")) == k] for k in kinds]


def _rank(kind: str) -> int:
    return _STREAM_ORDER.index(kind) if kind in _STREAM_ORDER else len(_STREAM_ORDER)


def _stream_bar(row: _Row, stream: dict[str, Any], scale: _Scale, y: float, height: float, end: float) -> Bar:
    started, ended = _seconds(stream.get("started_at")), _seconds(stream.get("ended_at"))
    x, width = scale.span(started if started is not None else scale.start, ended if ended is not None else end)
    kind = str(stream.get("kind") or "stream")
    title = f"{row.name} · {kind.lower().replace('_', ' ')} · {_clock(started)} → {_clock(ended)}"
    if stream.get("reason"):
        title += f" · {stream['reason']}"
    return Bar(x, y, width, height, f"stream {_STREAM_CLASS.get(kind, 'other')}", title, open_end=ended is None)


def _pack(spans: list[tuple[float, float]]) -> list[int]:
    """A lane for each span, the first whose last span ended before it starts (recordings rarely overlap)."""
    lane_ends: list[float] = []
    lanes = []
    for start, end in spans:
        lane = next((i for i, last in enumerate(lane_ends) if last <= start), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(end)
        lane_ends[lane] = end
        lanes.append(lane)
    return lanes


def _band(recording: dict[str, Any], lane: int, scale: _Scale, start: float, end: float) -> Band:
    began, ended = _seconds(recording.get("started_at")), _seconds(recording.get("ended_at"))
    x, width = scale.span(began if began is not None else start, ended if ended is not None else end)
    state = view.recording_state(recording.get("status"))
    files = [str(f).rsplit("/", 1)[-1] for f in recording.get("files") or []]
    what = files[0] if files else str(recording.get("name") or recording.get("id") or "recording")
    text = f"{state.label} · {what}"
    title = f"recording {recording.get('id')} · {state.label} · {_clock(began)} → {_clock(ended)}"
    if recording.get("reason"):
        title += f" · {recording['reason']}"
    inside = int((width - 10) / CHAR)
    if inside >= min(len(text), 24):
        return Band(x, AXIS + lane * (BAND + 4), width, _cut(text, inside), state.tone, title, x + 5, False)
    after = int((WIDTH - x - width - 8) / CHAR)
    if after >= min(len(text), 24):
        return Band(x, AXIS + lane * (BAND + 4), width, _cut(text, after), state.tone, title, x + width + 6, True)
    before = int((x - LABELS - 8) / CHAR)  # a recording at the very end: its text goes before it
    return Band(x, AXIS + lane * (BAND + 4), width, _cut(text, before), state.tone, title, x - 6, True)


def _ticks(scale: _Scale) -> list[Tick]:
    span = scale.end - scale.start
    step = next((s for s in _STEPS if span / s <= _MAX_TICKS), _STEPS[-1] * (int(span / 86400 / _MAX_TICKS) + 1))
    clock = "%H:%M:%S" if step < 60 else "%H:%M"
    first = (int(scale.start) // step + 1) * step
    ticks, previous_day = [], datetime.fromtimestamp(scale.start, UTC).date()
    for at in range(first, int(scale.end) + 1, step):
        moment = datetime.fromtimestamp(at, UTC)
        text = moment.strftime(clock if moment.date() == previous_day else f"%b %d {clock}")
        previous_day = moment.date()
        ticks.append(Tick(scale.x(at), text))
    return ticks


def _seconds(iso: object) -> float | None:
    at = view.moment(iso) if isinstance(iso, str) else None
    return at.timestamp() if at else None


def _clock(at: float | None) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S") if at is not None else "?"


def _cut(text: str, limit: int) -> str:
    if limit < 2:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"
