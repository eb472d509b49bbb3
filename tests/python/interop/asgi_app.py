"""A small ASGI webhook endpoint, served by uvicorn and by hypercorn in the
delivery interop suite.

Appends "connection webhook-id path" to $INTEROP_REQUEST_LOG for every request
it receives, then answers by path: /body 200 with a JSON body, /empty 204.
ASGI names no connection, so the client's address and port stand for it: two
requests from one port at once are on one connection.
"""

import json
import os

REQUEST_LOG = os.environ["INTEROP_REQUEST_LOG"]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    headers = dict(scope["headers"])
    webhook_id = headers.get(b"webhook-id", b"-").decode()
    host, port = scope["client"]
    with open(REQUEST_LOG, "a") as log:
        log.write(f"{host}:{port} {webhook_id} {scope['path']}\n")
    if scope["path"] == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["path"] == "/body":
        status, body = 200, json.dumps({"received": webhook_id}).encode()
    else:
        status, body = 404, b""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
