"""Why some documented examples are expected to fail today (shared by the docs tests)."""

from __future__ import annotations

START_RETURNS_EARLY = (
    "start_workflow returns before the first step runs (README 'When steps run'); the guides read the "
    "instance right after the start as if it had run up to its first wait - decision pending (issue 11 item 2)"
)
