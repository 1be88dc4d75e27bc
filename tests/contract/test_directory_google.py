"""The google_group directory through google-auth and the Admin SDK Directory API on 127.0.0.1: a real
RSA-signed JWT exchanged at the key file's token_uri, then members.list with derived membership,
paged by pageToken, and users.get per person."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from werkzeug import Request, Response

from newsletter.binding import Secret
from newsletter.delivery.directories.base import DirectoryError, read_roster
from newsletter.delivery.directories.google_group import (
    MEMBERS_SCOPE,
    USERS_SCOPE,
    GoogleGroup,
    GoogleGroupSettings,
)
from tests.contract.helpers import FAST
from tests.contract.test_google_workspace import ACCESS, ADMIN, key_file, rsa_key, token_endpoint  # noqa: F401

GROUP = "all-staff@corp.example"


def member(uid: str, email: str, kind: str = "USER", status: str = "ACTIVE") -> dict:
    return {"kind": "admin#directory#member", "etag": f'"{uid}"', "id": uid, "email": email, "role": "MEMBER",
            "type": kind, "status": status}


PAGES = {
    None: {"kind": "admin#directory#members", "etag": '"p1"', "nextPageToken": "page-2", "members": [
        member("111", "ann@corp.example"), member("900", "engineering@corp.example", kind="GROUP"),
        member("112", "bob@corp.example")]},
    "page-2": {"kind": "admin#directory#members", "etag": '"p2"', "members": [
        member("113", "carol@corp.example"), member("114", "dave@corp.example", status="SUSPENDED"),
        member("115", "guest@partner.example"), member("111", "ann@corp.example"),  # again, through a nested group
        member("116", "erin@corp.example")]},
}
USERS = {
    "111": {"primaryEmail": "ann@corp.example", "name": {"givenName": "Ann", "familyName": "Example",
                                                         "fullName": "Ann Example"},
            "suspended": False, "organizations": [{"title": "CFO", "department": "Finance", "primary": True}],
            "languages": [{"languageCode": "en", "preference": "not_preferred"},
                          {"languageCode": "de", "preference": "preferred"}]},
    "112": {"primaryEmail": "bob@corp.example", "name": {"givenName": "Bob", "fullName": "Bob Example"},
            "suspended": False},
    "113": {"primaryEmail": "carol@corp.example", "name": {"givenName": "Carol", "fullName": "Carol Gone"},
            "suspended": True, "suspensionReason": "ADMIN"},
    "114": {"primaryEmail": "dave@corp.example", "name": {"givenName": "Dave", "fullName": "Dave"}, "suspended": True},
    "116": {"primaryEmail": "erin@corp.example", "name": {"givenName": "Erin", "fullName": "Erin Example"},
            "archived": True},
}


def directory_api(httpserver, calls: list[str], pages: dict | None = None) -> None:
    pages = pages or PAGES

    def members(request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {ACCESS}":
            return Response('{"error": {"code": 401}}', 401)
        calls.append(request.full_path)
        if request.path.split("/")[5] != GROUP:
            return _json({"error": {"code": 404, "message": "Resource Not Found: groupKey", "errors": [
                {"message": "Resource Not Found: groupKey", "domain": "global", "reason": "notFound"}]}}, 404)
        assert request.args["includeDerivedMembership"] == "true" and request.args["maxResults"] == "200"
        return _json(pages[request.args.get("pageToken")])

    def users(request: Request) -> Response:
        calls.append(request.full_path)
        assert request.args["projection"] == "basic" and request.args["viewType"] == "admin_view"
        found = USERS.get(request.path.rsplit("/", 1)[1])
        if found is None:  # outside the domain: no account to read
            return _json({"error": {"code": 404, "message": "Resource Not Found: userKey"}}, 404)
        return _json({"kind": "admin#directory#user", "id": request.path.rsplit("/", 1)[1], **found})

    httpserver.expect_request(re.compile(r"/admin/directory/v1/groups/[^/]+/members"), method="GET"
                              ).respond_with_handler(members)
    httpserver.expect_request(re.compile(r"/admin/directory/v1/users/[^/]+"), method="GET").respond_with_handler(users)


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def make(httpserver, key_file, **overrides) -> GoogleGroup:  # noqa: F811 (the fixture's value)
    settings = GoogleGroupSettings(key=Secret(file=key_file), admin_email=ADMIN, group=GROUP,
                                   base_url=httpserver.url_for("/"))
    directory = GoogleGroup(replace(settings, **overrides))
    directory.validate()
    directory.policy = FAST
    return directory


def test_members_of_nested_groups_with_their_accounts_suspended_left_out(httpserver, key_file, rsa_key):  # noqa: F811
    grants, calls = [], []
    token_endpoint(httpserver, rsa_key, grants)
    directory_api(httpserver, calls)
    roster = read_roster(make(httpserver, key_file))
    assert grants == [("urn:ietf:params:oauth:grant-type:jwt-bearer", grants[0][1], ADMIN,
                       f"{MEMBERS_SCOPE} {USERS_SCOPE}")]
    assert [m.email for m in roster.members] == ["ann@corp.example", "bob@corp.example", "guest@partner.example"]
    assert roster.disabled == 3  # carol and dave suspended, erin archived; the nested group is no person
    ann = roster.members[0]
    assert ann.name == "Ann Example" and ann.fields == {"first_name": "Ann", "department": "Finance",
                                                        "language": "de"}
    assert roster.members[2].fields == {"first_name": "", "department": "", "language": ""}
    assert sum("/members" in c for c in calls) == 2 and not roster.duplicates  # ann once, though listed twice


def test_without_user_details_one_call_a_page_and_the_members_status(httpserver, key_file, rsa_key):  # noqa: F811
    grants, calls = [], []
    token_endpoint(httpserver, rsa_key, grants)
    directory_api(httpserver, calls)
    roster = read_roster(make(httpserver, key_file, user_details=False))
    assert grants[0][3] == MEMBERS_SCOPE and all("/members" in c for c in calls) and len(calls) == 2
    assert [m.email for m in roster.members] == ["ann@corp.example", "bob@corp.example", "carol@corp.example",
                                                 "guest@partner.example", "erin@corp.example"]
    assert roster.disabled == 1  # dave: status SUSPENDED


def test_an_unknown_group_names_the_key(httpserver, key_file, rsa_key):  # noqa: F811
    token_endpoint(httpserver, rsa_key, [])
    directory_api(httpserver, [])
    with pytest.raises(DirectoryError) as failed:
        read_roster(make(httpserver, key_file, group="nobody@corp.example"))
    assert "Google has no group nobody@corp.example" in str(failed.value) and "delivery.directory.group" in str(
        failed.value)


def test_a_refused_delegation_names_the_key_file_and_the_scopes(httpserver, key_file):  # noqa: F811
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"error": "unauthorized_client", "error_description": "Client is unauthorized to retrieve access tokens"},
        status=401)
    with pytest.raises(DirectoryError) as failed:
        read_roster(make(httpserver, key_file))
    message = str(failed.value)
    assert message.startswith(f"delivery.directory (google_group {GROUP}): cannot read the members: Google refused")
    assert f"delivery.directory.key_file ({key_file})" in message and MEMBERS_SCOPE in message
    assert "PRIVATE KEY" not in message


def test_a_page_token_given_twice_stops_the_reading(httpserver, key_file, rsa_key):  # noqa: F811
    looping = {None: {**PAGES[None], "nextPageToken": "again"}, "again": {**PAGES[None], "nextPageToken": "again"}}
    token_endpoint(httpserver, rsa_key, [])
    directory_api(httpserver, [], looping)
    with pytest.raises(DirectoryError) as failed:
        read_roster(make(httpserver, key_file, user_details=False))
    assert "same page token twice" in str(failed.value)
