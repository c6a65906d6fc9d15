"""python -m postal_emulator --host 127.0.0.1 --port 8099 [--state-file PATH]
[--webhook-url URL --webhook-secret S]   (the secret may also come from POSTAL_WEBHOOK_SECRET)"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from infra import logs
from postal_emulator.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="postal_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--state-file", type=Path, help="keep shipments across restarts (JSON)")
    parser.add_argument("--webhook-url", help="where tracking events are posted")
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("POSTAL_WEBHOOK_SECRET"),
        help="HMAC-SHA256 key for X-Postal-Signature (default: $POSTAL_WEBHOOK_SECRET)",
    )
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret (or POSTAL_WEBHOOK_SECRET)")
    logs.configure()
    app = create_app(
        args.state_file, args.webhook_url, args.webhook_secret if args.webhook_url else None
    )
    uvicorn.run(app, host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
