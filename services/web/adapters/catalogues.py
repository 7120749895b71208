"""The pages' text in each language: the gettext catalogues under `services/web/locale`, compiled at start-up.

Compiling the `.po` files when the process starts (Babel, in memory) keeps one source of truth in the repository:
no `.mo` file to forget to rebuild after editing a translation. A language's catalogue is every `.po` file in its
`LC_MESSAGES` (`messages.po` for what all pages share, one file per audience's pages), merged in name order; a
msgid translated in two files is an error at start-up, so two audiences never silently disagree.
"""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from services.web.domain import LANGUAGES

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def load_catalogues(directory: Path = LOCALE_DIR) -> dict[str, gettext.NullTranslations]:
    """Each language's translations (English is the source text: no catalogue needed)."""
    catalogues: dict[str, gettext.NullTranslations] = {}
    for language in LANGUAGES:
        files = sorted((directory / language / "LC_MESSAGES").glob("*.po"))
        if not files:
            catalogues[language] = gettext.NullTranslations()
            continue
        merged = Catalog(locale=language)
        origin: dict[object, Path] = {}
        for po in files:
            with po.open("rb") as source:
                catalog = read_po(source, locale=language)
            if not origin:  # the first file's header (charset, plural forms) is the catalogue's
                merged.mime_headers = catalog.mime_headers
            for message in catalog:
                if not message.id:
                    continue
                if message.id in origin and merged[message.id].string != message.string:
                    raise ValueError(f"{po.name} and {origin[message.id].name} translate {message.id!r} differently")
                origin[message.id] = po
                merged[message.id] = message
        compiled = io.BytesIO()
        write_mo(compiled, merged)
        compiled.seek(0)
        catalogues[language] = gettext.GNUTranslations(compiled)
    return catalogues
