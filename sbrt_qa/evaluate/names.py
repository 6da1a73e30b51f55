"""ROI names as a physicist reads them: normalised spellings, the synonym table, and helper structures.

Helper structures (PRVs, optimisation and ring structures, crops such as ``Lung-PTV``,
and ROIs of RTROIInterpretedType CONTROL or AVOIDANCE) never stand in for an organ. They
are told apart by whole tokens of the name, not substrings, so that ``Opt`` in
``OpticNrv`` or ``Ring`` in ``Ringknorpel`` do not make an organ a helper.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

#: Letters NFKD does not decompose, written as clinics transliterate them.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ß": "ss"})
_SEPARATORS = re.compile(r"[\s_\-]+")

#: RTROIInterpretedType values of helper structures (PS3.3 C.8.8.8).
HELPER_TYPES = frozenset({"CONTROL", "AVOIDANCE"})
#: Types an organ at risk may carry: ORGAN, or none at all (GammaPlan writes none).
ORGAN_TYPES = frozenset({"ORGAN", ""})
TARGET_TYPES = frozenset({"PTV", "CTV", "GTV", "ITV", "TREATED_VOLUME", "IRRAD_VOLUME"})

_OPTIMISATION_TOKENS = frozenset({
    "opt", "optim", "optimization", "optimisation", "optimierung", "ring", "rings", "avoid", "avoidance", "avd", "help",
    "helper", "hilf", "hilfs", "hlp", "dummy", "tmp", "temp", "ctrl", "control", "nt", "block", "blocker", "ghost",
    "isodose", "idl", "dose",
})
_CROP_TOKENS = frozenset({"minus", "wo", "ohne", "excl", "exkl", "sans", "crop", "cropped", "sub"})
_PRV_TOKENS = frozenset({"prv", "exp", "expanded", "margin", "plus"})
_TARGET_WORD = r"(?:[pic]?gtv|ptv|ctv|itv|target|tumou?r|pgtv)"
_CROP = re.compile(r"-\s*" + _TARGET_WORD + r"(?![a-z])", re.IGNORECASE)
_EXPANSION = re.compile(r"\+\s*\d")
#: ``z_Cord``, ``zz Cord``, ``x-Cord``, ``zzCord``, ``ZZSpinalCord``: a leading run of z or x set off from
#: the rest (not the Z of ``ZYGOMA`` or ``Zygoma``).
_MARKER_PREFIX = re.compile(r"^\s*(?:(?:[zZ]+|[xX]+)[\W_]+|(?:z+|x+)(?=[A-Z])|(?:Z+|X+)(?=[A-Z][a-z]))")
#: A following token that makes "opt" mean optic, not optimisation (``Opt_Chiasm``, ``OptNrv_L``).
_OPTIC_FOLLOWERS = ("chias", "nerv", "nrv", "n")


def fold(name: str) -> str:
    """Case-folded, without diacritics (NFKD, combining marks dropped) and with ligatures spelt out."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def normalise(name: str) -> str:
    """The matching key of a name: :func:`fold` with spaces, underscores and hyphens removed."""
    return _SEPARATORS.sub("", fold(name))


def tokens(name: str) -> list[str]:
    """Words of a ROI name, folded: split at non-alphanumerics, lower-to-upper case and letter-digit changes.

    ``z_SpinalCord`` -> ``["z", "spinal", "cord"]``; ``PRV3mm`` -> ``["prv", "3", "mm"]``;
    ``OpticNrv_L`` -> ``["optic", "nrv", "l"]``.
    """
    plain = unicodedata.normalize("NFKD", name.translate(_LIGATURES))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    out: list[str] = []
    for chunk in re.split(r"[\W_]+", plain):
        for word in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[A-Za-z]+|\d+", chunk):
            out.append(word.casefold())
    return out


def helper_kinds(name: str, interpreted_type: str | None = None) -> frozenset[str]:
    """What kind of helper structure a name (or a role) describes; empty for an organ or a target.

    Returns a subset of ``{"control", "prv", "derived", "optimisation"}``:
    ``control`` for RTROIInterpretedType CONTROL or AVOIDANCE, ``prv`` for planning organ
    at risk volumes and expansions (``PRV``, ``_PRV05``, ``PRV3mm``, ``Cord+5mm``),
    ``derived`` for crops (``Lung-PTV``, ``Lungs_minus_PTV``), ``optimisation`` for
    ``z_``/``zz_``/``x_`` prefixes and optimisation, ring, avoidance and isodose structures.
    """
    kinds: set[str] = set()
    if (interpreted_type or "").upper() in HELPER_TYPES:
        kinds.add("control")
    words = tokens(name)
    key = normalise(name)
    if any(w in _PRV_TOKENS for w in words) or re.search(r"prv\d*(mm)?$", key) or key.startswith("prv") or _EXPANSION.search(name):
        kinds.add("prv")
    elif any(w == "mm" and i > 0 and words[i - 1].isdigit() for i, w in enumerate(words)):
        kinds.add("prv")  # Cord_5mm: an expansion by a margin
    if _CROP.search(fold(name)) or any(w in _CROP_TOKENS for w in words):
        kinds.add("derived")
    if _MARKER_PREFIX.match(name):
        kinds.add("optimisation")
    for i, w in enumerate(words):
        if w in _OPTIMISATION_TOKENS:
            if w == "opt" and i + 1 < len(words) and words[i + 1].startswith(_OPTIC_FOLLOWERS):
                continue
            kinds.add("optimisation")
    return frozenset(kinds)


@dataclass(frozen=True)
class SynonymTable:
    """Spellings of TG-263 structures: normalised spelling -> TG-263 name, and each structure's words."""

    by_spelling: dict[str, str]
    words: dict[str, frozenset[str]]  # TG-263 name -> words of its spellings, without side words
    core: dict[str, frozenset[str]] = field(default_factory=dict)  # TG-263 name -> main spellings (one side word), for near misses
    families: dict[str, frozenset[str]] = field(default_factory=dict)  # TG-263 name -> its normalised spellings
    pairs: dict[str, tuple[str, str]] = field(default_factory=dict)  # compound structure -> its sides (Lungs -> Lung_L, Lung_R)

    def __post_init__(self) -> None:
        grouped: dict[str, set[str]] = {}
        for spelling, structure in self.by_spelling.items():
            grouped.setdefault(structure, set()).add(spelling)
        self.families.update({k: frozenset(v) for k, v in grouped.items()})

    def core_of(self, tg263_name: str) -> frozenset[str]:
        """The main normalised spellings of a structure (sided ones with ``L``/``R`` after the name only):
        the ones a near miss is measured against."""
        return self.core.get(tg263_name, frozenset()) | {normalise(tg263_name)}

    def words_of(self, tg263_name: str) -> frozenset[str]:
        """Words of a structure's spellings (``SpinalCord`` -> spinal, cord, myelon, ...)."""
        return self.words.get(tg263_name, frozenset(tokens(tg263_name)))

    def family(self, tg263_name: str) -> frozenset[str]:
        """Every normalised spelling of one structure (its own name included)."""
        return self.families.get(tg263_name, frozenset()) | {normalise(tg263_name)}

    def sides_of(self, tg263_name: str) -> tuple[str, str] | None:
        """The two sided structures a compound structure is the union of (``Lungs`` -> ``Lung_L``, ``Lung_R``), or None."""
        return self.pairs.get(tg263_name)

    def structure_of(self, name: str) -> str | None:
        """The TG-263 structure a ROI name spells, or None."""
        return self.by_spelling.get(normalise(name))


def _spellings(data: dict) -> tuple[dict[str, str], dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    sides = data.get("sides", {})
    out: dict[str, str] = {}
    vocabulary: dict[str, set[str]] = {}
    core: dict[str, set[str]] = {}

    def add(spelling: str, structure: str) -> None:
        key = normalise(spelling)
        if out.get(key, structure) != structure:
            raise ValueError(f"synonym table: {spelling!r} spells both {out[key]} and {structure}")
        out[key] = structure

    for structure, entry in data.get("organs", {}).items():
        add(structure, structure)
        for s in entry.get("synonyms", []):
            add(s, structure)
        vocabulary[structure] = {w for s in [structure, *entry.get("synonyms", [])] for w in tokens(s)}
        core[structure] = {normalise(s) for s in [structure, *entry.get("synonyms", [])]}
    for base, entry in data.get("sided", {}).items():
        for side, side_words in sides.items():
            structure = f"{base}_{side}"
            add(structure, structure)
            vocabulary[structure] = {w for n in [base, *entry.get("names", [])] for w in tokens(n)}
            core[structure] = {normalise(structure)} | {normalise(f"{n}{side_words[0]}") for n in entry.get("names", [])}
            for n in entry.get("names", []):
                for w in side_words:
                    add(f"{n} {w}", structure)
                    add(f"{w} {n}", structure)
    return out, {k: frozenset(v) for k, v in vocabulary.items()}, {k: frozenset(v) for k, v in core.items()}


def _pairs(data: dict) -> dict[str, tuple[str, str]]:
    sided, sides = data.get("sided", {}), data.get("sides", {})
    out = {}
    for compound, base in data.get("pairs", {}).items():
        if base not in sided or set(sides) != {"L", "R"}:
            raise ValueError(f"synonym table: pair {compound} = {base!r} names no [sided.{base}] table (or [sides] is not L and R)")
        out[compound] = (f"{base}_L", f"{base}_R")
    return out


@lru_cache(maxsize=1)
def synonym_table() -> SynonymTable:
    """The synonym table shipped in the package (``sbrt_qa/protocol/synonyms.toml``)."""
    text = resources.files("sbrt_qa.protocol").joinpath("synonyms.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    return SynonymTable(*_spellings(data), pairs=_pairs(data))


_NOT_ORGAN_WORDS = _OPTIMISATION_TOKENS | _CROP_TOKENS | _PRV_TOKENS | {"mm", "z", "zz", "zzz", "x", "xx"}


def base_words(name: str) -> list[str]:
    """The words of a name that could name an organ: without a crop's subtrahend (``Lung-PTV`` -> lung),
    helper words (``z``, ``PRV``, ``opt``, ``ring``, ``5mm``) and numbers (``HEART4`` -> heart)."""
    crop = _CROP.search(name)
    if crop and crop.start() > 0:
        name = name[: crop.start()]
    words = tokens(name)
    cut = next((i for i, w in enumerate(words) if w in _CROP_TOKENS), None)
    if cut:
        words = words[:cut]
    return [w for w in words if w not in _NOT_ORGAN_WORDS and not w.isdigit()]
