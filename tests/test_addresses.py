"""The one address check: every address that enters (CSV, config, --test-to, the preview's form)."""

from __future__ import annotations

import random
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr

import pytest

from newsletter.delivery.addresses import Checked, check_address

# what the email library refuses with an exception (HeaderParseError, AttributeError) today
LIBRARY_REFUSES = ["user@corp.test.", "<user@corp.test>", "user@[corp.test", ",user@corp.test"]


@pytest.mark.parametrize(("value", "reason"), [
    ("user@corp.test.", "domain that ends with a dot"),
    ("<user@corp.test>", "without the < >"),
    ("user@[corp.test", "address literal"),
    (",user@corp.test", "comma"),
    ("a@x, b@y", "comma"),
    ("user@corp.test;", "semicolon"),
    ("", "is not an email address (empty)"),
    ("   ", "is not an email address (empty)"),
    ("not-an-address", "no @"),
    ("a@b@corp.test", "more than one @"),
    ("us er@corp.test", "space"),
    ("user@corp..test", "two dots"),
    (".user@corp.test", "dot at the start or end"),
    ("user.@corp.test", "dot at the start or end"),
    ("@corp.test", "nothing before the @"),
    ("user@", "nothing after the @"),
    ("user@corp", "no dot in its domain"),
    ("user@-corp.test", "hyphen"),
    ("user@corp_x.test", "'_'"),
    ("user@[192.0.2.1]", "address literal"),
    ('"q q"@corp.test', "quoted"),
    ("ü@corp.test", "non-ASCII"),
    ("user@corp.test\r\nBcc: x@y.test", "contains a line break or NUL"),
    ("user\x1b[31m@corp.test", "control character"),
    ("x" * 65 + "@corp.test", "64 characters"),
    ("u@" + "d" * 64 + ".test", "63 characters"),
    ("u@" + ".".join(["d" * 60] * 5) + ".test", "254 characters"),
    ("a(comment)@corp.test", "'('"),
])
def test_a_bad_address_gets_a_reason_and_never_an_exception(value, reason):
    checked = check_address(value)
    assert not checked.ok and checked.address == ""
    assert reason in checked.reason, checked.reason


@pytest.mark.parametrize("value", ["ann@example.com", "Ann.Smith+news@mail.example.co.uk", "o'brien@example.com",
                                   "bob@Example.COM", "x_y-z@sub-domain.example.com", "1@2.example"])
def test_good_addresses_pass_as_they_are(value):
    assert check_address(value) == Checked(value)
    assert check_address(f"  {value} ") == Checked(value)


@pytest.mark.parametrize(("value", "name", "address"), [
    ("All Staff <all@example.com>", "All Staff", "all@example.com"),
    ('"Smith, John" <j@example.com>', "Smith, John", "j@example.com"),
    ("<user@corp.test>", "", "user@corp.test"),
    ("user@corp.test", "", "user@corp.test"),
    ("Zoë Ünal <zoe@example.com>", "Zoë Ünal", "zoe@example.com"),
    ("=?utf-8?q?Zo=C3=AB?= <zoe@example.com>", "Zoë", "zoe@example.com"),
])
def test_named_addresses_give_the_name_and_the_address(value, name, address):
    assert check_address(value, named=True) == Checked(address, name)


@pytest.mark.parametrize(("value", "reason"), [
    *[(v, "") for v in LIBRARY_REFUSES if v != "<user@corp.test>"],
    ("a@x, b@y", "comma"),
    ("Ann <ann@example.com>, Bob <bob@example.com>", "more than one address"),
    ("Team: ann@example.com;", "semicolon"),
    ("Ann <ann@example.com> extra", "angle brackets"),
    ("Ann <a@example.com> <b@example.com>", "not an email address"),
    ("Ann <ann@example.com", "angle brackets"),
    ("Ann <user@corp.test.>", "domain that ends with a dot"),
    ("=?utf-8?q?Ann=0D=0ABcc:_x@y.test?= <a@example.com>", "line break"),
    ("=?utf-8?q?Ann=1B=5B31m?= <a@example.com>", "control character"),
    ("Ann\r\n <a@example.com>", "line break"),
])
def test_named_addresses_refuse_junk(value, reason):
    checked = check_address(value, named=True)
    assert not checked.ok and reason in checked.reason, checked.reason


TRICKY = [*"aZ9.@<>[]\",;:()\\ \t-+_=?!#$%&'*/^`{|}~", "\r", "\n", "\0", "\x1b", "\x7f", "é", "\u2028", "\ufeff",
          "\uffff", "example", ".com", "@corp.test", "=?utf-8?q?", "?=", "=0D=0A", "Ann ", "<", ">"]


def _fuzzed(rng: random.Random) -> str:
    """Half random tokens, half a good address with a few characters changed."""
    if rng.random() < 0.5:
        return "".join(rng.choice(TRICKY) for _ in range(rng.randint(0, 14)))
    text = list(rng.choice(["ann.smith@corp.test", "Ann Smith <ann.smith@corp.test>", '"S, A" <a@b.example>']))
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(text) + 1)
        operation = rng.choice(("insert", "delete", "replace"))
        if operation == "insert" or not text:
            text.insert(at, rng.choice(TRICKY))
        elif at < len(text):
            text[at:at + 1] = [] if operation == "delete" else [rng.choice(TRICKY)]
    return "".join(text)


@pytest.mark.parametrize("named", [False, True], ids=["bare", "named"])
def test_fuzzed_short_strings_get_a_verdict_or_a_reason_never_an_exception(named):
    rng = random.Random(20261001)
    passed = 0
    for _ in range(4000):
        value = _fuzzed(rng)
        checked = check_address(value, named=named)  # never raises
        assert isinstance(checked, Checked)
        if not checked.ok:
            assert checked.address == "" and checked.reason.strip(), value
            continue
        passed += 1
        address = checked.address
        assert address.isascii() and address.count("@") == 1, value
        assert not any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in address), value
        assert check_address(address) == Checked(address), value  # what passed passes again, unchanged
        message = EmailMessage()  # and the email package takes it in every form delivery uses
        message["To"] = Address(display_name=checked.name, addr_spec=address)
        assert message["To"].addresses[0].addr_spec == address, value
        assert b"\n" not in message.as_bytes(policy=SMTP).rstrip(b"\r\n").replace(b"\r\n", b""), value
        formataddr((checked.name, address), charset="utf-8").encode("ascii")
    assert passed > 100, "the generator must also make addresses that pass"
