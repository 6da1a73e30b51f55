"""The shipped protocols (``sbrt_qa/protocols/*.toml``, package data) and lookup by id or file.

The shipped files are read through :mod:`importlib.resources`, so they are found the same
way in a source checkout, an editable install and an installed wheel.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from ..errors import InputError
from .schema import Protocol, ProtocolError, load_protocol

DEFAULT_PROTOCOL = "nct06863584"


def shipped_protocol_files() -> list[Traversable]:
    """The TOML files shipped inside the package, sorted by name."""
    folder = files("sbrt_qa").joinpath("protocols")
    return sorted((f for f in folder.iterdir() if f.name.endswith(".toml") and f.is_file()), key=lambda f: f.name)


def list_protocols() -> list[Protocol]:
    """Every shipped protocol, sorted by id."""
    return sorted((load_protocol(p) for p in shipped_protocol_files()), key=lambda p: p.id)


def find_protocol(id_or_file: str | None) -> Protocol:
    """A protocol by id (shipped) or by path to a TOML file; the trial's protocol when None.

    Raises
    ------
    InputError
        Unknown id, missing file, or a file that fails validation (with key path and line).
    """
    try:
        return _find(id_or_file)
    except ProtocolError as exc:
        raise InputError(f"protocol file invalid: {exc}") from None


def _find(id_or_file: str | None) -> Protocol:
    key = id_or_file or DEFAULT_PROTOCOL
    candidate = Path(key)
    if candidate.suffix == ".toml" or candidate.exists():
        if not candidate.is_file():
            raise InputError("no such protocol file", candidate)
        return load_protocol(candidate)
    shipped = shipped_protocol_files()
    for f in shipped:
        if f.name == f"{key}.toml":
            return load_protocol(f)
    known = ", ".join(f.name.removesuffix(".toml") for f in shipped)
    raise InputError(f"unknown protocol {key!r}; shipped protocols: {known or '(none found: the package is incomplete)'}")
