"""``python -m litestar_workflows.demo``: serve the demo app with uvicorn."""

from __future__ import annotations

import argparse
import os

from litestar_workflows.demo.auth import DEMO_USERS, USER_HEADER

_APP = "litestar_workflows.demo.app:app"


def main(argv: list[str] | None = None) -> None:
    """Parse ``--host``/``--port`` and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m litestar_workflows.demo", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("WORKFLOWS_DEMO_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("WORKFLOWS_DEMO_PORT", "8000")))
    args = parser.parse_args(argv)

    import uvicorn

    base = f"http://{args.host}:{args.port}"
    print(f"litestar-workflows demo on {base}  (web UI: {base}/workflows/ui/, API docs: {base}/schema)")
    print(f"act as a user with the header '{USER_HEADER}: maria'; users: {', '.join(DEMO_USERS)}")
    # Open pages keep live-update streams (and long polls) open: without a bound, stopping the
    # server would wait for every browser tab to close.
    uvicorn.run(_APP, host=args.host, port=args.port, timeout_graceful_shutdown=3)


if __name__ == "__main__":
    main()
