"""The safe expression language: results against numpy, rejections with a pointer."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from na64stat.selection.expressions import Expression, ExpressionError

RNG = np.random.default_rng(3)
ARRAYS = {
    "a": RNG.normal(size=50),
    "b": RNG.uniform(1, 2, size=50),
    "cells": RNG.uniform(0, 1, size=(50, 6, 6)),
    "srd": RNG.uniform(0, 10, size=(50, 3)),
    "n": RNG.integers(0, 4, size=50),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a + 2 * b - b / 4", lambda x: x["a"] + 2 * x["b"] - x["b"] / 4),
        ("a ** 2 % 3 // 1", lambda x: x["a"] ** 2 % 3 // 1),
        ("-a < b <= 1.5", lambda x: (-x["a"] < x["b"]) & (x["b"] <= 1.5)),
        (
            "a > 0 and b < 1.5 or not n == 2",
            lambda x: ((x["a"] > 0) & (x["b"] < 1.5)) | ~(x["n"] == 2),
        ),
        (
            "(a > 0) & ~(b < 1.5) | (n != 1)",
            lambda x: ((x["a"] > 0) & ~(x["b"] < 1.5)) | (x["n"] != 1),
        ),
        (
            "sqrt(abs(a)) + log(b) + log10(b) + exp(-b)",
            lambda x: np.sqrt(np.abs(x["a"])) + np.log(x["b"]) + np.log10(x["b"]) + np.exp(-x["b"]),
        ),
        ("min(a, b) + max(a, 0)", lambda x: np.minimum(x["a"], x["b"]) + np.maximum(x["a"], 0)),
        (
            "sum(cells) / max(cells)",
            lambda x: x["cells"].sum(axis=(1, 2)) / x["cells"].max(axis=(1, 2)),
        ),
        ("cells[2, 3] / sum(cells)", lambda x: x["cells"][:, 2, 3] / x["cells"].sum(axis=(1, 2))),
        (
            "all(srd > 1) and any(srd > 9)",
            lambda x: (x["srd"] > 1).all(axis=1) & (x["srd"] > 9).any(axis=1),
        ),
        (
            "mean(srd) + min(srd) + count(srd) + srd[0]",
            lambda x: x["srd"].mean(axis=1) + x["srd"].min(axis=1) + 3 + x["srd"][:, 0],
        ),
        ("where(a > 0, a, b)", lambda x: np.where(x["a"] > 0, x["a"], x["b"])),
        (
            "isfinite(a) and not isnan(b) and True",
            lambda x: np.isfinite(x["a"]) & ~np.isnan(x["b"]),
        ),
    ],
)
def test_expressions_equal_numpy(text: str, expected) -> None:
    e = Expression.parse(text)
    np.testing.assert_allclose(
        np.asarray(e.evaluate(ARRAYS), dtype=float), np.asarray(expected(ARRAYS), dtype=float)
    )


def test_jagged_reductions_match_awkward() -> None:
    mu = ak.Array([[1.0, -3.0, 2.0], [], [0.5]])
    env = {"mu": mu}
    np.testing.assert_array_equal(Expression.parse("count(mu)").evaluate(env), [3, 0, 1])
    np.testing.assert_allclose(Expression.parse("sum(abs(mu))").evaluate(env), [6.0, 0.0, 0.5])
    got = Expression.parse("max(mu)").evaluate(env)
    assert got[0] == 2.0 and np.isnan(got[1]) and got[2] == 0.5
    np.testing.assert_array_equal(
        Expression.parse("any(mu > 1.5) and count(mu) > 0").evaluate(env), [True, False, False]
    )


def test_names_are_collected() -> None:
    assert Expression.parse("sum(hcal_e) < 1 and abs(p - 100) < 3").names == {"hcal_e", "p"}


@pytest.mark.parametrize(
    ("text", "message", "pointer"),
    [
        ("__import__('os')", "unknown function '__import__'", "^^^^^^^^^^"),
        ("__import__('os').system('x')", "only plain function names", "^^^^^^^^^^"),
        ("a.real", "attribute is not allowed", "^^^^^^"),
        ("open(a)", "unknown function 'open'", "^^^^"),
        ("a[b]", "only integer constants", "^"),
        ("'text' == a", "numbers only", "^^^^^^"),
        ("sum(a, axis=1)", "keyword arguments", "^"),
        ("lambda x: x", "lambda is not allowed", "^"),
        ("[x for x in a]", "listcomp is not allowed", "^"),
        ("a if b else 1", "ifexp is not allowed", "^"),
        ("a +", "cannot parse", "^"),
        ("min(a, b, n)", "wrong number of arguments", "^"),
        ("a @ b", "operator MatMult is not allowed", "^"),
        ("a is None", "comparison Is is not allowed", "^"),
        ("sqrt", "used without a call", "^"),
        ("", "empty expression", ""),
    ],
)
def test_rejected_expressions_point_at_the_offending_part(
    text: str, message: str, pointer: str
) -> None:
    with pytest.raises(ExpressionError, match=r"my\.yaml: cut 'c'") as info:
        Expression.parse(text, where="my.yaml: cut 'c'")
    assert message in str(info.value)
    assert pointer in str(info.value)


def test_unknown_function_is_reported_before_its_arguments() -> None:
    with pytest.raises(ExpressionError) as info:
        Expression.parse("system(a)")
    assert str(info.value).splitlines()[-1].strip() == "^^^^^^"


def test_nan_compares_false() -> None:
    e = Expression.parse("x < 3")
    np.testing.assert_array_equal(
        e.evaluate({"x": np.array([1.0, np.nan, 5.0])}), [True, False, False]
    )
