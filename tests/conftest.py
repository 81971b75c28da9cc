"""pytest configuration shared by every test module."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# "ci" runs more examples; the default profile keeps local runs quick. Both derandomise
# nothing: a failing example is printed with its seed and reproduced with @seed.
settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI", "").lower() in {"1", "true", "yes"} else "dev")
