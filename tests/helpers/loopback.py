"""What the tests' loopback OpenAI-compatible servers share: writing one JSON answer."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler


def reply_json(handler: BaseHTTPRequestHandler, answer: dict) -> None:
    """Send ``answer`` as a 200 ``application/json`` response with its length."""
    payload = json.dumps(answer).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
