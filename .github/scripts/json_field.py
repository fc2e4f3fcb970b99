"""Print one field of a JSON document read from stdin, validated, for use in workflow steps.

    deployer release build --json | python .github/scripts/json_field.py release --pattern '^r-[0-9a-f]{12}$'

The field may be dotted (`last_promotion.release`). Anything the workflow passes on to another
command goes through here, so a missing or malformed value stops the job with one clear line
(exit 2) instead of flowing into the next command. Standard library only: it runs before (and
without) the project's environment.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

MAX_VALUE_CHARS = 4096


class FieldError(Exception):
    """The document has no usable value at the requested field."""


def extract(document: Any, field: str, pattern: str | None = None) -> str:
    """The scalar at dotted `field` of `document` as a string, checked against `pattern` if given."""
    value: Any = document
    walked: list[str] = []
    for part in field.split("."):
        walked.append(part)
        if not isinstance(value, dict) or part not in value:
            raise FieldError(f"no field {'.'.join(walked)!r} in the JSON document")
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError(f"field {field!r} is a {type(value).__name__}, not a string or number")
    text = str(value)
    if not text or len(text) > MAX_VALUE_CHARS or any(c in text for c in "\r\n\0"):
        raise FieldError(f"field {field!r} is empty, too long or spans lines")
    if pattern is not None and not re.fullmatch(pattern, text):
        raise FieldError(f"field {field!r} does not match {pattern}")
    return text


def main(argv: list[str] | None = None) -> int:
    """Command line: print the field, or one error line and exit code 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("field", help="top-level or dotted field name")
    parser.add_argument("--pattern", help="regular expression the whole value must match")
    args = parser.parse_args(argv)
    try:
        document = json.load(sys.stdin)
        print(extract(document, args.field, args.pattern))
    except json.JSONDecodeError as exc:
        print(f"error: stdin: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", file=sys.stderr)
        return 2
    except (FieldError, re.error) as exc:
        print(f"error: stdin: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
