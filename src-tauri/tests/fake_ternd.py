#!/usr/bin/env python3
"""A scripted stand-in for ternd on a Unix socket, for trying the desktop app (and taking
screenshots) without the privileged helper. Speaks the ipc protocol: 4-byte big-endian length +
JSON. Usage: fake_ternd.py SOCKET [connected|disconnected|failed]. Never for production."""
import json
import os
import socket
import struct
import sys
import threading
import time

path = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "connected"
started = int(time.time() * 1000) - 754_000


def status():
    base = {"profile": None, "gateway": None, "connection": None,
            "traffic": {"bytes_in": 0, "bytes_out": 0, "packets_in": 0, "packets_out": 0, "dropped_in": 0}}
    if mode == "disconnected":
        return {**base, "state": {"state": "disconnected"}}
    profile = {"uuid": os.environ.get("FAKE_PROFILE_ID", "0b7a4f4e-52a1-4f1c-9d4a-1c2b3d4e5f60"), "name": "Office"}
    if mode == "failed":
        return {**base, "profile": profile, "gateway": "198.51.100.10",
                "state": {"state": "failed", "failure": {"kind": "authentication_failed", "message": "AUTHENTICATION_FAILED notify from the gateway"}}}
    elapsed = time.time() * 1000 - started
    return {**base, "state": {"state": "connected"}, "profile": profile, "gateway": "198.51.100.10",
            "connection": {"virtual_ips": ["10.10.0.2"], "dns_servers": ["10.0.0.53"], "dns_domains": ["corp.example.com"],
                           "routes": ["10.0.0.0/8"], "ike_suite": "aes256gcm16-prfsha384-curve25519", "esp_suite": "aes256gcm16",
                           "local_behind_nat": True, "remote_behind_nat": False, "connected_at_unix_ms": started,
                           "handshake_ms": 84, "rekeys": 0},
            "traffic": {"bytes_in": int(elapsed * 40), "bytes_out": int(elapsed * 9), "packets_in": 0, "packets_out": 0, "dropped_in": 0}}


def send(conn, message):
    body = json.dumps(message).encode()
    conn.sendall(struct.pack(">I", len(body)) + body)


def recv(conn):
    head = conn.recv(4, socket.MSG_WAITALL)
    if len(head) < 4:
        return None
    (length,) = struct.unpack(">I", head)
    return json.loads(conn.recv(length, socket.MSG_WAITALL))


def serve(conn):
    subscribed = False
    try:
        while True:
            msg = recv(conn)
            if msg is None:
                return
            req = msg["request"]
            kind = req["type"]
            if kind == "hello":
                result = {"Ok": {"type": "hello", "version": 1, "server": "fake-ternd 0.1.0"}}
            elif kind == "status":
                result = {"Ok": {"type": "status", **status()}}
            elif kind == "logs":
                now = int(time.time() * 1000)
                lines = [{"seq": i, "unix_ms": now - 5000 + i * 100, "level": lvl, "target": "ternd::ike", "message": text}
                         for i, (lvl, text) in enumerate([("info", "connecting profile Office"), ("debug", "sent IKE_SA_INIT"),
                                                          ("info", "IKE SA established"), ("info", "tunnel up")], 1)]
                result = {"Ok": {"type": "logs", "lines": lines}}
            else:
                subscribed = subscribed or kind == "subscribe"
                result = {"Ok": {"type": "done"}}
            send(conn, {"type": "response", "id": msg["id"], "result": result})
            if subscribed and kind == "logs":
                threading.Thread(target=tick, args=(conn,), daemon=True).start()
    except OSError:
        return


def tick(conn):
    try:
        while True:
            time.sleep(1)
            send(conn, {"type": "event", "event": {"kind": "status", **status()}})
    except OSError:
        return


if os.path.exists(path):
    os.unlink(path)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(4)
while True:
    c, _ = server.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
