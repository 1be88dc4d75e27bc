"""Each person's message with the edition's inline images (charts, logo, pictures): assembled from
pieces made once per edition, and still what the email package reads as the same message."""

from __future__ import annotations

import base64
import re
from email import message_from_bytes, policy
from email.message import MIMEPart

from newsletter.compose.personal import Personalizer
from newsletter.compose.pictures import InlineImage
from newsletter.compose.render import Newsletter
from newsletter.delivery import message as message_module
from newsletter.delivery.message import Envelope, MessageFactory, as_bytes, build_message, dot_stuffed, image_parts
from newsletter.delivery.recipients import Recipient

ENVELOPE = Envelope("Example IT <it@example.com>", reply_to="help@example.com")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # 10 KB, every byte value, "\r\n." included
IMAGES = (InlineImage("chart-tickets.2026-10@newsletter", PNG, "png", "tickets.png"),
          InlineImage("logo@newsletter", PNG[::-1], "png", "logo.png"),
          InlineImage("picture-1@newsletter", b"GIF89a" + PNG[:500], "gif", "Grüße team photo.gif"))
EDITION = Newsletter(
    month="2026-10", subject="IT in October for [[ recipient.name ]]", preheader="",
    html=("<p>Hello [[ recipient.name ]]</p>" + "".join(f'<img src="cid:{i.cid}" alt="x">' for i in IMAGES)
          + "<p>" + "static Grüße text " * 2000 + "</p>\n.\n..dots"),
    text="Hello [[ recipient.name ]]\n.\n..and dots =3D kept\n", images=IMAGES)


def fast(to: Recipient, factory: MessageFactory | None = None) -> bytes:
    factory = factory or MessageFactory(ENVELOPE, Personalizer(EDITION))
    return factory.build(to, to.context()).data


def test_a_message_with_images_parses_and_each_image_is_referenced_by_its_content_id():
    ann = Recipient("ann@example.com", "Ann Smith")
    message = message_from_bytes(fast(ann), policy=policy.default)
    assert message.get_content_type() == "multipart/alternative" and not message.defects
    plain, related = message.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html, *images = related.get_payload()
    assert html.get_content_type() == "text/html"
    body = html.get_content().replace("\r\n", "\n")
    assert body.startswith("<p>Hello Ann Smith</p>") and body.rstrip().endswith("</p>\n.\n..dots")
    referenced = set(re.findall(r'src="cid:([^"]+)"', body))
    assert {part["Content-ID"] for part in images} == {f"<{cid}>" for cid in referenced}
    for part, image in zip(images, IMAGES, strict=True):
        assert part.get_content_type() == f"image/{image.subtype}"
        assert part.get_content() == image.data
        assert part.get_content_disposition() == "inline" and part.get_filename() == image.filename
    assert message["Subject"] == "IT in October for Ann Smith"


def test_a_message_with_images_is_the_email_packages_message():
    bob = Recipient("bob@example.com", "Bøb")
    ours = message_from_bytes(fast(bob), policy=policy.default)
    edition = Personalizer(EDITION).for_recipient(bob.context())
    theirs = message_from_bytes(as_bytes(build_message(edition, ENVELOPE, bob)), policy=policy.default)
    for name in ("Subject", "From", "To", "Reply-To", "List-Id", "Auto-Submitted", "Precedence", "MIME-Version"):
        assert ours[name] == theirs[name], name
    walk = [(p.get_content_type(), p["Content-ID"], p.get_filename()) for p in ours.walk()]
    assert walk == [(p.get_content_type(), p["Content-ID"], p.get_filename()) for p in theirs.walk()]
    for mine, other in zip(ours.walk(), theirs.walk(), strict=True):
        if mine.get_content_maintype() == "text":  # line ends: CRLF on the wire, as either decodes them
            assert lf(mine.get_content()) == lf(other.get_content())
        elif not mine.is_multipart():
            assert mine.get_content() == other.get_content()


def test_each_message_has_its_own_outer_boundary_and_lines_of_at_most_78():
    factory = MessageFactory(ENVELOPE, Personalizer(EDITION))
    first, second = (fast(Recipient(f"p{i}@example.com", f"P {i}"), factory) for i in range(2))
    bounds = [message_from_bytes(d, policy=policy.default).get_boundary() for d in (first, second)]
    assert bounds[0] != bounds[1]
    assert all(len(line) <= 78 for line in first.split(b"\r\n"))
    assert base64.b64encode(PNG)[:40] in first.replace(b"\r\n", b"")


def test_the_images_are_made_into_mime_parts_once_per_edition_not_once_a_message(monkeypatch):
    """What makes a message with images cost about what one without them costs (benchmarks/delivery.py
    --build measures it): the email package makes the image parts once, then no message goes through it."""
    made, written = [], []
    monkeypatch.setattr(message_module, "image_parts", lambda *args: made.append(args) or image_parts(*args))
    factory = MessageFactory(ENVELOPE, Personalizer(EDITION))
    as_bytes_of_a_part = MIMEPart.as_bytes
    monkeypatch.setattr(MIMEPart, "as_bytes", lambda part, *a, **k: written.append(part) or as_bytes_of_a_part(
        part, *a, **k))
    people = [Recipient(f"p{i}@example.com", f"Person {i}") for i in range(20)]
    sent = [factory.build(person, person.context()).data for person in people]
    assert len(made) == 1 and written == []
    assert all(base64.b64encode(PNG)[:40] in data.replace(b"\r\n", b"") for data in sent)


def lf(text: str) -> str:
    return text.replace("\r\n", "\n").rstrip()


def test_the_smtp_form_is_the_message_dot_stuffed_lines_starting_with_a_dot_included():
    factory = MessageFactory(ENVELOPE, Personalizer(EDITION))
    for name in (".Dot at the start", "Plain", "..two"):
        out = factory.build(Recipient("ann@example.com", name), {"name": name, "email": "ann@example.com"})
        assert out.for_smtp() == dot_stuffed(out.data) and b"\r\n..." in out.for_smtp()
        assert out.for_smtp().endswith(b"\r\n.\r\n")


def test_a_lone_carriage_return_in_a_value_never_reaches_the_wire():
    """A CR inside a vendor's category name is a line end, as the email package reads it: RFC 5322
    allows CR only before LF."""
    edition = Newsletter(month="2026-10", subject="IT", preheader="", html="<p>VPN\rAccess [[ recipient.name ]]</p>\n",
                         text="- VPN\rAccess: 12 [[ recipient.name ]]\n")
    ann = Recipient("ann@example.com", "Ann\rSmith")
    data = MessageFactory(ENVELOPE, Personalizer(edition)).build(ann, ann.context()).data
    assert not re.search(rb"\r(?!\n)", data) and not re.search(rb"(?<!\r)\n", data)
    parsed = message_from_bytes(data, policy=policy.default)
    assert "VPN\nAccess" in lf(parsed.get_body(("plain",)).get_content())


def test_a_subject_in_an_accented_language_keeps_every_space_in_either_path():
    """Python's folder leaves a space between two encoded words, where readers drop it (RFC 2047
    6.2): "im Büro · 470" would read "im Büro· 470" in every mail client."""
    subject = "IT im Oktober: Größere Änderungen im Büro · 470 gelöste Anfragen für alle Kolleginnen"
    edition = Newsletter(month="2026-10", subject=subject, preheader="", html="<p>x</p>\n", text="x\n")
    ann = Recipient("ann@example.com", "Ann")
    ours = MessageFactory(ENVELOPE, Personalizer(edition)).build(ann, ann.context()).data
    theirs = as_bytes(build_message(edition, ENVELOPE, ann))
    for data in (ours, theirs):
        head = data.split(b"\r\n\r\n", 1)[0]
        assert str(message_from_bytes(data, policy=policy.default)["Subject"]) == subject
        assert all(len(line) <= 78 for line in head.split(b"\r\n")), head
    english = Newsletter(month="2026-10", subject="IT in October: " + "resolved requests " * 6, preheader="",
                         html="<p>x</p>\n", text="x\n")
    data = MessageFactory(ENVELOPE, Personalizer(english)).build(ann, ann.context()).data
    assert b"=?" not in data.split(b"\r\n\r\n", 1)[0].split(b"Subject:")[1].split(b"\r\nFrom")[0]


def test_a_long_or_accented_name_is_folded_in_the_to_line_as_the_email_package_reads_it():
    names = ["Γιώργος Παπαδόπουλος-Κωνσταντινίδης", "Long " * 300, "Ann Smith", "José Müller-Lüdenscheidt " * 4]
    for name in names:
        to = Recipient("giorgos.papadopoulos@example.com", name.strip())
        data = fast(to)
        head = data.split(b"\r\n\r\n", 1)[0]
        assert all(len(line) <= 998 for line in head.split(b"\r\n"))
        assert max(map(len, re.findall(rb"=\?utf-8\?[bq]\?[^?]*\?=", head, re.IGNORECASE)), default=0) <= 75
        parsed = message_from_bytes(data, policy=policy.default)["To"].addresses[0]
        assert parsed.addr_spec == to.email
        assert parsed.display_name.replace(" ", "") == to.name.replace(" ", "")  # Python's reader adds a
        # space at each fold of an encoded name (mail clients join them, as RFC 2047 says)
    ann = fast(Recipient("ann@example.com", "Ann Smith"))
    assert b"\r\nTo: Ann Smith <ann@example.com>\r\n" in ann
