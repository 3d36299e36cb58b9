"""API keys and Access Tokens with Twilio's official Python helper library against a running ternd.

Keys are managed with the stock library (`client.new_keys.create`, `client.keys(sid).fetch/update/
delete`, `client.keys.list`) with one change, the API domain's base URL. Access Tokens are minted
by the library's own `AccessToken` + `SyncGrant` (and a custom grant for Tern's per-stream
rights) and presented in a data-port HELLO over a raw socket, as protocol.md describes. Every
check raises on failure; the script exits 0 only if all of them passed.

Environment:
  TERN_CONTROL_PORT, TERN_DATA_PORT  ports on 127.0.0.1 (required)
  TERN_SERVICE_SID, TERN_ACCOUNT_SID, TERN_AUTH_TOKEN  (required; ternd runs with --auth required)

Run by Tests/TernEndToEndTests/TwilioLibraryTests.swift.
"""

import os
import socket
import struct
import sys
import time
import traceback

from twilio.base.exceptions import TwilioRestException
from twilio.jwt.access_token import AccessToken, AccessTokenGrant
from twilio.jwt.access_token.grants import SyncGrant
from twilio.rest import Client

CHECKS = 0


def check(condition, message):
    """Counts one check; raises (with `message`) when it fails."""
    global CHECKS
    CHECKS += 1
    if not condition:
        raise AssertionError(message)


class TernStreamsGrant(AccessTokenGrant):
    """Tern's per-stream rights (protocol.md §4.13), as any custom grant is added to a token."""

    def __init__(self, subscribe=None, publish=None):
        self.subscribe = subscribe or []
        self.publish = publish or []

    @property
    def key(self):
        return "tern_streams"

    def to_payload(self):
        return {"subscribe": self.subscribe, "publish": self.publish}


class DataPort:
    """Just enough of the data-port protocol: frames as protocol.md §2 lays them out."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def send(self, frame_type, body, flags=0):
        self.sock.sendall(struct.pack(">IBBH", len(body), frame_type, flags, 0) + body)

    @staticmethod
    def string(text):
        data = text.encode()
        return struct.pack(">H", len(data)) + data

    def hello(self, token, max_version=2):
        self.send(0x01, struct.pack(">HH", 1, max_version) + self.string("compat") + self.string(token))
        return self.next()

    def subscribe(self, request_id, stream):
        self.send(0x02, struct.pack(">I", request_id) + self.string(stream))
        return self.next()

    def refresh(self, request_id, token):
        self.send(0x08, struct.pack(">I", request_id) + self.string(token))
        return self.next()

    def next(self):
        """(type, flags, body) of the next frame that is not a PING; None at end of stream."""
        while True:
            while len(self.buffer) < 8 or len(self.buffer) < 8 + struct.unpack(">I", self.buffer[:4])[0]:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return None
                self.buffer += chunk
            length, frame_type, flags, _ = struct.unpack(">IBBH", self.buffer[:8])
            body = self.buffer[8 : 8 + length]
            self.buffer = self.buffer[8 + length :]
            if frame_type == 0x05:
                self.send(0x06, body)
                continue
            return frame_type, flags, body

    def close(self):
        self.sock.close()


def error_code(frame):
    check(frame is not None and frame[0] == 0x88, f"expected ERROR, got {frame}")
    return struct.unpack(">H", frame[2][4:6])[0], bool(frame[1] & 1)


def keys(client, account_sid):
    created = client.new_keys.create(friendly_name="compat worker")
    check(created.sid.startswith("SK") and len(created.sid) == 34, f"key sid {created.sid}")
    check(created.secret and len(created.secret) == 32, "the secret is shown on create")
    check(created.friendly_name == "compat worker", f"friendly_name {created.friendly_name}")
    check(created.date_created is not None and created.date_created.tzinfo is not None, "date_created parses (RFC 2822)")

    fetched = client.keys(created.sid).fetch()
    check(fetched.sid == created.sid and fetched.friendly_name == "compat worker", "fetch key")
    check(not hasattr(fetched, "secret") or getattr(fetched, "secret", None) is None, "no secret on fetch")
    updated = client.keys(created.sid).update(friendly_name="renamed")
    check(updated.friendly_name == "renamed", f"update key: {updated.friendly_name}")
    check(client.keys(created.sid).fetch().friendly_name == "renamed", "update persisted")

    second = client.new_keys.create(friendly_name="second")
    listed = [key.sid for key in client.keys.list(page_size=1)]
    check(listed == [created.sid, second.sid], f"list across pages of 1: {listed}")
    page = client.keys.page(page_size=1)
    check([key.sid for key in page] == [created.sid], "page(page_size=1)")
    next_page = page.next_page()
    check(next_page is not None and [key.sid for key in next_page] == [second.sid], "next_page()")

    check(client.keys(second.sid).delete() is True, "delete key returns True")
    expect_rest_error(lambda: client.keys(second.sid).fetch(), 404, 20404, "fetch a deleted key")
    return created


def expect_rest_error(call, status, code, what):
    try:
        call()
    except TwilioRestException as error:
        check(error.status == status, f"{what}: status {error.status}, expected {status}")
        check(error.code == code, f"{what}: code {error.code}, expected {code}")
        return
    raise AssertionError(f"{what}: no TwilioRestException")


def key_credentials(base_url, key, account_sid, service_sid):
    """Client(key_sid, secret, account_sid): how Twilio's docs use an API key for REST."""
    keyed = Client(key.sid, key.secret, account_sid)
    keyed.sync.base_url = base_url
    keyed.api.base_url = base_url
    check(service_sid in [service.sid for service in keyed.sync.v1.services.list()], "Sync API with an API key")
    expect_rest_error(lambda: keyed.new_keys.create(friendly_name="x"), 403, 20403, "a key cannot create keys")
    wrong = Client(key.sid, "0" * 32, account_sid)
    wrong.sync.base_url = base_url
    expect_rest_error(lambda: wrong.sync.v1.services(service_sid).fetch(), 401, 20003, "wrong key secret")


def access_tokens(data_port, key, account_sid, service_sid, client):
    sync = client.sync.v1.services(service_sid)
    sync.sync_streams.create(unique_name="compat.prices.eur")
    sync.sync_streams.create(unique_name="compat.news")

    token = AccessToken(account_sid, key.sid, key.secret, identity="compat-worker", ttl=600)
    token.add_grant(SyncGrant(service_sid=service_sid))
    jwt = token.to_jwt()
    connection = DataPort(data_port)
    welcome = connection.hello(jwt)
    check(welcome is not None and welcome[0] == 0x81, f"WELCOME for the library's token: {welcome}")
    check(struct.unpack(">H", welcome[2][:2])[0] == 2, "version 2")
    subscribed = connection.subscribe(1, "compat.news")
    check(subscribed is not None and subscribed[0] == 0x82, f"SUBSCRIBED with a SyncGrant token: {subscribed}")

    refreshed_token = AccessToken(account_sid, key.sid, key.secret, identity="compat-worker", ttl=1200)
    refreshed_token.add_grant(SyncGrant(service_sid=service_sid))
    answer = connection.refresh(2, refreshed_token.to_jwt())
    check(answer is not None and answer[0] == 0x8A, f"TOKEN_REFRESHED: {answer}")
    expires_at = struct.unpack(">Q", answer[2][4:12])[0]
    check(abs(expires_at - (time.time() + 1200)) < 5, f"expires_at {expires_at}")
    connection.close()

    narrow = AccessToken(account_sid, key.sid, key.secret, identity="narrow", ttl=600)
    narrow.add_grant(SyncGrant(service_sid=service_sid))
    narrow.add_grant(TernStreamsGrant(subscribe=["compat.prices.*"]))
    connection = DataPort(data_port)
    check(connection.hello(narrow.to_jwt())[0] == 0x81, "WELCOME for a token with tern_streams")
    check(connection.subscribe(1, "compat.prices.eur")[0] == 0x82, "granted prefix")
    check(error_code(connection.subscribe(2, "compat.news")) == (113, False), "SUBSCRIBE_NOT_GRANTED")
    connection.close()

    wrong = AccessToken(account_sid, key.sid, "0" * 32, identity="x", ttl=600)
    wrong.add_grant(SyncGrant(service_sid=service_sid))
    connection = DataPort(data_port)
    check(error_code(connection.hello(wrong.to_jwt())) == (12, True), "TOKEN_SIGNATURE_INVALID")
    connection.close()

    expired = AccessToken(account_sid, key.sid, key.secret, identity="x", nbf=int(time.time()) - 7200, valid_until=int(time.time()) - 3600)
    expired.add_grant(SyncGrant(service_sid=service_sid))
    connection = DataPort(data_port)
    check(error_code(connection.hello(expired.to_jwt())) == (13, True), "TOKEN_EXPIRED")
    connection.close()


def main():
    control_port = int(os.environ["TERN_CONTROL_PORT"])
    data_port = int(os.environ["TERN_DATA_PORT"])
    service_sid = os.environ["TERN_SERVICE_SID"]
    account_sid = os.environ["TERN_ACCOUNT_SID"]
    auth_token = os.environ["TERN_AUTH_TOKEN"]
    base_url = f"http://127.0.0.1:{control_port}"
    client = Client(account_sid, auth_token)
    check(client.api.base_url == "https://api.twilio.com", f"unexpected API base URL {client.api.base_url}")
    client.api.base_url = base_url
    client.sync.base_url = base_url

    key = None
    sections = [
        ("keys", lambda: keys(client, account_sid)),
        ("key credentials", lambda: key_credentials(base_url, key, account_sid, service_sid)),
        ("access tokens", lambda: access_tokens(data_port, key, account_sid, service_sid, client)),
    ]
    for name, run in sections:
        try:
            result = run()
            if name == "keys":
                key = result
        except Exception:
            print(f"keys_and_tokens: FAILED in {name} after {CHECKS} checks", file=sys.stderr)
            traceback.print_exc()
            return 1
        print(f"keys_and_tokens: {name} ok")
    print(f"keys_and_tokens: all {CHECKS} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
