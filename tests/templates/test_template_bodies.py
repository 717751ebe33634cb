"""Graph bodies: `POST /{WABA_ID}/message_templates` exactly as Graph takes them."""

from __future__ import annotations

import textwrap
from pathlib import Path

from engine.templates.files import components, content, create_body, load_dir, load_file

DEMO = Path(__file__).resolve().parents[2] / "templates" / "whatsapp"


def test_the_demo_parcel_update_bodies() -> None:
    templates, _ = load_dir(DEMO)
    parcel = next(t for t in templates if t.name == "haraka_parcel_update")
    assert create_body(parcel, "en") == {
        "name": "haraka_parcel_update_v1",
        "language": "en",
        "category": "UTILITY",
        "components": [
            {"type": "BODY", "text": "Your Haraka parcel {{1}} is now: {{2}}. Reply TRACK for details.",
             "example": {"body_text": [["HD-1236", "out for delivery"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Track"}]},
        ],
    }
    assert create_body(parcel, "sw", version=2) == {
        "name": "haraka_parcel_update_v2",
        "language": "sw",
        "category": "UTILITY",
        "components": [
            {"type": "BODY", "text": "Kifurushi chako cha Haraka {{1}} sasa: {{2}}. Jibu TRACK kwa maelezo.",
             "example": {"body_text": [["HD-1236", "kiko njiani"]]}},
        ],
    }


def test_header_footer_and_every_kind_of_button(tmp_path: Path) -> None:
    path = tmp_path / "order.yaml"
    path.write_text(textwrap.dedent("""\
        name: order
        category: marketing
        languages:
          pt_BR:
            header: "Pedido {{1}}"
            header_example: "A-1"
            body: "Olá, seu pedido chegou."
            footer: Haraka
            buttons:
              - {type: url, text: Abrir, url: "https://haraka.example/o/{{1}}", example: "https://haraka.example/o/A-1"}
              - {type: url, text: Site, url: "https://haraka.example"}
              - {type: phone_number, text: Ligar, phone_number: "+5511999999999"}
              - {type: quick_reply, text: Parar}
        """), encoding="utf-8")
    template, problems = load_file(path)
    assert problems == [] and template is not None
    body = create_body(template, "pt_BR")
    assert body["name"] == "order_v1" and body["category"] == "MARKETING" and body["language"] == "pt_BR"
    assert body["components"] == [
        {"type": "HEADER", "format": "TEXT", "text": "Pedido {{1}}", "example": {"header_text": ["A-1"]}},
        {"type": "BODY", "text": "Olá, seu pedido chegou."},  # no placeholders: no example
        {"type": "FOOTER", "text": "Haraka"},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Abrir", "url": "https://haraka.example/o/{{1}}",
             "example": ["https://haraka.example/o/A-1"]},
            {"type": "URL", "text": "Site", "url": "https://haraka.example"},
            {"type": "PHONE_NUMBER", "text": "Ligar", "phone_number": "+5511999999999"},
            {"type": "QUICK_REPLY", "text": "Parar"},
        ]},
    ]


def test_content_compares_what_the_user_sees_not_the_samples() -> None:
    templates, _ = load_dir(DEMO)
    ours = components(templates[1].languages["en"])
    # Graph lists components with its own casing and sample shape.
    listed = [
        {"type": "BODY", "text": "Your Haraka parcel {{1}} is now: {{2}}. Reply TRACK for details.",
         "example": {"body_text": [["X-1", "sample"]]}},
        {"type": "BUTTONS", "buttons": [{"type": "quick_reply", "text": "Track"}]},
    ]
    assert content(ours) == content(listed)
    listed[0]["text"] = "Your parcel {{1}}: {{2}}."
    assert content(ours) != content(listed)
