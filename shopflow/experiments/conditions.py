"""Checks a targeting condition (GrowthBook's MongoDB-style language) before it is served.

Evaluation itself is the GrowthBook SDK's ``evalCondition``, so server-side evaluation and the
official SDKs share one reading of every operator; this module only refuses what they would
silently treat as "no match": an unknown operator, a regex that does not compile, a wrong
argument type.
"""

from __future__ import annotations

import re
from typing import Any

LOGICAL = {"$and", "$or", "$nor"}
LIST_ARG = {"$in", "$nin", "$ini", "$nini", "$all", "$alli"}
SCALAR_ARG = {"$eq", "$ne", "$lt", "$lte", "$gt", "$gte"}
VERSION_ARG = {"$veq", "$vne", "$vlt", "$vlte", "$vgt", "$vgte"}
REGEX_ARG = {"$regex", "$regexi", "$notRegex", "$notRegexi"}
TYPES = {"string", "number", "boolean", "array", "object", "null", "undefined"}
VERSION = re.compile(r"^v?\d+(\.\d+)*([-+][0-9A-Za-z.-]+)?$")


class ConditionError(ValueError):
    """A condition the evaluator cannot read; the message says where and why."""


def check_condition(condition: Any, where: str = "condition") -> None:
    """Raise ``ConditionError`` unless ``condition`` is a well-formed condition object."""
    if not isinstance(condition, dict):
        raise ConditionError(f"{where}: a condition is a mapping, got {type(condition).__name__}")
    for key, value in condition.items():
        here = f"{where}.{key}"
        if key in LOGICAL:
            if not isinstance(value, list) or not value:
                raise ConditionError(f"{here}: needs a non-empty list of conditions")
            for i, item in enumerate(value):
                check_condition(item, f"{here}[{i}]")
        elif key == "$not":
            check_condition(value, here)
        elif key.startswith("$"):
            raise ConditionError(f"{here}: unknown operator {key!r} at the top of a condition")
        else:
            _check_value(value, here)


def _check_value(value: Any, where: str) -> None:
    """A value to match an attribute against: a literal, or an object of operators."""
    if isinstance(value, dict) and value and all(str(k).startswith("$") for k in value):
        for op, arg in value.items():
            _check_operator(op, arg, f"{where}.{op}")
    elif isinstance(value, dict) and any(str(k).startswith("$") for k in value):
        raise ConditionError(f"{where}: operators and plain keys cannot be mixed")


def _check_operator(op: str, arg: Any, where: str) -> None:
    if op in LIST_ARG:
        if not isinstance(arg, list):
            raise ConditionError(f"{where}: needs a list")
    elif op in SCALAR_ARG:
        if isinstance(arg, (dict, list)):
            raise ConditionError(f"{where}: needs a string, number or boolean")
    elif op in VERSION_ARG:
        if not isinstance(arg, str) or not VERSION.match(arg):
            raise ConditionError(f"{where}: {arg!r} is not a version string like 1.2.3")
    elif op in REGEX_ARG:
        if not isinstance(arg, str):
            raise ConditionError(f"{where}: needs a regular expression string")
        try:
            re.compile(arg)
        except re.error as exc:
            raise ConditionError(f"{where}: invalid regular expression: {exc}") from exc
    elif op == "$exists":
        if not isinstance(arg, bool):
            raise ConditionError(f"{where}: needs true or false")
    elif op == "$type":
        if arg not in TYPES:
            raise ConditionError(f"{where}: unknown type {arg!r}; one of {sorted(TYPES)}")
    elif op == "$size":
        _check_value(arg, where) if isinstance(arg, dict) else _int(arg, where)
    elif op == "$elemMatch":
        if not isinstance(arg, dict):
            raise ConditionError(f"{where}: needs a condition")
        # a condition on the elements' fields, or operators on the elements themselves
        if all(str(k).startswith("$") for k in arg) and not set(arg) & (LOGICAL | {"$not"}):
            _check_value(arg, where)
        else:
            check_condition(arg, where)
    elif op == "$not":
        _check_value(arg, where)
    else:
        raise ConditionError(f"{where}: unknown operator {op!r}")


def _int(arg: Any, where: str) -> None:
    if isinstance(arg, bool) or not isinstance(arg, int):
        raise ConditionError(f"{where}: needs a whole number or an operator object")
