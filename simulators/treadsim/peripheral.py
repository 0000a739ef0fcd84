"""The FTMS treadmill as a GATT peripheral: control point rules, notifications, console and quirks.

Implements :class:`treadsim.gatt.GattPeripheral` over a :class:`treadsim.model.Treadmill`. The adapter
calls ``read``/``write``/``set_subscribed``/``connected``/``disconnected``; the server calls
``tick(now)`` often (10-20 Hz) to move the belt, send Treadmill Data at the notify rate and run quirk
timers; the tester console calls the ``press_*``/``console_*`` methods. Everything is synchronous and
takes its time from ``now`` (ticks, console) or from the injected clock (GATT requests), so a test that
steps a fake clock gets the same bytes every run.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .ftms import (
    CONTROL_POINT,
    CROSS_TRAINER_DATA,
    FEATURE,
    FTMS_SERVICE,
    INCLINATION_RANGE,
    MACHINE_STATUS,
    MANUFACTURER_NAME,
    MODEL_NUMBER,
    SPEED_RANGE,
    TRAINING_STATUS,
    TREADMILL_DATA,
    ControlPointFrameError,
    ControlRequest,
    ControlResponse,
    FrameProblem,
    InclinationRange,
    MachineStatus,
    MachineStatusCode,
    RequestControl,
    Reset,
    ResultCode,
    SetTargetInclination,
    SetTargetSpeed,
    SpeedRange,
    StartResume,
    StopOrPause,
    StopPause,
    TreadmillData,
    decode_control_request,
    encode_cross_trainer_speed,
    encode_service_data,
    encode_training_status,
    encode_treadmill_data,
)
from .gatt import (
    ATT_CCCD_IMPROPERLY_CONFIGURED,
    ATT_INVALID_ATTRIBUTE_VALUE_LENGTH,
    ATT_PROCEDURE_ALREADY_IN_PROGRESS,
    ATT_READ_NOT_PERMITTED,
    ATT_REQUEST_NOT_SUPPORTED,
    ATT_WRITE_NOT_PERMITTED,
    Advertisement,
    AttError,
    LinkSink,
    ServiceSpec,
)
from .gatt_table import FEATURES, NOT_READABLE, services_for
from .model import (
    BeltState,
    ChangeSource,
    ModelError,
    SafetyKeyOutError,
    SpeedUnit,
    TrainingStatus,
    Treadmill,
    TreadmillSpec,
)
from .quirks import QuirkSettings, combine_quirks, spec_for_quirks

__all__ = ["CLIENT", "CONSOLE", "STEP_LENGTH_M", "FtmsPeripheral", "PeripheralConfigError"]

CLIENT = ChangeSource.CLIENT
# The urevo-e1l quirk's step count: one step per this much belt travel (short backward steps).
STEP_LENGTH_M = 0.4
CONSOLE = ChangeSource.CONSOLE


class PeripheralConfigError(ValueError):
    """The peripheral cannot be built as asked (e.g. an mph model without the mph-as-kmh quirk)."""


@dataclass(frozen=True)
class _Pending:
    """A control point procedure accepted by the ATT layer whose response is not yet due."""

    opcode: int
    request: ControlRequest | ResultCode  # a ResultCode when the frame was already refused
    due: float


class FtmsPeripheral:
    """A simulated FTMS treadmill. ``tick(now)`` must be called regularly with a monotonic ``now``."""

    def __init__(
        self,
        treadmill: Treadmill,
        *,
        address: str,
        name: str = "treadsim",
        quirks: Iterable[str] = (),
        notify_hz: float = 1.0,
        manufacturer: str = "treadsim",
        model: str = "TS-1",
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        response_delay_s: float = 0.0,
    ) -> None:
        self.quirk_names = tuple(quirks)
        self.settings: QuirkSettings = combine_quirks(self.quirk_names)
        if self.settings.mph_as_kmh != (treadmill.spec.unit is SpeedUnit.MPH):
            raise PeripheralConfigError(
                "the mph-as-kmh quirk needs an mph treadmill (TreadmillSpec.mph_walking_pad()) and an mph "
                "treadmill is only simulated with that quirk; use FtmsPeripheral.create()"
            )
        hz = self.settings.notify_hz or notify_hz
        if not (math.isfinite(hz) and hz > 0) or response_delay_s < 0:
            raise PeripheralConfigError(f"notify rate {hz} Hz / response delay {response_delay_s} s invalid")
        self.treadmill = treadmill
        self._address = address
        self.name = name
        self.manufacturer = manufacturer
        self.model = model
        self._clock = clock
        self._period = 1.0 / hz
        self._response_delay = response_delay_s
        self._rng = random.Random(seed)
        self._sink: LinkSink | None = None
        self._subscribed: set[str] = set()
        self._control = False
        self._pending: _Pending | None = None
        self._next_data_at = treadmill.now
        self._data_silenced = False
        self._sent_training: TrainingStatus | None = None
        self._drift_at: float | None = None
        self._blip_at: float | None = None
        self._drop_at: float | None = None
        self._held_statuses: list[MachineStatus] | None = None
        self._services = services_for(self.settings)
        self._wind_down_status_at = treadmill.now
        # A short human-readable history for the tester console.
        self.events: deque[str] = deque(maxlen=200)

    @classmethod
    def create(
        cls,
        now: float,
        *,
        address: str,
        quirks: Iterable[str] = (),
        spec: TreadmillSpec | None = None,
        name: str = "treadsim",
        notify_hz: float = 1.0,
        manufacturer: str = "treadsim",
        model: str = "TS-1",
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        response_delay_s: float = 0.0,
    ) -> FtmsPeripheral:
        """A peripheral with a fresh treadmill whose spec suits the quirks (an mph pad for mph-as-kmh)."""
        names = tuple(quirks)
        if spec is None:
            spec = spec_for_quirks(names)
        return cls(
            Treadmill(now, spec),
            address=address,
            name=name,
            quirks=names,
            notify_hz=notify_hz,
            manufacturer=manufacturer,
            model=model,
            seed=seed,
            clock=clock,
            response_delay_s=response_delay_s,
        )

    # ------------------------------------------------------------------ state for the console and tests
    @property
    def address(self) -> str:
        return self._address

    @property
    def is_connected(self) -> bool:
        return self._sink is not None

    @property
    def has_control(self) -> bool:
        return self._control

    @property
    def procedure_pending(self) -> bool:
        return self._pending is not None

    def _time(self) -> float:
        # Never let a GATT request go back in time behind the last tick.
        return max(self._clock(), self.treadmill.now)

    def _log(self, now: float, text: str) -> None:
        self.events.append(f"{now:10.2f} {text}")

    # ------------------------------------------------------------------ GattPeripheral
    @property
    def services(self) -> tuple[ServiceSpec, ...]:
        return self._services

    def advertisement(self) -> Advertisement:
        data = encode_service_data(available=True, cross_trainer=self.settings.cross_trainer_data)
        return Advertisement(self.name, (FTMS_SERVICE,), {FTMS_SERVICE: data})

    def read(self, char_uuid: str) -> bytes:
        spec = self.treadmill.spec
        readers: dict[str, Callable[[], bytes]] = {
            FEATURE: FEATURES.encode,
            TRAINING_STATUS: lambda: encode_training_status(self.treadmill.training_status),
            # In the machine's own unit: an mph machine (mph-as-kmh) puts mph numbers here.
            SPEED_RANGE: SpeedRange(spec.min_speed_cs, spec.max_speed_cs, spec.speed_step_cs).encode,
            INCLINATION_RANGE: (
                InclinationRange(0, 0, 0)
                if self.settings.zero_incline_range
                else InclinationRange(spec.min_incline_dp, spec.max_incline_dp, spec.incline_step_dp)
            ).encode,
            MANUFACTURER_NAME: self.manufacturer.encode,
            MODEL_NUMBER: self.model.encode,
        }
        if char_uuid in readers:
            return readers[char_uuid]()
        if char_uuid in NOT_READABLE:
            raise AttError(ATT_READ_NOT_PERMITTED, f"{char_uuid} is not readable")
        raise AttError(ATT_REQUEST_NOT_SUPPORTED, f"no characteristic {char_uuid}")

    def write(self, char_uuid: str, value: bytes) -> None:
        if char_uuid != CONTROL_POINT:
            raise AttError(ATT_WRITE_NOT_PERMITTED, f"{char_uuid} is not writable")
        if CONTROL_POINT not in self._subscribed:
            raise AttError(ATT_CCCD_IMPROPERLY_CONFIGURED, "enable indications on the control point first")
        if self._pending is not None and self.settings.silent_second_write and value:
            self._carry_out_unanswered(value)
            return
        if self._pending is not None:
            raise AttError(ATT_PROCEDURE_ALREADY_IN_PROGRESS, "a control point procedure is still running")
        if not value:
            # The FTMS answer `80 <op> <result>` must echo the request's op code and an empty write has
            # none, so no FTMS-level answer can be formed. The ATT layer rejects a value whose length is
            # wrong for the attribute with Invalid Attribute Value Length (Core Vol 3 Part F 3.4.1.1); no
            # procedure starts, nothing moves.
            raise AttError(ATT_INVALID_ATTRIBUTE_VALUE_LENGTH, "empty control point write: no op code")
        now = self._time()
        request: ControlRequest | ResultCode
        try:
            request = decode_control_request(value)
        except ControlPointFrameError as error:
            # A frame with an op code gets an FTMS answer: an op this machine lacks is "op code not
            # supported"; a truncated, over-long or out-of-domain parameter is "invalid parameter" (FTMS
            # 4.16.2: the parameter is not in the format the op code requires).
            unsupported = error.problem is FrameProblem.UNKNOWN_OPCODE
            request = ResultCode.OP_NOT_SUPPORTED if unsupported else ResultCode.INVALID_PARAMETER
            self._log(now, f"client wrote {value.hex(' ')}: {error}")
        self._pending = _Pending(value[0], request, now + self._response_delay)
        if self._response_delay == 0:
            self._finish_procedure(now)

    def _carry_out_unanswered(self, value: bytes) -> None:
        """The notify-replies quirk: a write during a running procedure is obeyed but never answered."""
        now = self._time()
        try:
            request = decode_control_request(value)
        except ControlPointFrameError as error:
            self._log(now, f"client wrote {value.hex(' ')} during a procedure: {error}; no answer")
            return
        result = self._execute(request, now)
        name = type(request).__name__
        self._log(now, f"client {name} during a procedure: {result.name.lower()}, never answered")

    def set_subscribed(self, char_uuid: str, enabled: bool) -> None:
        if enabled:
            self._subscribed.add(char_uuid)
            if char_uuid == TREADMILL_DATA:
                self._next_data_at = self.treadmill.now
            if char_uuid == TRAINING_STATUS:
                # The central reads the status when it subscribes; notify changes from here on.
                self._sent_training = self.treadmill.training_status
        else:
            self._subscribed.discard(char_uuid)

    def connected(self, sink: LinkSink) -> None:
        now = self._time()
        self._sink = sink
        self._subscribed.clear()
        self._control = False
        self._pending = None
        if self.settings.flaky_link_after_s is not None:
            self._drop_at = now + self._rng.uniform(*self.settings.flaky_link_after_s)
        self._log(now, "central connected")

    def disconnected(self) -> None:
        if self._sink is not None:
            self._log(self._time(), "central disconnected")
        self._forget_link()

    def _forget_link(self) -> None:
        # A procedure not yet executed dies with the link: never carry a command across a lost link.
        self._sink = None
        self._subscribed.clear()
        self._control = False
        self._pending = None
        self._drop_at = None

    def _lose_link(self, now: float, reason: str) -> None:
        sink = self._sink
        if sink is None:
            return
        self._log(now, f"link dropped: {reason}")
        self._forget_link()
        sink.drop()

    # ------------------------------------------------------------------ sending
    def _send(self, char_uuid: str, value: bytes) -> None:
        if self.settings.silent_until_unlocked:
            return  # the needs-unlock quirk: nothing at all until a vendor's unlock, which never comes
        if self._sink is not None and char_uuid in self._subscribed:
            self._sink.send(char_uuid, value)

    def _status(self, code: MachineStatusCode, value: int | None = None) -> None:
        status = MachineStatus(code, value)
        if self._held_statuses is not None:
            self._held_statuses.append(status)
        else:
            self._send(MACHINE_STATUS, status.encode())

    def _sync_training_status(self) -> None:
        status = self.treadmill.training_status
        if status != self._sent_training and self._sink is not None and TRAINING_STATUS in self._subscribed:
            self._sent_training = status
            self._send(TRAINING_STATUS, encode_training_status(status))

    def current_record(self) -> TreadmillData:
        """The Treadmill Data record the machine would send now (speeds in the machine's own numbers)."""
        t = self.treadmill
        per_hour = t.energy_per_hour_kcal() if t.speed_kmh > 0 else 0.0
        return TreadmillData(
            speed_cs=t.speed_cs,
            average_speed_cs=round(t.average_speed_kmh() / t.spec.kmh_per_unit * 100),
            total_distance_m=min(int(t.totals.distance_m), 0xFFFFFF),
            inclination_dp=t.incline_dp,
            ramp_angle_dd=round(math.degrees(math.atan(t.incline_dp / 1000)) * 10),
            # Counters saturate at their field's maximum instead of wrapping, like a real display.
            energy_total_kcal=min(int(t.totals.energy_kcal), 0xFFFE),
            energy_per_hour_kcal=min(round(per_hour), 0xFFFE),
            energy_per_minute_kcal=min(round(per_hour / 60), 0xFE),
            heart_rate_bpm=min(t.heart_rate(), 0xFF),
            metabolic_equivalent_dm=min(round(t.metabolic_equivalent() * 10), 0xFF),
            elapsed_s=min(int(t.totals.elapsed_s), 0xFFFF),
            step_count=self._step_count(),
        )

    def _step_count(self) -> int | None:
        if not self.settings.step_count_bit13:
            return None
        return min(int(self.treadmill.totals.distance_m / STEP_LENGTH_M), 0xFFFF)

    def _send_data(self) -> None:
        if self._sink is None:
            return
        if TREADMILL_DATA in self._subscribed:
            parts = encode_treadmill_data(
                self.current_record(),
                self._sink.mtu - 3,
                max_groups_per_part=self.settings.max_groups_per_part,
            )
            for part in parts:
                self._send(TREADMILL_DATA, part)
        if self.settings.cross_trainer_data:
            self._send(CROSS_TRAINER_DATA, encode_cross_trainer_speed(self.treadmill.speed_cs))

    # ------------------------------------------------------------------ time
    def tick(self, now: float) -> None:
        """Move the belt to ``now``, finish a due procedure, run quirk timers, send what is due."""
        now = max(now, self.treadmill.now)
        self.treadmill.advance(now)
        if self._pending is not None and now >= self._pending.due:
            self._finish_procedure(now)
        self._run_quirk_timers(now)
        if self._sink is not None and now >= self._next_data_at:
            if not self._data_silenced:
                self._send_data()
            # Keep the cadence, but never try to catch up a backlog after a stall.
            self._next_data_at = max(self._next_data_at + self._period, now)
        self._sync_training_status()

    def _run_quirk_timers(self, now: float) -> None:
        t = self.treadmill
        every = self.settings.wind_down_status_every_s
        slowing_by_itself = t.state is not BeltState.RUNNING and t.speed_cs > 0
        if every is not None and slowing_by_itself and now >= self._wind_down_status_at:
            # The quirk: the machine reports its own deceleration as a changed target speed.
            self._status(MachineStatusCode.TARGET_SPEED_CHANGED, t.speed_cs)
            self._wind_down_status_at = now + every
        if self._drop_at is not None and now >= self._drop_at:
            self._lose_link(now, "flaky-link")
        if self._drift_at is not None and now >= self._drift_at and t.state is BeltState.RUNNING:
            self._drift_at = None
            jump_cs = round(
                self._rng.uniform(*self.settings.console_drift_jump_kmh) * 100 / t.spec.kmh_per_unit
            )
            target = t.spec.snap_speed(t.target_cs + jump_cs)
            t.set_target_speed(now, target, ChangeSource.TREADMILL)
            self._log(now, f"console-drift: target jumped to {target / 100:.2f}")
            self._status(MachineStatusCode.TARGET_SPEED_CHANGED, target)
        if self._blip_at is not None and now >= self._blip_at and t.state is BeltState.RUNNING:
            self._blip_at = None
            self._reboot(now, "power-blip")

    def _on_started(self, now: float) -> None:
        self._data_silenced = False
        if self.settings.console_drift_after_s is not None:
            self._drift_at = now + self._rng.uniform(*self.settings.console_drift_after_s)
        if self.settings.power_blip_after_s is not None:
            self._blip_at = now + self._rng.uniform(*self.settings.power_blip_after_s)

    def _start(self, now: float, source: ChangeSource) -> None:
        if self.settings.own_start_speed_cs is not None and self.treadmill.state is BeltState.STOPPED:
            self.treadmill.set_target_speed(now, self.settings.own_start_speed_cs, ChangeSource.TREADMILL)
        self.treadmill.start(now, source)
        self._on_started(now)
        self._status(MachineStatusCode.STARTED_OR_RESUMED_BY_USER)

    def _pause(self, now: float, source: ChangeSource) -> None:
        self.treadmill.pause(now, source)
        self._status(MachineStatusCode.STOPPED_OR_PAUSED_BY_USER, StopPause.PAUSE)
        if self.settings.pause_revokes_control and self._control:
            self._control = False
            self._status(MachineStatusCode.CONTROL_PERMISSION_LOST)

    def _reboot(self, now: float, reason: str) -> None:
        t = self.treadmill
        was_running, previous_cs = t.state is BeltState.RUNNING, t.target_cs
        t.power_cycle(now)
        self._lose_link(now, reason)
        self._drift_at = self._blip_at = None
        self._data_silenced = False
        self._sent_training = None
        self._log(now, f"{reason}: machine rebooted")
        if self.settings.restart_after_reboot and was_running:
            # The quirk: the firmware resumes the belt it had before the blip, with nobody asking.
            t.set_target_speed(now, previous_cs, ChangeSource.POWER)
            t.start(now, ChangeSource.POWER)
            self._log(now, f"{reason}: belt restarted at {previous_cs / 100:.2f}")

    # ------------------------------------------------------------------ control point
    def _finish_procedure(self, now: float) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        self.treadmill.advance(now)
        # Status notifications the procedure causes go out after its response, as a client expects.
        self._held_statuses = []
        try:
            if isinstance(pending.request, ResultCode):
                result = pending.request
            else:
                result = self._execute(pending.request, now)
                self._log(now, f"client {type(pending.request).__name__}: {result.name.lower()}")
        finally:
            statuses, self._held_statuses = self._held_statuses, None
        self._send(CONTROL_POINT, ControlResponse(pending.opcode, result).encode())
        for status in statuses:
            self._send(MACHINE_STATUS, status.encode())
        self._sync_training_status()

    def _execute(self, request: ControlRequest, now: float) -> ResultCode:
        t = self.treadmill
        if isinstance(request, RequestControl):
            self._control = True
            own_start = self.settings.request_control_starts_cs
            if own_start is not None and t.state is BeltState.STOPPED and t.safety_key_in:
                # The quirk: this vendor's Request Control is its Start, at its own speed, unannounced.
                t.set_target_speed(now, own_start, ChangeSource.TREADMILL)
                t.start(now, CLIENT)
                self._on_started(now)
            return ResultCode.SUCCESS
        if not self._control:
            return ResultCode.CONTROL_NOT_PERMITTED
        match request:
            case Reset():
                t.reset(now, CLIENT)
                self._control = False  # permission lasts until a Reset
                self._drift_at = self._blip_at = None
                self._status(MachineStatusCode.RESET)
            case SetTargetSpeed(speed_cs=speed):
                try:
                    t.spec.check_speed(speed)
                except ModelError:
                    return ResultCode.INVALID_PARAMETER
                since = t.running_since
                if since is not None and now - since < self.settings.speed_accept_delay_s:
                    return ResultCode.OPERATION_FAILED
                if not self.settings.ignores_speed:
                    t.set_target_speed(now, speed, CLIENT)
                    self._status(MachineStatusCode.TARGET_SPEED_CHANGED, speed)
            case SetTargetInclination() if self.settings.zero_incline_range:
                pass  # the quirk: no incline motor, yet the command "succeeds"
            case SetTargetInclination(incline_dp=incline):
                try:
                    t.set_target_incline(now, incline, CLIENT)
                except ModelError:
                    return ResultCode.INVALID_PARAMETER
                self._status(MachineStatusCode.TARGET_INCLINE_CHANGED, incline)
            case StartResume():
                if not t.safety_key_in:
                    return ResultCode.OPERATION_FAILED
                if t.state is not BeltState.RUNNING:
                    self._start(now, CLIENT)
            case StopOrPause(action=StopPause.STOP):
                if t.state is not BeltState.STOPPED:
                    t.stop(now, CLIENT)
                    self._status(MachineStatusCode.STOPPED_OR_PAUSED_BY_USER, StopPause.STOP)
            case StopOrPause(action=StopPause.PAUSE):
                if t.state is BeltState.RUNNING:
                    self._pause(now, CLIENT)
        return ResultCode.SUCCESS

    # ------------------------------------------------------------------ the console
    def press_start(self, now: float) -> bool:
        """The start key; False (nothing moves) while the safety key is out."""
        self.tick(now)
        if self.treadmill.state is BeltState.RUNNING:
            return True
        try:
            self._start(now, CONSOLE)
        except SafetyKeyOutError:
            self._log(now, "console start refused: safety key out")
            return False
        self._log(now, "console start")
        self._sync_training_status()
        return True

    def press_stop(self, now: float) -> None:
        self.tick(now)
        if self.treadmill.state is BeltState.STOPPED:
            return
        self.treadmill.stop(now, CONSOLE)
        self._status(MachineStatusCode.STOPPED_OR_PAUSED_BY_USER, StopPause.STOP)
        if self.settings.no_final_zero:
            # The quirk: the machine goes quiet at once; its last packet still showed the belt moving.
            self._data_silenced = True
        self._log(now, "console stop")
        self._sync_training_status()

    def press_pause(self, now: float) -> None:
        self.tick(now)
        if self.treadmill.state is BeltState.RUNNING:
            self._pause(now, CONSOLE)
            self._log(now, "console pause")

    def console_speed_up(self, now: float) -> None:
        self._console_speed(now, lambda: self.treadmill.console_speed_step(now, +1))

    def console_speed_down(self, now: float) -> None:
        self._console_speed(now, lambda: self.treadmill.console_speed_step(now, -1))

    def console_set_speed(self, now: float, speed: float) -> None:
        """A person keys in ``speed`` in the machine's unit; the console snaps it onto its grid."""
        self._console_speed(now, lambda: self.treadmill.console_set_speed(now, speed))

    def _console_speed(self, now: float, change: Callable[[], None]) -> None:
        self.tick(now)
        before = self.treadmill.target_cs
        change()
        after = self.treadmill.target_cs
        if after != before:
            self._status(MachineStatusCode.TARGET_SPEED_CHANGED, after)
            self._log(now, f"console speed {after / 100:.2f}")

    def console_incline_up(self, now: float) -> None:
        self._console_incline(now, +1)

    def console_incline_down(self, now: float) -> None:
        self._console_incline(now, -1)

    def _console_incline(self, now: float, steps: int) -> None:
        self.tick(now)
        before = self.treadmill.incline_dp
        self.treadmill.console_incline_step(now, steps)
        if self.treadmill.incline_dp != before:
            self._status(MachineStatusCode.TARGET_INCLINE_CHANGED, self.treadmill.incline_dp)
            self._log(now, f"console incline {self.treadmill.incline_dp / 10:.1f} %")

    def pull_safety_key(self, now: float) -> None:
        self.tick(now)
        self.treadmill.pull_safety_key(now)
        self._drift_at = self._blip_at = None
        self._status(MachineStatusCode.STOPPED_BY_SAFETY_KEY)
        self._log(now, "safety key pulled")
        self._sync_training_status()

    def insert_safety_key(self, now: float) -> None:
        self.tick(now)
        self.treadmill.insert_safety_key(now)
        self._log(now, "safety key inserted")

    def power_cycle(self, now: float) -> None:
        """Switch the machine off and on: link and control are lost (see the power-blip quirk)."""
        self.tick(now)
        self._reboot(now, "power cycle")
