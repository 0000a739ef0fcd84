"""A fake link under the real FTMS peripheral: records what a central would receive and decodes it.

Like python-kasa's fake protocol: the transport is fake, the protocol code is the real one. Time is a
number the test steps; nothing sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from treadsim.ftms import (
    CONTROL_POINT,
    MACHINE_STATUS,
    TRAINING_STATUS,
    TREADMILL_DATA,
    ControlResponse,
    MachineStatus,
    TreadmillData,
    TreadmillDataAssembler,
    decode_training_status,
)
from treadsim.peripheral import FtmsPeripheral

ALL_SUBSCRIPTIONS = (CONTROL_POINT, MACHINE_STATUS, TREADMILL_DATA, TRAINING_STATUS)


@dataclass
class Sent:
    time: float
    char_uuid: str
    value: bytes


@dataclass
class FakeLink:
    """A :class:`treadsim.gatt.LinkSink` that remembers everything sent on it."""

    clock: FakeClock
    mtu: int = 23
    sent: list[Sent] = field(default_factory=list)
    drops: int = 0

    def send(self, char_uuid: str, value: bytes) -> None:
        assert len(value) <= self.mtu - 3, f"{len(value)}-byte notification on a {self.mtu} MTU"
        self.sent.append(Sent(self.clock.now, char_uuid, value))

    def drop(self) -> None:
        self.drops += 1

    def values(self, char_uuid: str) -> list[bytes]:
        return [s.value for s in self.sent if s.char_uuid == char_uuid]

    def responses(self) -> list[ControlResponse]:
        return [ControlResponse.decode(v) for v in self.values(CONTROL_POINT)]

    def statuses(self) -> list[MachineStatus]:
        return [MachineStatus.decode(v) for v in self.values(MACHINE_STATUS)]

    def training_statuses(self) -> list[int]:
        return [decode_training_status(v) for v in self.values(TRAINING_STATUS)]

    def records(self) -> list[tuple[float, TreadmillData]]:
        """Complete Treadmill Data records, reassembled, with the time their last part arrived."""
        assembler = TreadmillDataAssembler()
        out = []
        for sent in self.sent:
            if sent.char_uuid == TREADMILL_DATA and (record := assembler.feed(sent.value)) is not None:
                out.append((sent.time, record))
        return out

    def clear(self) -> None:
        self.sent.clear()


@dataclass
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


class Bench:
    """One peripheral, one fake central, one clock."""

    def __init__(
        self, *, quirks: tuple[str, ...] = (), mtu: int = 23, seed: int = 1, response_delay_s: float = 0.0
    ) -> None:
        self.clock = FakeClock()
        self.peripheral = FtmsPeripheral.create(
            0.0,
            address="AA:BB:CC:DD:EE:01",
            quirks=quirks,
            seed=seed,
            clock=self.clock,
            response_delay_s=response_delay_s,
        )
        self.link = FakeLink(self.clock, mtu)
        self.treadmill = self.peripheral.treadmill

    def connect(self, subscriptions: tuple[str, ...] = ALL_SUBSCRIPTIONS) -> FakeLink:
        self.link = FakeLink(self.clock, self.link.mtu)
        self.peripheral.connected(self.link)
        for char_uuid in subscriptions:
            self.peripheral.set_subscribed(char_uuid, True)
        return self.link

    def write(self, frame: bytes) -> ControlResponse:
        """Write the control point and return the response it indicated."""
        before = len(self.link.responses())
        self.peripheral.write(CONTROL_POINT, frame)
        responses = self.link.responses()
        assert len(responses) == before + 1, "no response indicated"
        return responses[-1]

    def take_control(self) -> None:
        assert self.write(bytes([0x00])).result == 1

    def run_until(self, t: float, step: float = 0.05) -> None:
        """Tick the peripheral every ``step`` seconds up to ``t``, as the server does."""
        while self.clock.now + step <= t + 1e-9:
            self.clock.now = round(self.clock.now + step, 6)
            self.peripheral.tick(self.clock.now)
        if self.clock.now < t:
            self.clock.now = t
            self.peripheral.tick(t)
