"""The admission steps one by one, without a server: the pieces the signaling and webhook routes will reuse.

The same steps are attacked over real sockets in ``test_attacks.py``; here each piece's edge cases, and a route
with another body type (raw SDP) composed from a subset of them.
"""

from __future__ import annotations

import json

import pytest

from realtime_service.errors import ConfigurationError
from realtime_service.web.admission.accesslog import escape
from realtime_service.web.admission.answers import Refused
from realtime_service.web.admission.auth import Authenticator
from realtime_service.web.admission.bodies import json_object, media_type
from realtime_service.web.admission.clients import client_key
from realtime_service.web.admission.cors import CorsPolicy
from realtime_service.web.admission.hosts import HostAllowList
from realtime_service.web.admission.pipeline import Admission, ClientKeys
from realtime_service.web.admission.ratelimit import IdentityRateLimiter
from realtime_service.web.admission.throttle import AuthThrottle
from realtime_service.web.authority import canonical_origin, host_name
from realtime_service.web.messages import WebRequest
from realtime_service.web.settings import load_server_settings


def request(method: str = "POST", body: bytes = b"", **headers: str) -> WebRequest:
    return WebRequest(method, "/x", {k.replace("_", "-"): v for k, v in headers.items()}, body, client="203.0.113.5")


def refusal(call: object, *args: object) -> tuple[int, dict[str, object]]:
    with pytest.raises(Refused) as caught:
        call(*args)  # type: ignore[operator]
    response = caught.value.response
    assert response.header("cache-control") == "no-store"
    return response.status, json.loads(response.body)["error"]


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("Example.COM:8000", "example.com"),
        ("example.com.", "example.com"),
        ("[::1]:8000", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("a@b", None),
        ("host:99999", None),
        ("[::1", None),
        ("[nothex]", None),
        ("", None),
        ("x/y", None),
    ],
)
def test_host_names_are_parsed_strictly(value: str, name: str | None) -> None:
    assert host_name(value) == name


def test_the_default_allow_list_and_the_bound_address() -> None:
    hosts = HostAllowList(None, ["https://app.example.com"])
    assert hosts.allowed("localhost:8000")
    assert hosts.allowed("app.example.com")
    assert not hosts.allowed("192.0.2.10:8000")
    hosts.allow("192.0.2.10")
    hosts.allow("0.0.0.0")  # noqa: S104 - a wildcard names no host
    assert hosts.allowed("192.0.2.10:8000")
    assert not hosts.allowed("0.0.0.0:8000")
    assert not hosts.allowed("")
    assert hosts.allowed(None)  # no Host header at all: nothing to misdirect (no browser sends that)


def test_an_explicit_allow_list_is_exactly_that() -> None:
    hosts = HostAllowList(["tokens.example"], [])
    hosts.allow("127.0.0.1")
    assert not hosts.allowed("127.0.0.1")
    assert hosts.allowed("tokens.example:443")
    status, error = refusal(hosts.check, request(host="other.example"))
    assert (status, error["code"], error["param"]) == (421, "host_not_allowed", "Host")


@pytest.mark.parametrize(
    ("origin", "canonical"),
    [
        ("HTTPS://App.Example.com:443", "https://app.example.com"),
        ("http://example.com:80/", "http://example.com"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("https://a.example:8443", "https://a.example:8443"),
        ("ftp://example.com", None),
        ("https://user@example.com", None),
        ("https://example.com/path", None),
        ("https://example.com:99999", None),
        ("null", None),
    ],
)
def test_origins_are_compared_in_canonical_form(origin: str, canonical: str | None) -> None:
    assert canonical_origin(origin) == canonical


def test_same_origin_takes_the_forwarded_scheme_only_behind_trusted_proxies() -> None:
    direct = CorsPolicy([], credentials=False, trusted_hops=0)
    proxied = CorsPolicy([], credentials=False, trusted_hops=1)
    behind_tls = request(host="app.example", origin="https://app.example", x_forwarded_proto="https")
    assert proxied.headers(behind_tls) == []
    status, _ = refusal(direct.headers, behind_tls)
    assert status == 403


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("[2001:db8::1]", "2001:db8::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not-an-address", "not-an-address"),
    ],
)
def test_client_keys_count_networks(address: str, key: str) -> None:
    assert client_key(address) == key


def test_client_key_prefixes_are_configurable() -> None:
    assert client_key("2001:db8:1:2::1", ipv6_prefix=48) == "2001:db8:1::/48"
    assert client_key("2001:db8:1:2::1", ipv6_prefix=128) == "2001:db8:1:2::1"
    assert client_key("203.0.113.7", ipv4_prefix=24) == "203.0.113.0/24"


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        ("/x\nFORGED", "/x\\nFORGED"),
        ("/a\r\n\x1b[31m", "/a\\r\\n\\x1b[31m"),
        ("/caf\u00e9", "/caf\\xe9"),
        ("/back\\slash", "/back\\\\slash"),
        ("", "-"),
        (None, "-"),
    ],
)
def test_logged_values_are_one_printable_line(value: str | None, logged: str) -> None:
    assert escape(value) == logged


def test_long_logged_values_are_cut() -> None:
    assert escape("a" * 1000) == "a" * 256 + "...(cut)"


@pytest.mark.parametrize("body", [b"[" * 65 + b"]" * 65, b"[" * 100_000, b'{"a": NaN}', b"\xff"])
def test_bad_json_is_invalid_json(body: bytes) -> None:
    status, error = refusal(json_object, request(body=body, content_type="application/json"))
    assert (status, error["code"]) == (400, "invalid_json")


def test_nesting_within_the_bound_parses() -> None:
    body = b'{"a": ' + b"[" * 60 + b"]" * 60 + b"}"
    assert json_object(request(body=body, content_type="application/json")) == {"a": json.loads(b"[" * 60 + b"]" * 60)}


def test_the_failed_auth_throttle_counts_failures_only() -> None:
    throttle = AuthThrottle(IdentityRateLimiter("2/minute", namespace="test-throttle"))
    throttle.check("203.0.113.5", [])
    throttle.failed("203.0.113.5")
    throttle.failed("203.0.113.5")
    status, error = refusal(throttle.check, "203.0.113.5", [])
    assert (status, error["code"]) == (429, "auth_throttled")
    throttle.check("203.0.113.6", [])


def test_a_route_with_a_raw_body_composes_a_subset_of_the_steps() -> None:
    """What the signaling route (raw SDP) will do: Host, size and bearer auth, no CORS, its own body type."""
    token = "signaling-token-0123456789"
    admission = Admission(
        methods=("POST",),
        max_body_bytes=64,
        clients=ClientKeys(),
        hosts=HostAllowList(["calls.example"]),
        authenticator=Authenticator("bearer", {"web": token}, lambda _request: None),
        throttle=AuthThrottle(IdentityRateLimiter("5/minute", namespace="test-signaling")),
    )
    offer = b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"
    sdp = {"host": "calls.example", "content_type": "application/sdp", "authorization": f"Bearer {token}"}
    admitted = admission.admit(request(body=offer, **sdp))
    assert admitted.identity == "bearer:web"
    assert admitted.client == "203.0.113.5"
    assert media_type(request(body=offer, **sdp)) == "application/sdp"
    assert refusal(admission.admit, request(body=offer * 4, **sdp))[0] == 413
    assert refusal(admission.admit, request(body=offer, **{**sdp, "host": "evil.example"}))[0] == 421
    assert refusal(admission.admit, request(body=offer, **{**sdp, "authorization": "Bearer no"}))[0] == 401
    assert refusal(admission.admit, request("GET", **sdp))[0] == 405


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("allowed_hosts", ["*"], "allowed_hosts"),
        ("allowed_hosts", ["a b"], "allowed_hosts"),
        ("allowed_hosts", ["a..b"], "allowed_hosts"),
        ("allowed_hosts", ["example.com:443"], "allowed_hosts"),
        ("allowed_hosts", ["[::1]:80"], "allowed_hosts"),
        ("allowed_hosts", ["::1::2"], "allowed_hosts"),
        ("allowed_hosts", [".", ".."], "allowed_hosts"),
        ("allowed_hosts", ["exa\u212ample.com"], "allowed_hosts"),
        ("ipv6_prefix", 129, "ipv6_prefix"),
        ("ipv4_prefix", 0, "ipv4_prefix"),
        ("request_timeout", 0, "request_timeout"),
        ("max_header_bytes", 10, "max_header_bytes"),
        ("auth_failure_limit", 5, "auth_failure_limit"),
        ("connection_limit", 0, "connection_limit"),
    ],
)
def test_new_settings_are_checked(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_server_settings({key: value}, {})


def test_new_settings_defaults() -> None:
    settings = load_server_settings({"auth_failure_limit": "off", "allowed_hosts": ["Tokens.Example."]}, {})
    assert settings.auth_failure_limit is None
    assert settings.allowed_hosts == ("tokens.example",)
    defaults = load_server_settings({}, {})
    assert (defaults.ipv6_prefix, defaults.ipv4_prefix, defaults.connection_limit) == (64, 32, 2048)
    assert defaults.allowed_hosts is None


def test_allowed_hosts_are_read_as_a_host_header_is_and_an_ipv6_address_has_one_spelling() -> None:
    configured = ["Tokens.Example.", ".Corp.Example", "[0:0:0:0:0:0:0:1]", "FE80::0:1", "10.0.0.7"]
    settings = load_server_settings({"allowed_hosts": configured}, {})
    assert settings.allowed_hosts == ("tokens.example", ".corp.example", "::1", "fe80::1", "10.0.0.7")
    hosts = HostAllowList(settings.allowed_hosts)
    for allowed in ("[::1]:8000", "[0::1]", "[fe80:0::1]:443", "a.corp.example", "corp.example", "TOKENS.example."):
        assert hosts.allowed(allowed), allowed
    for refused in ("[::2]", "[fe80::1%25eth0]", "corp.example.evil", "xcorp.example", "10.0.0.70"):
        assert not hosts.allowed(refused), refused
