"""The graph_group directory through msal and Microsoft Graph, both served over HTTPS on 127.0.0.1 in
their documented shapes: the tenant's OpenID configuration and token endpoint, then the group's
transitiveMembers/microsoft.graph.user, paged by @odata.nextLink."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from urllib.parse import parse_qs

import pytest
from werkzeug import Request, Response

from newsletter.binding import Secret
from newsletter.delivery.directories.base import DirectoryError, read_roster
from newsletter.delivery.directories.graph_group import GraphGroup, GraphGroupSettings
from tests.contract.helpers import FAST
from tests.fixtures.http import QuickServer

TENANT, CLIENT, SECRET, TOKEN = "contoso-tenant", "directory-app-id", "graph-dir-s3cret-value", "eyJ0.directory.token"
GROUP = "02bd9fd6-8f93-4758-87c3-1fb73740a315"


def user(n: int, **extra) -> dict:
    return {"@odata.type": "#microsoft.graph.user", "id": f"0000000{n}-aaaa-bbbb-cccc-dddddddddddd",
            "userPrincipalName": f"user{n}@contoso.example", "mail": f"user{n}@contoso.example",
            "displayName": f"User {n}", "givenName": f"Given{n}", "department": "Finance",
            "preferredLanguage": "fr-FR", "accountEnabled": True, **extra}


@pytest.fixture
def graph(tls_ca, monkeypatch):
    """Microsoft's identity platform and Graph on one HTTPS server; `state` records what they were asked."""
    _, ca_file, context = tls_ca
    server = QuickServer(host="127.0.0.1", port=0, threaded=True, ssl_context=context)
    server.start()
    base = f"https://127.0.0.1:{server.port}"
    state = {"pages": [], "token_requests": 0, "answers": {}}
    pages = {None: [user(1), user(2, accountEnabled=False)],
             "p2": [user(3, mail=None), user(4, department=None, preferredLanguage=None)],
             "p3": [user(5, mail="USER1@contoso.example")]}

    def openid(request: Request) -> Response:
        root = f"{base}/{TENANT}"
        return _json({"authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                      "token_endpoint": f"{root}/oauth2/v2.0/token", "issuer": f"{root}/v2.0"})

    def token(request: Request) -> Response:
        form = parse_qs(request.get_data(as_text=True))
        state["token_requests"] += 1
        if form.get("client_secret") != [SECRET] or form.get("grant_type") != ["client_credentials"]:
            return _json({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret "
                          "provided."}, 401)
        assert form["scope"] == [f"{base}/.default"]
        return _json({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN})

    def members(request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json({"error": {"code": "InvalidAuthenticationToken", "message": "bad token"}}, 401)
        if request.path.split("/")[3] != GROUP:
            return _json({"error": {"code": "Request_ResourceNotFound", "message": "Resource does not exist."}},
                         404)
        if "forbidden" in state["answers"]:
            return _json({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges "
                                    "to complete the operation."}}, 403)
        # the OData cast is an advanced query: without these Graph answers 400 Request_UnsupportedQuery
        assert request.headers.get("ConsistencyLevel") == "eventual" and request.args["$count"] == "true"
        assert set(request.args["$select"].split(",")) >= {"mail", "displayName", "givenName", "department",
                                                           "preferredLanguage", "accountEnabled"}
        page = request.args.get("$skiptoken")
        state["pages"].append(page)
        if "limited" in state["answers"]:  # an app that may not read users: their id and type, the rest null
            limited = [{"@odata.type": u["@odata.type"], "id": u["id"], **{k: None for k in u if k not in
                        ("@odata.type", "id")}} for u in pages[page]]
            return _json({"@odata.context": f"{base}/v1.0/$metadata#users", "value": limited})
        if "unstated" in state["answers"] and page is None:
            return _json({"@odata.context": f"{base}/v1.0/$metadata#users",
                          "value": [user(1), user(6, accountEnabled=None), {**user(7)} | {"accountEnabled": "yes"}]})
        if page == "p3" and "fail_last_page" in state["answers"]:
            return _json({"error": {"code": "ServiceUnavailable", "message": "try later"}}, 503)
        follow = {None: "p2", "p2": "p3"}.get(page)
        next_base = state["answers"].get("next_base", base)
        body = {"@odata.context": f"{base}/v1.0/$metadata#users", "@odata.count": 5, "value": pages[page]}
        if follow:
            body["@odata.nextLink"] = (f"{next_base}/v1.0/groups/{GROUP}/transitiveMembers/microsoft.graph.user"
                                       f"?$select={request.args['$select']}&$count=true&$top=2&$skiptoken={follow}")
        return _json(body)

    server.expect_request(f"/{TENANT}/v2.0/.well-known/openid-configuration").respond_with_handler(openid)
    server.expect_request(f"/{TENANT}/oauth2/v2.0/token", method="POST").respond_with_handler(token)
    server.expect_request(re.compile(r"/v1\.0/groups/[^/]+/transitiveMembers/microsoft\.graph\.user"),
                          method="GET").respond_with_handler(members)
    monkeypatch.setenv("GRAPH_DIRECTORY_SECRET", SECRET)
    settings = GraphGroupSettings(tenant_id=TENANT, client_id=CLIENT, group_id=GROUP, authority=base, graph_url=base,
                                  client_secret=Secret(env="GRAPH_DIRECTORY_SECRET"), ca_file=ca_file, page_size=2)
    try:
        yield state, settings
    finally:
        server.clear()
        server.stop()


def fast(settings: GraphGroupSettings) -> GraphGroup:
    """The directory with the contract tests' small retries and waits."""
    directory = GraphGroup(settings)
    directory.policy = FAST
    return directory


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def test_every_page_of_transitive_members_disabled_left_out(graph):
    state, settings = graph
    directory = fast(settings)
    directory.validate()
    roster = read_roster(directory)
    assert state["pages"] == [None, "p2", "p3"] and state["token_requests"] == 1
    assert [m.id for m in roster.members] == ["user1@contoso.example", "user3@contoso.example",
                                              "user4@contoso.example", "user5@contoso.example"]
    assert roster.disabled == 1  # user2: accountEnabled false
    first = roster.members[0]
    assert (first.email, first.name) == ("user1@contoso.example", "User 1")
    assert first.fields == {"first_name": "Given1", "department": "Finance", "language": "fr-FR"}
    assert roster.members[2].fields == {"first_name": "Given4", "department": "", "language": ""}  # null: ""
    assert [m.id for m in roster.without_address] == ["user3@contoso.example"]
    assert roster.duplicates == ["user1@contoso.example"]


def test_a_refused_secret_names_the_directory_and_the_key_never_the_secret(graph, monkeypatch):
    _, settings = graph
    monkeypatch.setenv("GRAPH_DIRECTORY_SECRET", "a-wrong-secret-value")
    with pytest.raises(DirectoryError) as failed:
        read_roster(fast(settings))
    message = str(failed.value)
    assert message.startswith(f"delivery.directory (graph_group {GROUP} in tenant {TENANT})")
    assert "delivery.directory.client_secret_env (GRAPH_DIRECTORY_SECRET)" in message and "invalid_client" in message
    assert "a-wrong-secret-value" not in message


def test_a_missing_permission_says_which_one(graph):
    state, settings = graph
    state["answers"]["forbidden"] = True
    with pytest.raises(DirectoryError) as failed:
        read_roster(fast(settings))
    assert "403" in str(failed.value) and "GroupMember.Read.All" in str(failed.value)
    assert TOKEN not in str(failed.value)


def test_users_graph_sends_without_their_properties_fail_the_reading_naming_user_read_all(graph):
    """Graph answers members it may not read with their id alone, every other property null
    ("limited information returned for inaccessible member objects"): nobody can be told enabled."""
    state, settings = graph
    state["answers"]["limited"] = True
    with pytest.raises(DirectoryError) as failed:
        read_roster(fast(settings))
    assert "accountEnabled" in str(failed.value) and "User.Read.All" in str(failed.value)


def test_a_user_whose_account_state_graph_does_not_say_is_not_mailed(graph, caplog):
    state, settings = graph
    state["answers"]["unstated"] = True
    roster = read_roster(fast(settings))
    assert [m.email for m in roster.members] == ["user1@contoso.example"]
    assert roster.disabled == 2
    assert "2 of the group's users come without accountEnabled" in caplog.text


def test_an_unknown_group_names_group_id(graph):
    _, settings = graph
    with pytest.raises(DirectoryError) as failed:
        read_roster(fast(replace(settings, group_id="11111111-0000-0000-0000-000000000000")))
    assert "no group 11111111-0000-0000-0000-000000000000" in str(failed.value) and "group_id" in str(failed.value)


def test_a_page_that_fails_fails_the_whole_reading(graph):
    """Two pages of five people are not the group: the send must not take the rest for leavers."""
    state, settings = graph
    state["answers"]["fail_last_page"] = True
    with pytest.raises(DirectoryError) as failed:
        read_roster(fast(settings))
    assert "503" in str(failed.value)


def test_a_next_link_to_another_host_is_not_followed_with_the_token(graph):
    state, settings = graph
    state["answers"]["next_base"] = "https://graph.attacker.example"
    with pytest.raises(DirectoryError) as failed:
        read_roster(fast(settings))
    assert "another server" in str(failed.value) and state["pages"] == [None]


def test_each_member_gets_the_edition_in_their_preferred_language(graph, smtp_server, tmp_path):
    """Per-person language from the directory: Graph's preferredLanguage ("fr-FR") picks the French
    edition at the SMTP server; a member without one gets the first language's."""
    from newsletter.compose.render import Newsletter
    from newsletter.delivery.ledger import deliver
    from newsletter.delivery.recipients import load_recipients
    from newsletter.store import Store
    from tests.test_delivery_smtp import plan, smtp

    _, settings = graph

    class Configured:  # what [delivery.directory] binds to: a directory made when it is read
        fields = ("first_name", "department", "language")

        def open(self):
            return fast(settings)

    french = Newsletter("2026-10", "L'informatique en octobre", "", "<p>Bonjour</p>", "Bonjour\n", language="fr")
    edition = Newsletter("2026-10", "IT in October", "", "<p>Hello</p>", "Hello\n", language="en",
                         translations=(french,))
    everyone = load_recipients([], None, Configured())
    with Store.open(tmp_path / "state") as store:
        report = deliver(store, edition, everyone, smtp(smtp_server), plan())
        assert report.counts == {"sent": 2} and len(store.deliveries("2026-10")) == 2  # one row per person
    got = {m["To"]: str(m["Subject"]) for m in smtp_server.mailbox.messages}
    assert got == {"User 1 <user1@contoso.example>": "L'informatique en octobre",
                   "User 4 <user4@contoso.example>": "IT in October"}
