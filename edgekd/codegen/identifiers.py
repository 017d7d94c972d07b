"""The one sanitizer between names from model files and generated C text.

Every name that reaches a generated file, as an identifier or inside a comment, passes
through ``c_identifier``: the result holds only ``[A-Za-z0-9_]``, never starts with a digit
or an underscore (names with a leading underscore are reserved in C), is never a C keyword
and is never empty. A name like ``*/ system("x"); /*`` therefore becomes
``system_x`` and cannot end a comment, open a string or start a statement.
``IdentifierScope`` adds uniqueness within one C scope.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

# C99/C11/C23 keywords, plus names the generated code or its headers define, which a
# model must not be able to shadow.
C_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern float for goto
    if inline int long register restrict return short signed sizeof static struct switch
    typedef union unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex
    _Generic _Imaginary _Noreturn _Static_assert _Thread_local alignas alignof bool
    constexpr false nullptr static_assert thread_local true typeof typeof_unqual
    NULL EOF main errno assert offsetof asm fortran
""".split())

# Long names (TFLite joins fused op names with ";") are cut to stay readable, and given a
# hash suffix so that two long names sharing a prefix stay different.
MAX_IDENTIFIER = 40
MAX_COMMENT_NAME = 80
_MIN_CUT = 12  # room for a few characters plus the 7-character hash suffix

_INVALID = re.compile(r"[^A-Za-z0-9]+")

# The C runtime's namespaces (ekd_*, EKD_*, edgekd/, EDGEKD_*): a model name there could
# define a symbol, macro or include guard the runtime has or will have. Generated include
# guards live under EDGEKD_MODEL_, which the runtime never uses.
RESERVED_MODEL_PREFIXES = ("ekd", "edgekd")


def reserved_model_name(name: str) -> bool:
    """Whether a model name (the prefix of every generated symbol) lies in the runtime's
    namespace: ``ekd``, ``edgekd``, or either followed by ``_``, in any case."""
    lowered = name.lower()
    return any(lowered == p or lowered.startswith(p + "_") for p in RESERVED_MODEL_PREFIXES)


def c_identifier(name: str, fallback: str = "t", max_len: int = MAX_IDENTIFIER) -> str:
    """A valid, non-reserved C identifier derived from ``name`` (any string).

    Accents are dropped; runs of other characters become one ``_``; leading and trailing
    ``_`` are dropped; a name that starts with a digit gets ``fallback + "_"`` in front; a
    keyword gets a trailing ``_``; names longer than ``max_len`` are cut and end in 6 hex
    digits of their hash. An empty result becomes ``fallback`` (itself assumed valid).
    """
    # Accented letters keep their base letter ("ñ" -> "n"); other non-ASCII becomes "_".
    decomposed = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    text = _INVALID.sub("_", text).strip("_")
    if not text:
        return fallback
    if text[0].isdigit():
        text = f"{fallback}_{text}"
    if text in C_KEYWORDS:
        text += "_"
    max_len = max(max_len, _MIN_CUT)
    if len(text) > max_len:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:6]
        text = f"{text[:max_len - 7].rstrip('_')}_{digest}"
    return text


def short_name(name: str) -> str:
    """The part of a tensor name a reader recognises: TFLite's converter names a fused
    tensor by joining the names of the ops it came from with ";"; keep the first."""
    head = name.split(";", 1)[0]
    return head if head.strip() else name


def c_comment_name(name: str) -> str:
    """A model name as it may appear inside a C comment: its short name sanitized like an
    identifier, only allowed to be longer, so a reader can still recognise it."""
    return c_identifier(short_name(name), fallback="unnamed", max_len=MAX_COMMENT_NAME)


class IdentifierScope:
    """Hands out C identifiers that are unique within one scope (a file, a struct).

    ``reserve`` claims names the template itself uses; ``unique`` sanitizes a model name
    and appends ``_2``, ``_3``, ... until it is new.
    """

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self._taken: set[str] = set()
        for name in reserved:
            self.reserve(name)

    def reserve(self, identifier: str) -> None:
        if c_identifier(identifier) != identifier:
            raise ValueError(f"{identifier!r} is not a valid identifier to reserve")
        self._taken.add(identifier)

    def unique(self, name: str, prefix: str = "", fallback: str = "t") -> str:
        """A new identifier ``prefix + c_identifier(short_name(name))``, made unique in
        this scope by a ``_2``, ``_3``... suffix. ``prefix`` must be a valid start."""
        base = prefix + c_identifier(short_name(name), fallback=fallback)
        candidate, counter = base, 1
        while candidate in self._taken:
            counter += 1
            candidate = f"{base}_{counter}"
        self._taken.add(candidate)
        return candidate
