"""GSM 03.38 basic character set: keep a text in it so an SMS stays GSM-7 encoded.

One character outside the basic table (an emoji, a curly quote, a Polish ``ł``) forces
the whole message into UCS-2, which cuts a segment from 160 to 70 characters (3GPP TS
23.038, section 6.2.1, "GSM 7 bit Default Alphabet"; TS 23.040 for the 140-octet user
data of one segment). The extension table (``{ } [ ] ~ \\ | ^ €``) costs two septets per
character, so it is avoided too.
"""

from __future__ import annotations

import re
import unicodedata

#: The 3GPP TS 23.038 default alphabet, minus the escape (0x1B) — 127 characters.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

#: One segment of GSM-7 text (TS 23.040: 140 octets × 8 / 7 bits).
SEGMENT_CHARS = 160

#: Characters that Unicode decomposition does not reduce to a GSM letter.
_REPLACEMENTS = {
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "«": '"',
    "»": '"',
    "–": "-",
    "—": "-",
    "‐": "-",
    "−": "-",
    "…": "...",
    "•": "-",
    "·": ".",
    "\t": " ",
    "\u00a0": " ",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "Th",
    "œ": "oe",
    "Œ": "OE",
    "ı": "i",
    "ŀ": "l",
    "Ŀ": "L",
    "ĸ": "k",
    "[": "(",
    "]": ")",
    "{": "(",
    "}": ")",
    "~": "-",
    "|": "/",
    "\\": "/",
    "^": "",
    "€": "EUR",
}


def to_gsm7(text: str) -> str:
    """Transliterate ``text`` into the GSM 03.38 basic character set.

    Characters already in the set are kept (``é``, ``ñ``, ``ü``, ``ß``, ``Ø``). Others
    are mapped by a small table (curly quotes, dashes, ``ł``), else reduced to their base
    letter by Unicode NFKD decomposition (``ć`` → ``c``, ``Ş`` → ``S``), else dropped
    (emoji, CJK). Runs of spaces collapse to one.
    """
    out: list[str] = []
    for char in text:
        if char in GSM7_BASIC:
            out.append(char)
        elif char in _REPLACEMENTS:
            out.append(_REPLACEMENTS[char])
        else:
            base = unicodedata.normalize("NFKD", char)
            out.append("".join(c for c in base if c in GSM7_BASIC and c not in "\r\n"))
    return re.sub(r" {2,}", " ", "".join(out))


def is_gsm7_basic(text: str) -> bool:
    """True when every character is in the GSM 03.38 basic table."""
    return all(char in GSM7_BASIC for char in text)
