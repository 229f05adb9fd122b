"""The ``Host`` allow-list and the CORS policy pinned down (what mutation testing of ``web/hosts.py`` and
``web/cors.py`` showed untested), and the class of malformed host forms: every one is refused.

Parsing is stated as a property against an independent statement of the grammar (hypothesis), beside the forms
found by hand; route behaviour (``Vary: Origin`` on every answer, not only a 200; malformed ``Host`` and
``Origin`` refused) runs over real sockets on waitress and uvicorn.
"""

from __future__ import annotations

import ipaddress
import json
import string

import pytest
import requests
from hypothesis import example, given
from hypothesis import strategies as st

from realtime_service.emulator import Emulator
from realtime_service.errors import ConfigurationError
from realtime_service.web.admission.answers import Refused
from realtime_service.web.admission.cors import ALLOWED_HEADERS, CorsPolicy, forbidden
from realtime_service.web.admission.hosts import HostAllowList
from realtime_service.web.authority import canonical_origin, host_name, split_host
from realtime_service.web.messages import WebRequest, WebResponse
from realtime_service.web.settings import load_server_settings

from .test_attacks import JSON, READ_TIMEOUT, Serve, exchange, host_of, request_bytes

APP = "https://app.example.com"
TOKEN = "hosts-cors-test-token-0123456789abcdef"


def request(method: str = "POST", scheme: str = "http", **headers: str) -> WebRequest:
    return WebRequest(method, "/token", {k.replace("_", "-"): v for k, v in headers.items()}, scheme=scheme)


def error_of(refusal: Refused) -> tuple[int, dict[str, str | None], list[tuple[str, str]]]:
    response = refusal.response
    return response.status, json.loads(response.body)["error"], response.headers


# -- the grammar, stated independently ------------------------------------------------------------------------

LABEL = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=8)
NAME = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
IPV6 = st.ip_addresses(v=6).map(str)
PORT = st.integers(1, 65535)


def well_formed(text: str) -> tuple[str, int | None] | None:
    """What :func:`split_host` must return for ``text``, decided without its regex: ``[ipv6]`` or dotted
    ASCII labels (one trailing dot), then ``:port`` with 1-5 ASCII digits in 1..65535, and nothing else."""
    if not text.isascii():
        return None
    text = text.lower()
    port: int | None = None
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        host, port_text = inside, rest[1:] if rest else None
        if any(ch not in "0123456789abcdef:." for ch in host):
            return None
        try:
            host = ipaddress.IPv6Address(host).compressed  # one spelling per address
        except ValueError:
            return None
    else:
        host, colon, port_text_found = text.partition(":")
        port_text = port_text_found if colon else None
        labels = host.removesuffix(".").split(".")
        allowed = set(string.ascii_lowercase + string.digits + "-_")
        if not all(label and set(label) <= allowed for label in labels):
            return None
    if port_text is not None:
        if not 1 <= len(port_text) <= 5 or any(ch not in string.digits for ch in port_text):
            return None
        port = int(port_text)
        if not 0 < port < 65536:
            return None
    return host, port


#: Characters of host forms and of their lookalikes: separators, digits that are not ASCII, letters that
#: lower-case to ASCII (KELVIN SIGN) or are fullwidth.
HOST_CHARS = "[]:.%@/?#\\ \t\n-_0123456789abcdefxyz\u0668\u00b2\u212a\u0131\uff4c"
HOSTISH = st.text(alphabet=HOST_CHARS, max_size=24)


@given(HOSTISH)
@example("[::1]junk")
@example("::1:80")
@example("localhost:\u0668\u0660")
@example("localhost:\u00b2")
@example("[::1%eth0]")
def test_split_host_accepts_exactly_the_grammar(text: str) -> None:
    assert split_host(text) == well_formed(text)


@given(st.one_of(NAME, IPV6.map(lambda address: f"[{address}]")), st.none() | PORT, st.booleans(), st.booleans())
def test_every_well_formed_host_is_read_back(host: str, port: int | None, upper: bool, dot: bool) -> None:
    if dot and not host.startswith("["):
        host += "."
    text = (host.upper() if upper else host) + ("" if port is None else f":{port}")
    name = host.lower().strip("[]")
    if host.startswith("["):
        name = ipaddress.IPv6Address(name).compressed
    assert split_host(text) == (name, port)
    assert host_name(f" \t{text} ") == name.removesuffix(".")


@given(st.one_of(NAME, IPV6.map(lambda address: f"[{address}]")), st.text(HOST_CHARS, min_size=1))
def test_anything_after_a_well_formed_host_but_a_port_is_refused(host: str, junk: str) -> None:
    text = host + junk
    if well_formed(text) is None:
        assert split_host(text) is None
    if well_formed(text.strip(" \t")) is None:
        assert host_name(text) is None


@pytest.mark.parametrize(
    "value",
    [
        "[::1]junk",
        "[::1]:80junk",
        "[::1]]",
        "[[::1]]",
        "[::1]:",
        "[::1]:80:80",
        "::1:80",
        "::1",
        "localhost:80:80",
        "localhost:",
        "localhost:0",
        "localhost:65536",
        "localhost:000080",
        "localhost:+80",
        "localhost:\u0668\u0660",  # Arabic-Indic digits: str.isdigit() says yes, int() reads 80
        "localhost:\u00b2",  # a superscript two: isdigit() yes, int() raises (was a 500)
        "localhost..",
        "a..b",
        ".localhost",
        "[::1%eth0]",
        "\u212aiosk",  # KELVIN SIGN, lower-cases to an ASCII k
        "localhost\n",
        "localhost\x00",
        "local host",
        "",
        "[]",
        "[v1.x]",
        "x/y",
        "a@b",
    ],
)
def test_malformed_host_forms_are_refused(value: str) -> None:
    assert split_host(value) is None
    assert host_name(value) is None
    hosts = HostAllowList(None)
    assert not hosts.allowed(value)


@pytest.mark.parametrize(
    ("value", "split"),
    [
        ("Example.COM:8000", ("example.com", 8000)),
        ("example.com.", ("example.com.", None)),
        ("[::1]:8000", ("::1", 8000)),
        ("[::FFFF:127.0.0.1]", ("::ffff:7f00:1", None)),
        ("localhost:1", ("localhost", 1)),
        ("localhost:65535", ("localhost", 65535)),
        ("localhost:00080", ("localhost", 80)),
        ("under_score", ("under_score", None)),
    ],
)
def test_well_formed_host_forms(value: str, split: tuple[str, int | None]) -> None:
    assert split_host(value) == split


def test_host_name_ignores_only_spaces_and_tabs_around_and_one_trailing_dot() -> None:
    assert host_name(" \tlocalhost.:80\t ") == "localhost"
    assert host_name("\x0blocalhost") is None
    assert split_host(" localhost") is None  # the parser itself takes nothing around
    assert host_name("Xbox.eXample") == "xbox.example"  # letters are never stripped, only lower-cased


# -- origins ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "http://[::1]junk",
        "http://[::1]junk:80",
        "http://[::1]:80junk",
        "http://[v1.x]",
        "http://[::1%25eth0]",
        "http://a..b",
        "http://h?",
        "http://h#",
        "http://h:80/x",
        "https://h//",
        "http://localhost:\u0668\u0660",
        "http://x@y",
        "http://",
        "http:///x",
        "http:/h",
        "h",
        "//h",
        "ws://h",
        "http://h:0",
        "http://h:",
        "http:// h",
        "null",
    ],
)
def test_malformed_origins_are_refused(origin: str) -> None:
    assert canonical_origin(origin) is None
    assert CorsPolicy([origin], credentials=False, trusted_hops=0).vary is False


@pytest.mark.parametrize(
    ("origin", "canonical"),
    [
        ("HTTPS://App.Example.com:443", APP),
        (" https://app.example.com/\t", APP),
        ("http://example.com:80/", "http://example.com"),
        ("https://example.com:80", "https://example.com:80"),
        ("http://example.com:443", "http://example.com:443"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("http://[::1]", "http://[::1]"),
        ("http://localhost.", "http://localhost."),
    ],
)
def test_origins_in_canonical_form(origin: str, canonical: str) -> None:
    assert canonical_origin(origin) == canonical


def test_only_spaces_and_tabs_around_an_origin_are_ignored() -> None:
    assert canonical_origin(" \thttps://app.example.com \t") == APP
    for other in ("\nhttps://app.example.com", "https://app.example.com\x0b", "Xhttps://app.example.com"):
        assert canonical_origin(other) is None, repr(other)
    assert canonical_origin("https://xboX") == "https://xbox"


@given(st.sampled_from(["http", "https", "HTTP"]), st.one_of(NAME, IPV6.map(lambda a: f"[{a}]")), st.none() | PORT)
def test_every_well_formed_origin_is_canonical_and_stays_so(scheme: str, host: str, port: int | None) -> None:
    origin = f"{scheme}://{host}" + ("" if port is None else f":{port}")
    canonical = canonical_origin(origin)
    default = {"http": 80, "https": 443}[scheme.lower()]
    suffix = "" if port in (None, default) else f":{port}"
    assert canonical == f"{scheme.lower()}://{host.lower()}{suffix}"
    assert canonical_origin(canonical) == canonical


@pytest.mark.parametrize("origin", ["http://[::1]junk", "http://a..b", "http://h:0", "https://app.example.com:"])
def test_a_malformed_origin_in_the_config_is_a_configuration_error_not_silently_dropped(origin: str) -> None:
    with pytest.raises(ConfigurationError, match="cors_origins"):
        load_server_settings({"cors_origins": [origin]}, {})
    assert load_server_settings({"cors_origins": [APP]}, {}).cors_origins == {APP}


# -- the allow-list --------------------------------------------------------------------------------------------


def test_the_default_list_takes_the_hosts_of_well_formed_cors_origins_only() -> None:
    hosts = HostAllowList(
        None, ["https://App.Example.com:8443/", "http://[::1]junk", "http://[2001:db8::7]", "https://x://evil.example"]
    )
    assert hosts.names == {"localhost", "127.0.0.1", "::1", "app.example.com", "2001:db8::7"}
    assert not hosts.explicit


def test_an_explicit_list_is_lower_cased_without_trailing_dots_and_takes_no_cors_origin() -> None:
    hosts = HostAllowList(["Tokens.Example.", "::1"], ["https://app.example.com"])
    assert hosts.names == {"tokens.example", "::1"}
    assert hosts.explicit
    assert hosts.allowed("TOKENS.example.:8443")
    assert hosts.allowed("[::1]:80")
    assert not hosts.allowed("app.example.com")


def test_a_dot_entry_allows_the_domain_and_its_subdomains_only() -> None:
    hosts = HostAllowList([".example.com"])
    for allowed in ("example.com", "a.example.com", "a.b.example.com:8000", "EXAMPLE.COM."):
        assert hosts.allowed(allowed), allowed
    for refused in ("badexample.com", "example.com.evil", "a..example.com", "com", "example.co"):
        assert not hosts.allowed(refused), refused


def test_the_bound_address_is_added_bracketed_or_not_and_wildcards_are_not() -> None:
    hosts = HostAllowList(None)
    for bound in ("192.0.2.10", "2001:db8::5", "[2001:db8::6]", "Bound.Example", "0.0.0.0", "::", ""):  # noqa: S104
        hosts.allow(bound)
    assert hosts.names - {"localhost", "127.0.0.1", "::1"} == {
        "192.0.2.10",
        "2001:db8::5",
        "2001:db8::6",
        "bound.example",
    }
    assert hosts.allowed("[2001:db8::5]:8000")
    assert not hosts.allowed("2001:db8::5")  # unbracketed in a Host header: malformed
    hosts.allow("[::1]junk")
    assert "[::1]junk" not in hosts.names
    assert len(hosts.names) == 7


def test_check_refuses_with_a_421_in_openais_shape() -> None:
    hosts = HostAllowList(["tokens.example"])
    hosts.check(request(host="tokens.example"))
    hosts.check(request())  # no Host at all: nothing to misdirect
    with pytest.raises(Refused) as caught:
        hosts.check(request(host="[::1]junk"))
    status, error, headers = error_of(caught.value)
    assert status == 421
    assert error == {
        "message": "This server does not answer for that host name.",
        "type": "invalid_request_error",
        "code": "host_not_allowed",
        "param": "Host",
    }
    assert ("Cache-Control", "no-store") in headers


# -- the CORS policy -------------------------------------------------------------------------------------------


def test_forbidden_is_a_403_in_openais_shape() -> None:
    status, error, headers = error_of(forbidden())
    assert status == 403
    assert error == {
        "message": "This origin may not request keys.",
        "type": "permission_error",
        "code": "origin_not_allowed",
        "param": None,
    }
    assert ("Cache-Control", "no-store") in headers


@pytest.mark.parametrize("credentials", [False, True])
def test_a_listed_origin_gets_exactly_its_headers(credentials: bool) -> None:
    policy = CorsPolicy([APP.upper(), "not an origin"], credentials=credentials, trusted_hops=0, expose=("A", "B"))
    assert policy.allowed("https://APP.example.com:443/") == APP
    assert policy.allowed("https://other.example") is None
    expected = [("Access-Control-Allow-Origin", APP), ("Access-Control-Expose-Headers", "A, B")]
    if credentials:
        expected.append(("Access-Control-Allow-Credentials", "true"))
    assert policy.headers(request(host="tokens.example", origin="https://app.example.com:443")) == expected


def test_the_default_exposed_header_is_retry_after() -> None:
    policy = CorsPolicy([APP], credentials=False, trusted_hops=0)
    assert ("Access-Control-Expose-Headers", "Retry-After") in policy.headers(request(origin=APP))


def test_no_origin_no_headers_and_a_foreign_one_is_403() -> None:
    policy = CorsPolicy([APP], credentials=True, trusted_hops=0)
    assert policy.headers(request(host="tokens.example")) == []
    with pytest.raises(Refused) as caught:
        policy.headers(request(host="tokens.example", origin="https://evil.example"))
    assert caught.value.response.status == 403


@pytest.mark.parametrize(
    ("hops", "host", "origin", "forwarded", "scheme", "same"),
    [
        (0, "tokens.example", "http://tokens.example", None, "http", True),
        (0, "tokens.example:80", "http://tokens.example", None, "http", True),
        (0, "tokens.example", "http://tokens.example:8080", None, "http", False),
        (0, "tokens.example", "https://tokens.example", None, "https", True),
        (0, "tokens.example", "https://tokens.example", "https", "http", False),
        (1, "tokens.example", "https://tokens.example", "http, https", "http", True),
        (1, "tokens.example", "https://tokens.example", "https, http", "http", False),
        (1, "tokens.example", "https://tokens.example", " HTTPS ", "http", True),
        (1, "tokens.example", "http://tokens.example", "", "http", True),
        (2, "tokens.example", "https://tokens.example", None, "https", True),
        (0, None, "http://tokens.example", None, "http", False),
        (0, "", "http://tokens.example", None, "http", False),
        (0, "tokens.example", "http://tokens.example/x", None, "http", False),
        (0, "[::1]junk", "http://[::1]", None, "http", False),
        (0, "[::1]junk", "null", None, "http", False),  # neither parses: that is not "equal"
    ],
)
def test_same_origin_is_scheme_host_and_port(
    hops: int, host: str | None, origin: str, forwarded: str | None, scheme: str, same: bool
) -> None:
    headers = {"origin": origin}
    if host is not None:
        headers["host"] = host
    if forwarded is not None:
        headers["x-forwarded-proto"] = forwarded
    sent = WebRequest("POST", "/token", headers, scheme=scheme)
    policy = CorsPolicy([], credentials=False, trusted_hops=hops)
    assert policy.same_origin(sent, origin) is same
    if same:
        assert policy.headers(sent) == []
    else:
        with pytest.raises(Refused):
            policy.headers(sent)


def test_vary_follows_whether_any_origin_is_listed() -> None:
    response = WebResponse(401, [("Cache-Control", "no-store")], b"{}", "id-1", "req-1")
    plain = CorsPolicy([], credentials=False, trusted_hops=0)
    assert plain.vary is False
    assert plain.with_vary(response) is response
    policy = CorsPolicy([APP], credentials=False, trusted_hops=0)
    assert policy.vary is True
    varied = policy.with_vary(response)
    assert varied.headers == [("Cache-Control", "no-store"), ("Vary", "Origin")]
    assert (varied.status, varied.body, varied.identity, varied.request_id) == (401, b"{}", "id-1", "req-1")
    already = WebResponse(204, [("vary", "Origin, Access-Control-Request-Method")], b"")
    assert policy.with_vary(already) is already


@pytest.mark.parametrize("credentials", [False, True])
def test_a_preflight_is_granted_exactly(credentials: bool) -> None:
    policy = CorsPolicy([APP], credentials=credentials, trusted_hops=0)
    granted = policy.preflight(
        request("OPTIONS", origin=APP + ":443", access_control_request_method="PUT"), ("POST", "PUT")
    )
    expected = [
        ("Cache-Control", "no-store"),
        ("Access-Control-Allow-Origin", APP),
        ("Access-Control-Allow-Methods", "POST, PUT"),
        ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
        ("Access-Control-Max-Age", "600"),
        ("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
    ]
    if credentials:
        expected.append(("Access-Control-Allow-Credentials", "true"))
    assert (granted.status, granted.headers, granted.body) == (204, expected, b"")
    assert ALLOWED_HEADERS == "authorization, content-type"


def test_a_preflight_without_origin_is_a_plain_allow() -> None:
    policy = CorsPolicy([APP], credentials=True, trusted_hops=0)
    answer = policy.preflight(request("OPTIONS"), ("POST",))
    assert (answer.status, answer.headers, answer.body) == (
        204,
        [("Cache-Control", "no-store"), ("Allow", "POST, OPTIONS")],
        b"",
    )


@pytest.mark.parametrize(
    ("origin", "method"),
    [(APP, "post"), (APP, None), (APP, "DELETE"), ("https://evil.example", "POST"), ("http://[::1]junk", "POST")],
)
def test_a_preflight_is_refused_without_any_grant(origin: str, method: str | None) -> None:
    policy = CorsPolicy([APP, "http://[::1]"], credentials=True, trusted_hops=0)
    headers = {"origin": origin}
    if method is not None:
        headers["access_control_request_method"] = method
    with pytest.raises(Refused) as caught:
        policy.preflight(request("OPTIONS", **headers), ("POST",))
    status, error, response_headers = error_of(caught.value)
    assert (status, error["code"]) == (403, "origin_not_allowed")
    assert not any(name.lower().startswith("access-control-") for name, _ in response_headers)


# -- over real sockets, on waitress and on uvicorn -----------------------------------------------------------


def test_every_answer_varies_by_origin_when_origins_are_listed(serve: Serve, emulator: Emulator) -> None:
    served = serve(cors_origins=[APP], auth="bearer", bearer_tokens={"web": TOKEN}, auth_failure_limit="off")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answers = {
        "200": requests.post(served.url + "/token", json={}, headers=auth, timeout=READ_TIMEOUT),
        "200 from the app": requests.post(
            served.url + "/token", json={}, headers={**auth, "Origin": APP}, timeout=READ_TIMEOUT
        ),
        "401": requests.post(served.url + "/token", json={}, timeout=READ_TIMEOUT),
        "403 foreign origin": requests.post(
            served.url + "/token", json={}, headers={**auth, "Origin": "https://evil.example"}, timeout=READ_TIMEOUT
        ),
        "400 bad body": requests.post(served.url + "/token", data=b"[", headers={**auth, **JSON}, timeout=READ_TIMEOUT),
        "403 preflight": requests.options(
            served.url + "/token", headers={"Origin": "https://evil.example"}, timeout=READ_TIMEOUT
        ),
        "204 preflight without origin": requests.options(served.url + "/token", timeout=READ_TIMEOUT),
    }
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "200": 200,
        "200 from the app": 200,
        "401": 401,
        "403 foreign origin": 403,
        "400 bad body": 400,
        "403 preflight": 403,
        "204 preflight without origin": 204,
    }
    for name, response in answers.items():
        assert response.headers.get("Vary") == "Origin", name
    answer = exchange(served, request_bytes("POST", "/token", "evil.example", JSON, b"{}"))
    assert answer.status_code == 421
    assert answer.headers["vary"] == "Origin"


def test_no_answer_varies_when_no_origin_is_listed(serve: Serve) -> None:
    served = serve()
    for response in (
        requests.post(served.url + "/token", json={}, timeout=READ_TIMEOUT),
        requests.post(served.url + "/token", data=b"[", headers=JSON, timeout=READ_TIMEOUT),
        requests.options(served.url + "/token", timeout=READ_TIMEOUT),
    ):
        assert "Vary" not in response.headers, response.status_code


@pytest.mark.parametrize(
    "host",
    [
        "[::1]junk",
        "[::1]:{port}junk",
        "::1:{port}",
        "127.0.0.1:{port}:{port}",
        "localhost..:{port}",
        "localhost:{port}\x0b",
        "localhost:\u0668\u0660",
        "localhost:\u00b2",
        "\u212aiosk.example",
    ],
)
def test_malformed_hosts_get_421_over_the_wire(serve: Serve, emulator: Emulator, host: str) -> None:
    served = serve(allowed_hosts=["localhost", "127.0.0.1", "::1", "kiosk.example"])
    raw = request_bytes("POST", "/token", "PLACEHOLDER", JSON, b"{}")
    sent = host.format(port=served.port)
    # as single latin-1 bytes where they fit (servers decode header bytes as latin-1: \xb2 arrives as a
    # superscript two, which once raised out of the port check, a 500), else as UTF-8
    raw = raw.replace(b"PLACEHOLDER", sent.encode("latin-1" if max(map(ord, sent)) < 256 else "utf-8"))
    answer = exchange(served, raw)
    assert answer.status_code in (400, 421), answer.content[:200]  # the server itself may refuse a control byte
    assert json.loads(answer.content)["error"]["type"] == "invalid_request_error"
    assert not [request for request in emulator.requests if request.path.startswith("/v1/realtime/")]
    good = exchange(served, request_bytes("POST", "/token", host_of(served), JSON, b"{}"))
    assert good.status_code == 200


@pytest.mark.parametrize("origin", ["http://[::1]junk", "http://[::1]junk:{port}", "http://[::1]:{port}junk"])
def test_a_malformed_origin_is_not_read_as_a_listed_one(serve: Serve, emulator: Emulator, origin: str) -> None:
    served = serve(cors_origins=["http://[::1]"])
    sent = origin.format(port=served.port)
    answer = exchange(served, request_bytes("POST", "/token", host_of(served), {"Origin": sent, **JSON}, b"{}"))
    assert answer.status_code == 403
    assert "access-control-allow-origin" not in answer.headers
    assert not [request for request in emulator.requests if request.path.startswith("/v1/realtime/")]
