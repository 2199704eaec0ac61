"""Checking the agent's structured output against the session's schema, with user patterns in linear time.

``structured_output_schema`` comes from the user, and with it every ``pattern`` and ``patternProperties`` key:
Python's ``re`` backtracks (``^(a+)+$`` took 9.6 s on 29 characters), so these keywords are checked with RE2
(``google-re2``), whose matching time is linear in the input. The API accepts only schemas whose patterns RE2
compiles.
"""

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import re2
from jsonschema import ValidationError, validators

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


@functools.lru_cache(maxsize=256)
def compiled(pattern: str) -> Any:
    """``pattern`` compiled by RE2; ``re2.error`` when it uses what RE2 lacks (backreferences, lookaround)."""
    return re2.compile(pattern, _OPTIONS)


def _search(pattern: str, text: str) -> bool:
    try:
        return compiled(pattern).search(text) is not None
    except re2.error as exc:
        raise jsonschema.SchemaError(f"the pattern {pattern[:100]!r} is not supported: {exc}") from exc


def _pattern(validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance[:200]!r} does not match {pattern[:200]!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    known = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [key for key in instance if key not in known and not any(_search(p, key) for p in patterns)]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif additional is False and extras:
        shown = ", ".join(repr(extra) for extra in sorted(extras)[:20])
        yield ValidationError(f"Additional properties are not allowed ({shown} were unexpected)")


LinearDraft7Validator = validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft7Validator,
    {"pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties},
)
"""Draft 7 with RE2 behind every keyword that matches a user pattern."""


def validate(schema: Mapping[str, Any], instance: Any) -> None:
    """``jsonschema.ValidationError`` (the most relevant one) when ``instance`` does not match ``schema``."""
    error = jsonschema.exceptions.best_match(LinearDraft7Validator(schema).iter_errors(instance))
    if error is not None:
        raise error
