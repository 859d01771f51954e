"""Authenticator codes as a phone would show them, for any time step around now."""

from __future__ import annotations

import time

import pyotp

from atlas_services.totp import STEP_SECONDS


def current_step() -> int:
    return int(time.time()) // STEP_SECONDS


def code_at(seed: str, steps_from_now: int = 0) -> str:
    """The code for the time step ``steps_from_now`` away from the current one."""
    return pyotp.TOTP(seed, interval=STEP_SECONDS).generate_otp(current_step() + steps_from_now)


def plain_seed(shown: str) -> str:
    """The key as the enrolment page shows it (grouped by four) back to what an app stores."""
    return shown.replace(" ", "").upper()
