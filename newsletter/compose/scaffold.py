"""`newsletter theme new NAME`: a theme folder that starts as the built-in theme and changes a little.

The new theme's template extends the built-in one (`default:`), so it keeps every improvement
of the default theme and overrides only the blocks its owner writes.
"""

from __future__ import annotations

import re
from pathlib import Path

from newsletter.errors import ConfigError
from newsletter.sections import DEFAULT_SECTIONS

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

THEME_TOML = """\
# Theme "{name}": only the keys you change; everything else comes from the built-in theme
# (see its theme.toml for every key). `newsletter check` tests these colours for contrast.
title = "IT in {{month}}"

[colors]
brand = "#1f4e79"       # header band, headings and headline numbers
brand_text = "#ffffff"  # text on the brand colour

[logo]
url = ""                # a hosted https:// image, or:
file = ""               # a .png/.jpg beside this file, sent inside the email
alt = ""
width = 120

[links]
portal = ""             # "Need help?" button
status = ""
contact = ""
"""

TEMPLATE = """\
{{#- Theme "{name}". It extends the built-in newsletter; override only the blocks you change.
    Sections: {sections}
    (their order and presence: `sections` in newsletter.toml); also head, header and footer.
    A block of your own becomes a section once newsletter.toml's `sections` names it. -#}}
{{% extends "default:newsletter.mjml.j2" %}}

{{# Example: a tip of the month with a coloured band. Remove the comment marks to use it.
{{% block tip %}}
{{% if highlights.get("tip_of_the_month") %}}
<mj-section background-color="{{{{ theme.colors.brand }}}}" padding="16px 24px">
  <mj-column>
    {{% for item in highlights.tip_of_the_month %}}
    <mj-text color="{{{{ theme.colors.brand_text }}}}" font-weight="700">{{{{ item.title }}}}</mj-text>
    <mj-text color="{{{{ theme.colors.brand_text }}}}">{{{{ item.html | safe }}}}</mj-text>
    {{% endfor %}}
  </mj-column>
</mj-section>
{{% endif %}}
{{% endblock %}}
#}}
"""


def create_theme(templates_root: Path, name: str) -> Path:
    """Create templates_root/NAME with theme.toml and newsletter.mjml.j2; refuse to overwrite."""
    if not _NAME.match(name) or name == "default":
        raise ConfigError(f"theme name {name!r}: use lower-case letters, digits, - and _ (not 'default')")
    folder = templates_root / name
    if folder.exists():
        raise ConfigError(f"{folder} exists already; choose another name or edit it")
    try:
        folder.mkdir(parents=True)
        (folder / "theme.toml").write_text(THEME_TOML.format(name=name), encoding="utf-8")
        template = TEMPLATE.format(name=name, sections=", ".join(DEFAULT_SECTIONS))
        (folder / "newsletter.mjml.j2").write_text(template, encoding="utf-8")
    except OSError as exc:  # templates/ is a file, or a folder this user may not write in
        raise ConfigError(f"cannot create {folder}: {exc.strerror}") from None
    return folder
