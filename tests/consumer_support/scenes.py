"""Realistic sessions for the session tracker's tests and the README's screenshots (`demo`, `crowd`).

Each function returns the wire bodies of one session, in the order its sender posts them (see senders.py).
"""

from __future__ import annotations

from tests.consumer_support.senders import Ids, LiveKitRoom, OpenViduSession

NAMES = (
    "Alice Martin",
    "Bruno Costa",
    "Chiara Rossi",
    "Dmitri Volkov",
    "Emma Schneider",
    "Farid Haddad",
    "Grace Okafor",
    "Hiro Tanaka",
    "Inès Dubois",
    "Jonas Berg",
    "Kavya Iyer",
    "Liam O'Brien",
    "Marta Nowak",
    "Nadia Benali",
    "Oscar Lindqvist",
    "Priya Raman",
    "Quentin Moreau",
    "Rosa Jiménez",
    "Sven Larsen",
    "Tomás Silva",
    "Uma Chatterjee",
    "Viktor Horvat",
    "Wen Li",
    "Ximena Ortega",
    "Yusuf Demir",
    "Zoe Fischer",
)


def demo(now: float) -> list[list[bytes]]:
    """The sessions of the README's screenshots: two live, four ended, from both senders."""
    return [
        planning(now - 2 * 3600),
        design_review(now - 5 * 3600),
        support(now - 26 * 60),
        town_hall(now - 48 * 60),
        standup(now - 26 * 3600),
        interview(now - 3 * 3600),
    ]


def planning(start: float) -> list[bytes]:
    """OpenVidu 2: six people, a screen share, a reconnect after a network drop, a recording that is ready."""
    s = OpenViduSession("ses_Pl4nN1ngQ3", start)
    people = {name: s.join(name, 5 + i * 40, platform=i) for i, name in enumerate(NAMES[:6])}
    cams = {name: s.publish(c, 8 + i * 40) for i, (name, c) in enumerate(people.items())}
    for name, connection in people.items():
        for other, stream in cams.items():
            if other != name:
                s.subscribe(connection, stream, 9 + max(list(people).index(name), list(people).index(other)) * 40)
    screen = s.publish(people["Chiara Rossi"], 900, "SCREEN")
    s.record(300, 2700)
    s.unpublish(screen, people["Chiara Rossi"], 1500)
    s.leave(people["Dmitri Volkov"], 1200, "networkDisconnect")
    again = s.join("Dmitri Volkov", 1260, platform=3)
    s.publish(again, 1264)
    s.leave(people["Farid Haddad"], 2100)
    s.destroy(3120)
    return s.bodies()


def design_review(start: float) -> list[bytes]:
    """LiveKit: four people, one whose connection failed, a composite recording with its egress participant."""
    room = LiveKitRoom("design-review", start)
    for i, name in enumerate(NAMES[6:10]):
        identity = name.split()[0].lower()
        room.join(identity, name, 12 + i * 75)
        room.publish(identity, 14 + i * 75, "MICROPHONE")
        room.publish(identity, 15 + i * 75, "CAMERA")
    room.abort("liam", "Liam O'Brien", 400)
    room.publish("grace", 700, "SCREEN_SHARE")
    room.unpublish("grace", 1900, "SCREEN_SHARE")
    room.record(240, 3300)
    room.leave("hiro", 2400)
    room.finish(3700)
    return room.bodies()


def support(start: float) -> list[bytes]:
    """OpenVidu 2, going on now: a customer and two agents, recorded."""
    s = OpenViduSession("support-4711", start)
    customer = s.join("Marta Nowak", 3, platform=2)
    agent = s.join("Nadia Benali", 40)
    s.publish(customer, 6)
    s.publish(agent, 43)
    s.record(60, None)
    late = s.join("Oscar Lindqvist", 600)
    s.publish(late, 604)
    return s.bodies()


def town_hall(start: float) -> list[bytes]:
    """LiveKit, going on now: twelve people, some already gone, a recording running."""
    room = LiveKitRoom("town-hall", start)
    for i, name in enumerate(NAMES[10:22]):
        identity = name.split()[0].lower()
        room.join(identity, name, 20 + i * 55)
        room.publish(identity, 22 + i * 55, "MICROPHONE")
        if i % 3 != 2:
            room.publish(identity, 23 + i * 55, "CAMERA")
    room.record(120, None)
    room.leave("oscar", 1500)
    room.leave("quentin", 2100, "CLIENT_INITIATED")
    return room.bodies()


def standup(start: float) -> list[bytes]:
    room = LiveKitRoom("standup-team-a", start)
    for i, name in enumerate(NAMES[20:25]):
        identity = name.split()[0].lower()
        room.join(identity, name, 10 + i * 20)
        room.publish(identity, 12 + i * 20, "MICROPHONE")
        room.publish(identity, 13 + i * 20, "CAMERA")
    room.finish(960)
    return room.bodies()


def interview(start: float) -> list[bytes]:
    """OpenVidu 2: two people, a recording that failed."""
    s = OpenViduSession("ses_Int3rv1ewX", start)
    a, b = s.join("Sven Larsen", 4), s.join("Tomás Silva", 70, platform=1)
    s.publish(a, 6)
    s.publish(b, 72)
    s.record(90, 1500, status="failed")
    s.destroy(2400)
    return s.bodies()


def crowd(start: float, people: int = 50, hours: float = 10) -> list[bytes]:
    """LiveKit: `people` participants over `hours`, coming and going, some twice; a recording of the first hour."""
    room = LiveKitRoom("all-day-workshop", start)
    ids = Ids("crowd")
    end = hours * 3600
    for i in range(people):
        name = f"{NAMES[i % len(NAMES)]}" + (f" {i // len(NAMES) + 1}" if i >= len(NAMES) else "")
        identity = f"user-{i:02d}"
        joined = ids.random.uniform(0, end * 0.6)
        room.join(identity, name, joined)
        room.publish(identity, joined + 2, "MICROPHONE")
        if i % 4:
            room.publish(identity, joined + 3, "CAMERA")
        left = min(joined + ids.random.uniform(60, end * 0.5), end - 60)
        if i % 7 == 0:  # back a little later
            room.leave(identity, joined + 600, "CLIENT_INITIATED")
            room.join(identity, name, joined + 900)
            room.publish(identity, joined + 902, "MICROPHONE")
        room.leave(identity, max(left, joined + 1000))
    room.record(300, 3900)
    room.finish(end)
    return room.bodies()
