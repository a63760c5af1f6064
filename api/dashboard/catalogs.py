"""Keeping the dashboard's message catalogs in step with its templates.

    python -m api.dashboard.catalogs          # re-extract, update every .po
    python -m api.dashboard.catalogs --check  # exit 1 if a message lacks a translation

Messages are extracted from the templates (`_()`, `{% trans %}`), from the
dashboard's Python (`N_()`, `gettext_()`) and from the API's error answers:
the ticket's refusals in domain/, the configuration's in store/ and the API's
own messages in api/, each marked with `N_()`. Each language's .po gains the new
messages (untranslated, for a translator to fill in) and loses the obsolete
ones. The .po files are what the repository keeps; they are compiled when
the app first needs them (see i18n.py). `--check` also refuses a translation
whose {placeholders} are not the message's: it could not be filled in.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from string import Formatter

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from api.dashboard.i18n import CATALOGS, DOMAIN, LOCALES, SOURCE_LOCALE

PACKAGE = Path(__file__).parent
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "gettext_": None}
COMMENT_TAGS = ("Translators:",)
# The error answers the dashboard shows, outside its own package (named in the
# catalogs by their path from the repository's root).
REPOSITORY = PACKAGE.parent.parent
ELSEWHERE = {
    "domain": [("**.py", "python")],
    "store": [("migrations/**", "ignore"), ("**.py", "python")],
    "api": [("dashboard/**", "ignore"), ("**.py", "python")],
}
# The mails (activities/templates/, subjects in activities/), written in their
# reader's language with the same catalogs.
MAILS = "activities"
MAIL_METHODS = [("templates/**", "jinja2.ext:babel_extract"), ("**.py", "python")]
MAIL_OPTIONS = {"templates/**": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}


def extract() -> Catalog:
    template = Catalog(project="cxloop dashboard", domain=DOMAIN, locale=SOURCE_LOCALE)
    for filename, lineno, message, comments, context in _marked_messages():
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def _marked_messages() -> Iterator[tuple]:
    yield from extract_from_dir(
        PACKAGE, METHODS, keywords=KEYWORDS, options_map=OPTIONS, comment_tags=COMMENT_TAGS
    )
    for directory, methods in ELSEWHERE.items():
        for filename, *found in extract_from_dir(
            REPOSITORY / directory, methods, keywords={"N_": None}, comment_tags=COMMENT_TAGS
        ):
            yield (f"{directory}/{filename}", *found)
    for filename, *found in extract_from_dir(
        REPOSITORY / MAILS, MAIL_METHODS, keywords=KEYWORDS, options_map=MAIL_OPTIONS, comment_tags=COMMENT_TAGS
    ):
        yield (f"{MAILS}/{filename}", *found)


def _po_path(locale: str) -> Path:
    return CATALOGS / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(locale: str) -> Catalog:
    with _po_path(locale).open("rb") as po:
        return read_po(po, locale=locale, domain=DOMAIN)


def _placeholders(text: str | tuple[str, ...]) -> set[str] | None:
    """The {names} a message (all its plural forms) is filled in with (None:
    not a valid template)."""
    forms = " ".join(text) if isinstance(text, tuple) else text
    try:
        return {field for _, field, _, _ in Formatter().parse(forms) if field is not None}
    except ValueError:
        return None


def missing(locale: str, template: Catalog | None = None) -> list[str]:
    """Messages of the templates that the language's catalog does not translate
    (or translates with other {placeholders} than the message's)."""
    template = template or extract()
    catalog = load(locale)
    gaps = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)
        if (
            found is None
            or found.fuzzy
            or not (found.string if isinstance(found.string, str) else all(found.string))
            or (message.python_brace_format and _placeholders(found.string) != _placeholders(message.id))
        ):
            gaps.append(message.id if isinstance(message.id, str) else message.id[0])
    return gaps


def update() -> None:
    template = extract()
    CATALOGS.mkdir(parents=True, exist_ok=True)
    with (CATALOGS / f"{DOMAIN}.pot").open("wb") as pot:
        write_po(pot, template, omit_header=False, sort_output=True, width=100)
    for locale in LOCALES:
        if locale == SOURCE_LOCALE:
            continue
        path = _po_path(locale)
        if path.exists():
            catalog = load(locale)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, domain=DOMAIN, project="cxloop dashboard")
        # No fuzzy matching: a guessed translation shown as if checked is worse than English.
        catalog.update(template, no_fuzzy_matching=True)
        with path.open("wb") as po:
            write_po(po, catalog, ignore_obsolete=True, sort_output=True, width=100, include_previous=False)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        template = extract()
        failed = False
        for locale in LOCALES:
            if locale != SOURCE_LOCALE and (gaps := missing(locale, template)):
                failed = True
                print(f"{locale}: {len(gaps)} untranslated: {gaps[:10]}")
        return 1 if failed else 0
    update()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
