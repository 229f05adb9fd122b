"""The ``realtime_service.web`` package's public names, and the old names of its request and response types."""

from __future__ import annotations

import pytest

import realtime_service.web as web
from realtime_service.web.messages import WebRequest, WebResponse


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("TokenRequest", WebRequest),
        ("TokenResponse", WebResponse),
        ("HttpRequest", WebRequest),
        ("HttpResponse", WebResponse),
    ],
)
def test_an_old_name_still_imports_and_says_its_new_one(old: str, new: type) -> None:
    with pytest.warns(DeprecationWarning, match=f"realtime_service.web.{old} is now {new.__name__}"):
        assert getattr(web, old) is new


def test_an_unknown_name_is_an_attribute_error_not_a_warning() -> None:
    with pytest.raises(AttributeError, match="TokenEndpoints"):
        web.TokenEndpoints  # noqa: B018 - the lookup is the test


def test_every_public_name_imports_from_the_package_and_the_old_names_are_not_advertised() -> None:
    assert all(getattr(web, name) is not None for name in web.__all__)
    assert not {"TokenRequest", "TokenResponse", "HttpRequest", "HttpResponse"} & set(web.__all__)
