"""Protocols as data: TOML files with a source and verification tag for every number."""

from .registry import find_protocol, list_protocols
from .schema import Arm, Comparison, Constraint, Protocol, ProtocolError, Role, load_protocol

__all__ = ["Arm", "Comparison", "Constraint", "Protocol", "ProtocolError", "Role", "find_protocol", "list_protocols", "load_protocol"]
