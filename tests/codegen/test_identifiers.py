"""The sanitizer between model names and C text (edgekd/codegen/identifiers.py)."""
from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.codegen.identifiers import (
    C_KEYWORDS, MAX_IDENTIFIER, IdentifierScope, c_comment_name, c_identifier, short_name,
)

IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_becomes_a_valid_unreserved_identifier(name):
    ident = c_identifier(name)
    assert IDENTIFIER.match(ident), ident
    assert ident not in C_KEYWORDS
    assert len(ident) <= MAX_IDENTIFIER
    assert c_identifier(name) == ident  # deterministic
    assert c_identifier(ident) == ident  # a valid identifier is its own image


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_comment_names_cannot_close_or_open_anything(name):
    text = c_comment_name(name)
    assert IDENTIFIER.match(text), text
    for dangerous in ("*/", "/*", "//", "\\", '"', "'", "\n", "?"):
        assert dangerous not in text


def test_examples():
    assert c_identifier('*/ system("x"); /*') == "system_x"
    assert c_identifier("a b") == "a_b"
    assert c_identifier("int") == "int_"
    assert c_identifier("9lives") == "t_9lives"
    assert c_identifier("_reserved") == "reserved"
    assert c_identifier("__") == "t"
    assert c_identifier("") == "t"
    assert c_identifier("ñämé µ") == "name"
    assert c_identifier("温度") == "t"
    assert c_identifier("model/conv2d/Relu") == "model_conv2d_Relu"


def test_long_names_are_cut_but_stay_distinct():
    a = c_identifier("functional_1/conv2d/BiasAdd/ReadVariableOp/resource_a")
    b = c_identifier("functional_1/conv2d/BiasAdd/ReadVariableOp/resource_b")
    assert a != b
    assert len(a) == len(b) == MAX_IDENTIFIER


def test_short_name_keeps_the_first_of_tflites_fused_names():
    assert short_name("model/act/Relu;model/bn/FusedBatchNormV3;model/conv/Conv2D") == \
        "model/act/Relu"
    assert short_name(";x") == ";x"  # nothing before the first ";": keep it all


def test_scope_makes_names_unique():
    scope = IdentifierScope(reserved=("input",))
    names = [scope.unique(n) for n in ("input", "a b", "a_b", "a-b", "int", "int")]
    assert names == ["input_2", "a_b", "a_b_2", "a_b_3", "int_", "int__2"]
    assert len(set(names)) == len(names)
