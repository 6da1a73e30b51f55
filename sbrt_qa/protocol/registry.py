"""The shipped protocols (``protocols/*.toml`` beside the package) and lookup by id or file."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .schema import Protocol, ProtocolError, load_protocol

PROTOCOL_DIR = Path(__file__).resolve().parents[2] / "protocols"
DEFAULT_PROTOCOL = "nct06863584"


def list_protocols() -> list[Protocol]:
    """Every shipped protocol, sorted by id."""
    return sorted((load_protocol(p) for p in PROTOCOL_DIR.glob("*.toml")), key=lambda p: p.id)


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
    path = PROTOCOL_DIR / f"{key}.toml"
    if path.is_file():
        return load_protocol(path)
    known = ", ".join(p.stem for p in sorted(PROTOCOL_DIR.glob("*.toml")))
    raise InputError(f"unknown protocol {key!r}; shipped protocols: {known}")
