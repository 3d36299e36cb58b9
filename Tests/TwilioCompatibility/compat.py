"""Twilio's official Python helper library (`twilio` on PyPI) against a running ternd.

The library is used exactly as an application would use it against Twilio: `Client(account_sid,
auth_token)`, with one change, the Sync domain's base URL. Every check raises on failure; the
script exits 0 only if all of them passed.

Environment:
  TERN_CONTROL_PORT  control port on 127.0.0.1 (required)
  TERN_SERVICE_SID   the daemon's default service (required)
  TERN_ACCOUNT_SID   account sid (required)
  TERN_AUTH_TOKEN    auth token; set it when ternd runs with --auth required (enables the 401 check)

Run by Tests/TernEndToEndTests/TwilioLibraryTests.swift; by hand:
  .venv-twilio/bin/python tests/twilio/compat.py
"""

import os
import sys
import time
import traceback
import uuid

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

CHECKS = 0


def check(condition, message):
    """Counts one check; raises (with `message`) when it fails. Not `assert`: -O must not skip it."""
    global CHECKS
    CHECKS += 1
    if not condition:
        raise AssertionError(message)


def expect_rest_error(call, status, code, what):
    """Runs `call`, which must raise TwilioRestException with this HTTP status and Twilio code."""
    try:
        call()
    except TwilioRestException as error:
        check(error.status == status, f"{what}: status {error.status}, expected {status} ({error.msg})")
        check(error.code == code, f"{what}: code {error.code}, expected {code} ({error.msg})")
        return error
    raise AssertionError(f"{what}: no TwilioRestException")


def client_for(base_url, account_sid, auth_token):
    """A stock Client whose Sync requests go to ternd.

    The hook: every Sync URL is `client.sync.base_url` + a relative path (twilio/base/domain.py,
    `Domain.absolute_url`), and `Client.get_hostname` leaves URLs alone unless an edge or region
    is configured, so setting the Sync domain's `base_url` moves the whole Sync API. Paging
    follows the absolute `next_page_url` the server returns, which ternd builds from the Host
    header, so later pages come back here too.
    """
    client = Client(account_sid, auth_token)
    check(client.sync.base_url == "https://sync.twilio.com", f"unexpected Sync base URL {client.sync.base_url}")
    client.sync.base_url = base_url
    return client


def services(client, default_service_sid, account_sid):
    listed = [service.sid for service in client.sync.v1.services.list()]
    check(default_service_sid in listed, f"default service {default_service_sid} not in {listed}")

    created = client.sync.v1.services.create(friendly_name="compat", acl_enabled=True)
    check(created.sid.startswith("IS") and len(created.sid) == 34, f"service sid {created.sid}")
    check(created.friendly_name == "compat", f"friendly_name {created.friendly_name}")
    check(created.account_sid == account_sid, f"account_sid {created.account_sid}")
    check(created.acl_enabled is False, "acl_enabled is ignored and stays false")
    check(created.reachability_debouncing_window == 5000, "reachability_debouncing_window")
    check(created.date_created is not None and created.date_created.tzinfo is not None, "date_created parses")
    check(set(created.links) == {"documents", "lists", "maps", "streams"}, f"links {created.links}")
    check(created.url.endswith(f"/v1/Services/{created.sid}"), f"url {created.url}")

    fetched = client.sync.v1.services(created.sid).fetch()
    check(fetched.sid == created.sid and fetched.friendly_name == "compat", "fetch service")

    updated = client.sync.v1.services(created.sid).update(friendly_name="compat renamed")
    check(updated.friendly_name == "compat renamed", f"update service: {updated.friendly_name}")
    check(client.sync.v1.services(created.sid).fetch().friendly_name == "compat renamed", "update persisted")

    listed = [service.sid for service in client.sync.v1.services.list(page_size=1)]
    check(listed[:1] == [default_service_sid] and created.sid in listed, f"list across pages of 1: {listed}")

    # A stream in the new service, then the service's delete ends it.
    stream = client.sync.v1.services(created.sid).sync_streams.create(unique_name="in-compat-service")
    check(client.sync.v1.services(created.sid).delete() is True, "delete service returns True")
    expect_rest_error(lambda: client.sync.v1.services(created.sid).fetch(), 404, 20404, "fetch deleted service")
    expect_rest_error(
        lambda: client.sync.v1.services(created.sid).sync_streams(stream.sid).fetch(), 404, 20404,
        "fetch stream of deleted service")


def streams(client, service_sid, account_sid):
    sync = client.sync.v1.services(service_sid)
    name = "compat-" + uuid.uuid4().hex[:12]
    before = time.time()
    created = sync.sync_streams.create(unique_name=name, ttl=3600)
    check(created.sid.startswith("TO") and len(created.sid) == 34, f"stream sid {created.sid}")
    check(created.unique_name == name, f"unique_name {created.unique_name}")
    check(created.service_sid == service_sid and created.account_sid == account_sid, "stream owners")
    check(created.created_by == "system", f"created_by {created.created_by}")
    check(created.date_expires is not None, "date_expires set for ttl=3600")
    expires_in = created.date_expires.timestamp() - before
    check(3598 <= expires_in <= 3602, f"date_expires {expires_in:.1f} s ahead")
    check(created.links["messages"] == created.url + "/Messages", f"links {created.links}")

    by_sid = sync.sync_streams(created.sid).fetch()
    by_name = sync.sync_streams(name).fetch()
    check(by_sid.sid == created.sid == by_name.sid, "fetch by sid and by unique name")
    check(by_name.unique_name == name, "fetched unique name")

    updated = sync.sync_streams(name).update(ttl=60)
    check(updated.sid == created.sid, "update answers the same stream")
    check(updated.date_expires is not None and updated.date_expires < created.date_expires, "ttl shortened")
    cleared = sync.sync_streams(created.sid).update(ttl=0)
    check(cleared.date_expires is None, f"ttl=0 clears date_expires: {cleared.date_expires}")

    message = sync.sync_streams(created.sid).stream_messages.create(data={"px": 101.5, "tags": ["a", "b"], "n": None})
    check(message.sid.startswith("TZ") and len(message.sid) == 34, f"message sid {message.sid}")
    check(message.data == {"px": 101.5, "tags": ["a", "b"], "n": None}, f"message data {message.data}")
    second = sync.sync_streams(name).stream_messages.create(data={"px": 102})
    check(int(second.sid[-16:], 16) == int(message.sid[-16:], 16) + 1, "message sids count up")
    check(second.sid[:18] == message.sid[:18], "message sids share the stream's prefix")

    expect_rest_error(
        lambda: sync.sync_streams.create(unique_name=name), 409, 54301, "duplicate unique name")
    expect_rest_error(
        lambda: sync.sync_streams(created.sid).stream_messages.create(data="not an object"), 400, 54008,
        "message data that is not JSON")

    # Paging: more streams than one page holds, read through the library's own page following.
    extra = [sync.sync_streams.create().sid for _ in range(5)]
    expected = [created.sid] + extra
    read = [stream.sid for stream in sync.sync_streams.list(page_size=2)]
    check([sid for sid in read if sid in expected] == expected, f"list(page_size=2) in creation order: {read}")
    limited = [stream.sid for stream in sync.sync_streams.list(limit=3, page_size=2)]
    check(len(limited) == 3 and limited == read[:3], f"list(limit=3, page_size=2): {limited}")
    first_page = sync.sync_streams.page(page_size=2)
    check([stream.sid for stream in first_page] == read[:2], "page(page_size=2)")
    second_page = first_page.next_page()
    check(second_page is not None and [stream.sid for stream in second_page] == read[2:4], "next_page()")

    for sid in extra:
        check(sync.sync_streams(sid).delete() is True, "delete stream returns True")
    check(sync.sync_streams(name).delete() is True, "delete by unique name returns True")
    expect_rest_error(lambda: sync.sync_streams(created.sid).fetch(), 404, 20404, "fetch deleted stream")
    expect_rest_error(lambda: sync.sync_streams(name).fetch(), 404, 20404, "fetch by deleted unique name")
    expect_rest_error(
        lambda: sync.sync_streams("TO" + "0" * 32).fetch(), 404, 20404, "fetch a sid that never existed")
    expect_rest_error(lambda: sync.sync_streams(created.sid).delete(), 404, 20404, "delete twice")


def authentication(base_url, service_sid, account_sid, auth_token):
    wrong_token = Client(account_sid, "0" * 32)
    wrong_token.sync.base_url = base_url
    error = expect_rest_error(lambda: wrong_token.sync.v1.services(service_sid).fetch(), 401, 20003, "wrong auth token")
    check("Authenticate" in error.msg, f"401 message: {error.msg}")
    expect_rest_error(
        lambda: wrong_token.sync.v1.services(service_sid).sync_streams.create(unique_name="never"), 401, 20003,
        "create with a wrong auth token")
    wrong_account = Client("AC" + "0" * 32, auth_token)
    wrong_account.sync.base_url = base_url
    expect_rest_error(lambda: wrong_account.sync.v1.services(service_sid).fetch(), 401, 20003, "wrong account sid")
    # Lists report a refused page as a plain TwilioException carrying the response (the library's
    # Page.process_response), as they do against Twilio.
    try:
        wrong_token.sync.v1.services.list()
    except TwilioRestException as error:
        raise AssertionError(f"list raised TwilioRestException, expected TwilioException: {error}")
    except TwilioException as error:
        check(len(error.args) == 2 and error.args[1].status_code == 401, f"list with a wrong token: {error.args}")
    else:
        raise AssertionError("list with a wrong auth token succeeded")


def main():
    port = int(os.environ["TERN_CONTROL_PORT"])
    service_sid = os.environ["TERN_SERVICE_SID"]
    account_sid = os.environ["TERN_ACCOUNT_SID"]
    auth_token = os.environ.get("TERN_AUTH_TOKEN", "")
    base_url = f"http://127.0.0.1:{port}"
    client = client_for(base_url, account_sid, auth_token or "0" * 32)

    sections = [
        ("services", lambda: services(client, service_sid, account_sid)),
        ("streams", lambda: streams(client, service_sid, account_sid)),
    ]
    if auth_token:
        sections.append(("authentication", lambda: authentication(base_url, service_sid, account_sid, auth_token)))
    else:
        print("compat: TERN_AUTH_TOKEN unset; skipping the authentication checks")
    for name, run in sections:
        try:
            run()
        except Exception:
            print(f"compat: FAILED in {name} after {CHECKS} checks", file=sys.stderr)
            traceback.print_exc()
            return 1
        print(f"compat: {name} ok")
    import twilio
    print(f"compat: all {CHECKS} checks passed (twilio {twilio.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
