"""The simulated treadmill's GATT table and what it claims to support, shaped by its quirks."""

from __future__ import annotations

from .ftms import (
    CONTROL_POINT,
    CROSS_TRAINER_DATA,
    DEVICE_INFORMATION_SERVICE,
    FEATURE,
    FEATURE_AVERAGE_SPEED,
    FEATURE_ELAPSED_TIME,
    FEATURE_EXPENDED_ENERGY,
    FEATURE_HEART_RATE,
    FEATURE_INCLINATION,
    FEATURE_METABOLIC_EQUIVALENT,
    FEATURE_TOTAL_DISTANCE,
    FTMS_SERVICE,
    INCLINATION_RANGE,
    MACHINE_STATUS,
    MANUFACTURER_NAME,
    MODEL_NUMBER,
    SPEED_RANGE,
    TARGET_INCLINATION_SUPPORTED,
    TARGET_SPEED_SUPPORTED,
    TRAINING_STATUS,
    TREADMILL_DATA,
    Features,
)
from .gatt import CharacteristicSpec, ServiceSpec
from .quirks import QuirkSettings

__all__ = ["FEATURES", "NOT_READABLE", "services_for"]


def services_for(settings: QuirkSettings) -> tuple[ServiceSpec, ...]:
    """The GATT table; quirks change how the control point answers and which machine data is offered."""
    machine_data: tuple[CharacteristicSpec, ...] = ()
    if not settings.no_treadmill_data:
        machine_data += (CharacteristicSpec(TREADMILL_DATA, ("notify",)),)
    if settings.cross_trainer_data:
        machine_data += (CharacteristicSpec(CROSS_TRAINER_DATA, ("notify",)),)
    replies = "notify" if settings.notify_replies else "indicate"
    return (
        ServiceSpec(
            FTMS_SERVICE,
            (
                CharacteristicSpec(FEATURE, ("read",)),
                *machine_data,
                CharacteristicSpec(TRAINING_STATUS, ("read", "notify")),
                CharacteristicSpec(SPEED_RANGE, ("read",)),
                CharacteristicSpec(INCLINATION_RANGE, ("read",)),
                CharacteristicSpec(CONTROL_POINT, ("write", replies)),
                CharacteristicSpec(MACHINE_STATUS, ("notify",)),
            ),
        ),
        ServiceSpec(
            DEVICE_INFORMATION_SERVICE,
            (CharacteristicSpec(MANUFACTURER_NAME, ("read",)), CharacteristicSpec(MODEL_NUMBER, ("read",))),
        ),
    )


NOT_READABLE = frozenset({TREADMILL_DATA, CROSS_TRAINER_DATA, CONTROL_POINT, MACHINE_STATUS})

FEATURES = Features(
    FEATURE_AVERAGE_SPEED
    | FEATURE_TOTAL_DISTANCE
    | FEATURE_INCLINATION
    | FEATURE_EXPENDED_ENERGY
    | FEATURE_HEART_RATE
    | FEATURE_METABOLIC_EQUIVALENT
    | FEATURE_ELAPSED_TIME,
    TARGET_SPEED_SUPPORTED | TARGET_INCLINATION_SUPPORTED,
)
