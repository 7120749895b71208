"""The pages' text in each language: the gettext catalogues under `services/web/locale`, compiled at start-up.

Compiling the `.po` files when the process starts (Babel, in memory) keeps one source of truth in the repository:
no `.mo` file to forget to rebuild after editing a translation.
"""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from services.web.domain import LANGUAGES

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def load_catalogues(directory: Path = LOCALE_DIR) -> dict[str, gettext.NullTranslations]:
    """Each language's translations (English is the source text: no catalogue needed)."""
    catalogues: dict[str, gettext.NullTranslations] = {}
    for language in LANGUAGES:
        po = directory / language / "LC_MESSAGES" / "messages.po"
        if not po.exists():
            catalogues[language] = gettext.NullTranslations()
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=language)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        catalogues[language] = gettext.GNUTranslations(compiled)
    return catalogues
