"""``realtime_service.redaction``: what a redacted secret shows, the registry of the deployment's secrets and the
forms it recognises, scrubbing, and the log filter. Expected values are written out by hand, never computed with
``redact`` itself (a test built from the function it checks cannot fail)."""

from __future__ import annotations

import base64
import logging
import re
import uuid
from pathlib import Path

import pytest

from realtime_service import redaction
from realtime_service.redaction import (
    PACKAGE_LOGGERS,
    SECRETS,
    RedactingFilter,
    SecretRegistry,
    install_log_redaction,
    redact,
    scrub,
    scrub_json,
)

LOWER = "abcdefghijklmnopqrstuvwxyz"


# -- redact ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        (None, "<none>"),
        ("", "<none>"),
        ("a" * 11, "***"),  # under 12 characters: nothing shown
        ("abcdefghijkl", "...ijkl"),  # exactly 12: the last four only
        ("sk-" + LOWER, "sk-...wxyz"),
        ("ek_" + LOWER + "0123", "ek_...0123"),
        ("whsec_" + "A" * 40 + "wxyz", "whsec_...wxyz"),
        # the prefix ends at the FIRST separator, whichever kind comes first
        ("sk-ab_" + LOWER, "sk-...wxyz"),
        ("ek_ab-" + LOWER, "ek_...wxyz"),
        # ...the first of its kind too: "sk-proj-..." is "sk-", never "sk-proj-"
        ("ek_ab_" + LOWER, "ek_...wxyz"),
        ("sk-ab-" + LOWER, "sk-...wxyz"),
        # a separator at index 1 makes a prefix of 2
        ("a_" + LOWER, "a_...wxyz"),
        ("a-" + LOWER, "a-...wxyz"),
        # the prefix may end at index 7 (8 characters shown)...
        ("abcdefg_" + LOWER + "0123", "abcdefg_...0123"),
        # ...but not at index 8: a key with a late separator never prints its start
        ("abcdefgh_" + LOWER + "0123", "...0123"),
        ("abcdefghijklmnop-" + LOWER, "...wxyz"),
        # a separator at index 0 is no prefix; the next one is
        ("_" + LOWER, "...wxyz"),
        ("-abc_" + LOWER, "-abc_...wxyz"),
        # what is shown stays within a third of the secret: "sk-" + 4 = 7 characters needs 21
        ("sk-" + "q" * 14 + "wxyz", "sk-...wxyz"),  # 21 characters
        ("sk-" + "q" * 13 + "wxyz", "...wxyz"),  # 20 characters
        ("abcdefg_wxyz", "...wxyz"),  # 12 characters: a prefix of 8 would show all of it
    ],
)
def test_redact_shows_a_bounded_prefix_and_the_last_four(secret: str | None, shown: str) -> None:
    assert redact(secret) == shown


def test_redact_never_shows_a_long_run_of_the_secret() -> None:
    for cut in range(0, 30):
        secret = "x" * cut + "_" + "0123456789abcdefghijklmnopqrstuv"
        shown = redact(secret)
        for start in range(len(secret) - 8):
            assert secret[start : start + 9] not in shown, (secret, shown)


# -- the registry ---------------------------------------------------------------------------------------------


def test_a_registered_secret_is_scrubbed_in_every_form_it_may_be_quoted_in() -> None:
    registry = SecretRegistry()
    secret = 'p@ss"word/+\\0123456789'
    registry.add(secret)
    shown = "...6789"
    assert registry.scrub(f"a {secret} b") == f"a {shown} b"
    assert registry.scrub('a p@ss\\"word/+\\\\0123456789 b') == f"a {shown} b"  # JSON-escaped
    assert registry.scrub("a p%40ss%22word%2F%2B%5C0123456789 b") == f"a {shown} b"  # URL-encoded


def test_a_non_ascii_secret_is_scrubbed_when_json_escapes_it() -> None:
    registry = SecretRegistry()
    registry.add("clé-secrète-0123456789")
    assert registry.scrub('{"k": "cl\\u00e9-secr\\u00e8te-0123456789"}') == '{"k": "...6789"}'
    # escaped quotes with the non-ASCII kept as it is (JSON written with ensure_ascii=False), or escaped too
    registry.add('clé"secrète-9876543210')
    assert registry.scrub('{"k": "clé\\"secrète-9876543210"}') == '{"k": "...3210"}'
    assert registry.scrub('{"k": "cl\\u00e9\\"secr\\u00e8te-9876543210"}') == '{"k": "...3210"}'


def test_short_empty_and_non_text_secrets_are_not_registered() -> None:
    registry = SecretRegistry()
    for value in (None, "", "1234567", 12345678901234, b"bytes-secret-0123"):
        registry.add(value)  # type: ignore[arg-type]
    assert len(registry) == 0
    assert registry.forms() == ()
    assert registry.scrub("1234567 bytes-secret-0123") == "1234567 bytes-secret-0123"
    registry.add("12345678")  # eight characters: registered (shown as *** by redact)
    assert registry.scrub("x 12345678 y") == "x *** y"


def test_the_longest_form_is_replaced_whole() -> None:
    registry = SecretRegistry()
    registry.add("abcdefgh")
    registry.add("abcdefgh-0123456789-longer")
    assert registry.scrub("[abcdefgh-0123456789-longer]") == "[...nger]"
    assert registry.scrub("[abcdefgh]") == "[***]"


def test_a_secret_added_after_a_scrub_is_scrubbed_by_the_next_one() -> None:
    registry = SecretRegistry()
    registry.add("first-secret-0123456789")
    assert registry.scrub("second-secret-9876543210") == "second-secret-9876543210"
    registry.add("second-secret-9876543210")
    assert registry.scrub("second-secret-9876543210 first-secret-0123456789") == "...3210 ...6789"
    before = len(registry)
    registry.add("second-secret-9876543210")  # again: nothing new
    assert len(registry) == before


def test_the_registry_repr_counts_and_never_shows() -> None:
    registry = SecretRegistry()
    registry.add("sk-repr-secret-0123456789")
    assert repr(registry) == f"SecretRegistry({len(registry)} forms)"
    assert "0123456789" not in repr(registry)
    assert "sk-repr-secret-0123456789" in registry.forms()


def test_a_webhook_secret_is_scrubbed_with_and_without_its_prefix_and_decoded() -> None:
    registry = SecretRegistry()
    key = b"a quotable webhook key 012"
    bare = base64.b64encode(key).decode()  # 26 bytes: ends in "=="
    assert bare.endswith("=")
    registry.add_webhook_secret("whsec_" + bare)
    shown = "whsec_..." + bare[-4:]
    assert registry.scrub(f"x whsec_{bare} y") == f"x {shown} y"
    assert registry.scrub(f"x {bare} y") == f"x {shown} y"
    assert registry.scrub(f"x {bare.rstrip('=')} y") == f"x {shown} y"
    assert registry.scrub(f"x {key.decode()} y") == f"x {shown} y"


def test_a_webhook_secret_given_without_its_prefix_is_registered_with_it() -> None:
    registry = SecretRegistry()
    bare = base64.b64encode(bytes(range(200, 232))).decode()  # key bytes that are not text
    registry.add_webhook_secret(bare)
    assert registry.scrub(f"whsec_{bare}") == "whsec_..." + bare[-4:]
    assert registry.scrub(bare) == "whsec_..." + bare[-4:]
    assert set(registry.forms()) >= {bare, "whsec_" + bare}
    assert all("\ufffd" not in form for form in registry.forms())  # no decoded form for binary key bytes


def test_a_webhook_secret_registers_its_forms_and_nothing_shorter() -> None:
    """No over-redaction: a string that is only part of a form (the bare secret minus its last character) is
    left alone, and a secret whose base64 is broken has no decoded form, even one a lax decoder would find."""
    registry = SecretRegistry()
    bare = base64.b64encode(b"webhook key ending in X, twenty-four bytes!"[:24]).decode()
    bare = bare[:-1] + "X"  # no padding, a last character that a careless strip would also remove
    registry.add_webhook_secret("whsec_" + bare)
    assert registry.scrub(f"[{bare[:-1]}]") == f"[{bare[:-1]}]"
    broken = base64.b64encode(b"a printable key, 24 byte").decode()
    registry.add_webhook_secret("whsec_" + broken[:8] + "*" + broken[8:])
    assert registry.scrub("a printable key, 24 byte") == "a printable key, 24 byte"


def test_a_webhook_secret_that_is_not_base64_still_has_both_forms() -> None:
    registry = SecretRegistry()
    registry.add_webhook_secret("whsec_not*base64*at*all*0123")  # 28 characters: too short to show whsec_
    assert registry.scrub("not*base64*at*all*0123") == "...0123"
    registry.add_webhook_secret(None)
    registry.add_webhook_secret(1234)  # type: ignore[arg-type]
    assert registry.scrub("whsec_not*base64*at*all*0123 1234") == "...0123 1234"


@pytest.mark.parametrize(
    ("url", "quoted", "plain"),
    [
        ("redis://:redis-password-0123@127.0.0.1:6379/0", "redis-password-0123", "redis-password-0123"),
        ("rediss://user:p%40ss%2Fw0rd-0123@127.0.0.1:6380/1", "p%40ss%2Fw0rd-0123", "p@ss/w0rd-0123"),
        ("redis://127.0.0.1:6379/0?password=query-password-0123", "query-password-0123", "query-password-0123"),
    ],
)
def test_the_password_of_a_redis_url_is_scrubbed(url: str, quoted: str, plain: str) -> None:
    registry = SecretRegistry()
    registry.add_url_password(url)
    assert quoted not in registry.scrub(url)
    assert registry.scrub(f"[{plain}]") == "[...0123]"
    assert registry.scrub(f"[{quoted}]") == "[...0123]"


def test_a_url_password_is_scrubbed_as_the_url_spells_it() -> None:
    """The password as written in the URL (lower-case escapes), not only as quote() would spell it."""
    registry = SecretRegistry()
    url = "redis://:lower%2fcase%2bescapes-0123@127.0.0.1:6379/0"
    registry.add_url_password(url)
    assert registry.scrub(url) == "redis://:...0123@127.0.0.1:6379/0"
    assert registry.scrub("lower/case+escapes-0123") == "...0123"


@pytest.mark.parametrize("url", [None, "memory://", "redis://127.0.0.1:6379/0", "redis://[::1", 42])
def test_a_url_without_a_password_registers_nothing(url: object) -> None:
    registry = SecretRegistry()
    registry.add_url_password(url)  # type: ignore[arg-type]
    assert len(registry) == 0


# -- scrub, scrub_json ----------------------------------------------------------------------------------------


def test_scrub_uses_the_process_registry_and_the_secrets_given() -> None:
    SECRETS.add("registered-secret-for-scrub-0123")
    text = "a registered-secret-for-scrub-0123 b given-secret-for-scrub-4567 c"
    assert scrub(text, ["given-secret-for-scrub-4567", ""]) == "a ...0123 b ...4567 c"
    assert scrub("nothing secret here") == "nothing secret here"


def test_scrub_refuses_what_is_not_text() -> None:
    with pytest.raises(TypeError, match="scrub takes text, not NoneType"):
        scrub(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not bytes"):
        scrub(b"bytes")  # type: ignore[arg-type]


def test_scrub_json_scrubs_keys_values_and_lists_and_keeps_the_rest() -> None:
    secret = "json-secret-0123456789"
    value = {secret: [secret, 1, None, True, {"k": f"x{secret}"}], "n": 2.5}
    assert scrub_json(value, [secret]) == {"...6789": ["...6789", 1, None, True, {"k": "x...6789"}], "n": 2.5}
    assert scrub_json(secret, iter([secret])) == "...6789"  # an iterator of secrets is read once, used throughout
    assert scrub_json([secret, [secret]], iter([secret])) == ["...6789", ["...6789"]]


# -- the log filter -------------------------------------------------------------------------------------------


def _record(msg: str, *args: object, exc: BaseException | None = None, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args or None, None)
    if exc is not None:
        try:
            raise exc
        except BaseException as raised:
            record.exc_info = (type(raised), raised, raised.__traceback__)
    record.__dict__.update(extra)
    return record


def test_the_filter_scrubs_message_arguments_traceback_and_extra_fields() -> None:
    registry = SecretRegistry()
    secret = "filter-secret-0123456789"
    registry.add(secret)
    record = _record("upstream said %s", f"key {secret}", exc=ValueError(f"quoted {secret}"), note=f"n {secret}")
    assert RedactingFilter(registry).filter(record) is True
    assert record.getMessage() == "upstream said key ...6789"
    assert record.args is None
    assert record.exc_info is None
    assert record.exc_text is not None
    assert "ValueError: quoted ...6789" in record.exc_text
    assert record.__dict__["note"] == "n ...6789"
    formatted = logging.Formatter("%(message)s").format(record)
    assert secret not in formatted
    assert "ValueError: quoted ...6789" in formatted


def test_the_filter_scrubs_an_existing_exception_text_and_a_broken_format() -> None:
    registry = SecretRegistry()
    registry.add("filter-secret-0123456789")
    record = _record("plain")
    record.exc_text = "Traceback: filter-secret-0123456789"
    assert RedactingFilter(registry).filter(record) is True
    assert record.exc_text == "Traceback: ...6789"
    broken = _record("%d items", "filter-secret-0123456789")
    assert RedactingFilter(registry).filter(broken) is True
    assert broken.getMessage() == "%d items ('...6789',)"


class _CountingRegistry(SecretRegistry):
    def __init__(self) -> None:
        super().__init__()
        self.scrubs = 0

    def scrub(self, text: str) -> str:
        self.scrubs += 1
        return super().scrub(text)


def test_a_record_is_scrubbed_again_only_when_secrets_were_registered_since() -> None:
    """A logger's filter and then a handler's (as under ``serve``): the second pass does no work, unless the
    registry grew in between; then it scrubs the new secret too."""
    registry = _CountingRegistry()
    registry.add("filter-secret-0123456789")
    record = _record("a %s and a %s", "filter-secret-0123456789", "later-secret-9876543210")
    on_logger, on_handler = RedactingFilter(registry), RedactingFilter(registry)
    assert on_logger.filter(record) is True
    done = registry.scrubs
    assert done > 0
    assert on_handler.filter(record) is True
    assert registry.scrubs == done
    registry.add("later-secret-9876543210")
    assert on_handler.filter(record) is True
    assert registry.scrubs > done
    assert record.getMessage() == "a ...6789 and a ...3210"


def test_the_filter_leaves_records_alone_while_nothing_is_registered() -> None:
    record = _record("value %s", "anything-0123456789")
    assert RedactingFilter(SecretRegistry()).filter(record) is True
    assert record.args == ("anything-0123456789",)
    assert RedactingFilter().registry is SECRETS


def test_install_adds_one_filter_per_target() -> None:
    handler = logging.NullHandler()
    name = f"realtime_service.test_install.{uuid.uuid4().hex}"  # a fresh logger: no filter from an earlier run
    install_log_redaction(handlers=[handler], loggers=[name])
    install_log_redaction(handlers=[handler], loggers=[name])
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    assert sum(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters) == 1
    assert not any(isinstance(f, RedactingFilter) for f in logging.getLogger().filters)  # not the root logger


def test_every_logger_of_the_package_redacts_what_is_logged_on_it() -> None:
    """A class check: each logger name used in the package is in PACKAGE_LOGGERS and carries the filter."""
    source = Path(redaction.__file__).parent
    names = set()
    for path in source.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r'getLogger\("([^"]+)"\)', text))
        if re.search(r"getLogger\(__name__\)", text):
            names.add(".".join(path.relative_to(source.parent).with_suffix("").parts))
    assert names, "no logger found: the scan is broken"
    names = {name for name in names if name.split(".")[0] == "realtime_service"}  # not a library's we filter
    assert names <= set(PACKAGE_LOGGERS), names - set(PACKAGE_LOGGERS)
    for name in PACKAGE_LOGGERS:
        assert any(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters), name


def test_a_secret_logged_on_a_package_logger_reaches_no_handler(caplog: pytest.LogCaptureFixture) -> None:
    SECRETS.add("logged-secret-0123456789")
    with caplog.at_level(logging.INFO, logger="realtime_service.web"):
        logging.getLogger("realtime_service.web").error("upstream: %s", "logged-secret-0123456789")
    assert "logged-secret-0123456789" not in caplog.text
    assert "upstream: ...6789" in caplog.text


def test_the_environment_secrets_are_registered_before_any_config() -> None:
    registry = SecretRegistry()
    webhook = "whsec_" + base64.b64encode(b"environment webhook key 0123456").decode()
    registry.add_environment(
        {
            "OPENAI_API_KEY": "sk-env-openai-0123456789",
            "AZURE_OPENAI_API_KEY": "azure-env-key-0123456789",
            "OPENAI_WEBHOOK_SECRET": f"{webhook}, whsec_second-env-webhook-secret-0123",
            "REALTIME_SERVICE_TOKENS": "web=env-bearer-token-0123456789, env-unnamed-token-0123456789, "
            "b64=ZW52LXBhZGRlZC10b2tlbi0wMQ==",
            "HOME": "/home/someone-who-is-not-secret",
        }
    )
    text = (
        f"sk-env-openai-0123456789 azure-env-key-0123456789 {webhook} second-env-webhook-secret-0123 "
        "env-bearer-token-0123456789 env-unnamed-token-0123456789 ZW52LXBhZGRlZC10b2tlbi0wMQ== "
        "/home/someone-who-is-not-secret"
    )
    assert registry.scrub(text) == (
        f"sk-...6789 ...6789 whsec_...{webhook[-4:]} whsec_...0123 env-...6789 env-...6789 ...MQ== "
        "/home/someone-who-is-not-secret"
    )
    assert "web=" not in "".join(registry.forms())  # a token's name is not a secret
    empty = SecretRegistry()
    empty.add_environment({})
    assert len(empty) == 0


def test_loading_settings_registers_the_api_key_even_when_they_are_refused() -> None:
    from realtime_service.config import load_settings
    from realtime_service.errors import ConfigurationError

    load_settings({"api_key": "sk-loaded-key-0123456789abcdef"}, {})
    assert scrub("sk-loaded-key-0123456789abcdef") == "sk-...cdef"
    with pytest.raises(ConfigurationError):
        load_settings({"api_key": "sk-refused-key-0123456789abcd", "timeout": {"read": "soon"}}, {})
    assert scrub("sk-refused-key-0123456789abcd") == "sk-...abcd"
    load_settings({}, {"OPENAI_API_KEY": "sk-environment-key-0123456789ab"})
    assert scrub("sk-environment-key-0123456789ab") == "sk-...89ab"
