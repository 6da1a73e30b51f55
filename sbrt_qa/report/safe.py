"""Outputs a hostile string cannot abuse: CSV cells, terminal text, HTML links and headers.

Every text an export carries (plan labels, ROI names, descriptions, folder names) reaches
the reports. None of it may become a spreadsheet formula, a terminal control sequence,
live markup or a link to another scheme.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote

#: Strict policy for every HTML page: nothing loads or runs; images only as data: URIs,
#: styles only the page's own <style>.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
                           "form-action 'none'")
CSP_META = f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet cannot run.

    A number stays a number: a negative figure is data, not a formula. Text that starts
    with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading single quote, as
    OWASP recommends, so it is shown as text.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


class SafeWriter:
    """A :func:`csv.writer` whose every cell goes through :func:`csv_cell`."""

    def __init__(self, fh, **kwargs: Any) -> None:
        self._writer = csv.writer(fh, **kwargs)

    def writerow(self, row) -> Any:
        return self._writer.writerow([csv_cell(c) for c in row])

    def writerows(self, rows) -> None:
        for row in rows:
            self.writerow(row)


#: Unicode format characters that reorder or hide text on a terminal (bidi overrides, isolates, marks).
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")


_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _visible(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """Control characters shown as escapes (``\\x1b``, ``\\r``, ``\\n``, ``\\u202e``), everything else as it is.

    For one field of text output: a newline inside a plan label must not start a line
    that looks like the tool's own.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch == " " or ch.isprintable() and ch not in _BIDI:
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI:
            out.append(_visible(ch))
        else:  # other non-printable characters (e.g. zero-width joiners in names): kept
            out.append(ch)
    return "".join(out)


def escaped(obj: Any) -> Any:
    """A copy of a result object with every string field passed through :func:`escape_controls`.

    The text renderers work on this copy, so no field can slip through unescaped; their own
    colour sequences are added afterwards.
    """
    if isinstance(obj, str):
        return escape_controls(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: escaped(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
        return dataclasses.replace(obj, **changes)
    if isinstance(obj, list):
        return [escaped(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(escaped(v) for v in obj)
    if isinstance(obj, dict):
        return {escaped(k): escaped(v) for k, v in obj.items()}
    return obj


def relative_link(target: str | Path, base: str | Path) -> str:
    """A relative, URL-encoded link from folder ``base`` to ``target``.

    Every path segment is percent-encoded, ``:`` included, so no link can carry a scheme:
    a folder named ``javascript:alert(1)`` becomes ``javascript%3Aalert%281%29/...``, a path.
    """
    rel = os.path.relpath(str(target), str(base)).replace(os.sep, "/")
    return "/".join(quote(part, safe="") for part in rel.split("/"))
