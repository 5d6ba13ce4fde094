"""Test-wide settings: a fixed hypothesis profile and how tests find (or skip) real services."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Deterministic runs everywhere: CI must never flake on a new random example.
settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
