"""Order IDs and addresses are normalised one way, and the fast path agrees with email-validator."""

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

from optout.errors import OptoutError
from optout.identifiers import marketplace_of, normalise_email, parse_query


@pytest.mark.parametrize("text", ["112-4455667-7788990", " [112-4455667-7788990] ", "(112-4455667-7788990)"])
def test_order_ids_tolerate_brackets_and_spaces(text: str) -> None:
    """Brackets and white space around an order ID are ignored."""
    assert parse_query(text).value == "112-4455667-7788990"
    assert parse_query(text).kind == "order"


@pytest.mark.parametrize("text", ["112-445566-7788990", "1124455667788990", "abc", "", "@", "a@b"])
def test_malformed_queries_are_refused(text: str) -> None:
    """Neither an order ID nor a valid address: OptoutError, with the input quoted."""
    with pytest.raises(OptoutError):
        parse_query(text)


def test_addresses_are_lowercased_and_trimmed() -> None:
    """Matching is case-insensitive: the stored form is lowercase."""
    assert normalise_email("  K3V9XQ2MZ7P4W1R@Marketplace.Amazon.DE\n") == "k3v9xq2mz7p4w1r@marketplace.amazon.de"


def test_internationalised_address_goes_through_email_validator() -> None:
    """An address outside the plain ASCII form is still normalised."""
    assert normalise_email("Jörg@Beispiel.de") == "jörg@beispiel.de"


def test_marketplace_from_alias() -> None:
    """The marketplace is read off the alias domain; other domains have none."""
    assert marketplace_of("x@marketplace.amazon.co.uk") == "amazon.co.uk"
    assert marketplace_of("x@example.com") is None


_local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-+!#", min_size=1, max_size=70)
_domain = st.from_regex(r"[a-z0-9-]{1,10}(\.[a-z0-9-]{1,8}){0,2}\.(com|de|test|local|x|co)", fullmatch=True)


def _assert_agrees_with_email_validator(text: str) -> None:
    """normalise_email and parse_query (each with its own regex fast path) give what
    email-validator gives, or both refuse what it refuses."""
    try:
        expected = validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    for parse in (normalise_email, lambda t: parse_query(t).value):
        try:
            got = parse(text)
        except OptoutError:
            got = None
        assert got == expected, (text, got, expected)


@given(_local, _domain)
def test_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    """For any address, the regex fast path accepts exactly what email-validator accepts."""
    _assert_agrees_with_email_validator(f"{local}@{domain}")


@pytest.mark.parametrize("text", [
    "a" * 64 + "@example.com", "a" * 65 + "@example.com",  # the local part's limit
    "b@" + "c" * 63 + "." + "d" * 63 + "." + "e" * 63 + "." + "f" * 56 + ".com",  # 254 characters
    "b@" + "c" * 63 + "." + "d" * 63 + "." + "e" * 63 + "." + "f" * 57 + ".com",  # 255
    "x@ab--cd.com", "x@xn--bcher-kva.example", "x@host.arpa", "x@host.onion", "x@host.localhost",
    "x@host.testing", "x@a.b.c.de", "x.y+tag@sub-domain.example.co.uk",
])
def test_fast_path_agrees_at_the_limits(text: str) -> None:
    """The lengths, "--" domains and special-use TLDs the fast path judges by itself."""
    _assert_agrees_with_email_validator(text)
