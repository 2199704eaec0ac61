"""Parsing user text never freezes the server (issue 8, item 4): the ``ATTACHMENT:`` lines, the handoff block and
user patterns in ``structured_output_schema`` take time linear in the input.

Each adversarial input runs in a child process with a generous hard limit: a quadratic or exponential parser
does not finish within it (the reviewed code needed minutes to hours), a linear one needs milliseconds."""

import subprocess
import sys

import jsonschema
import pytest

from codeyard.agent import output_schema
from codeyard.handoff.apply import parse_manifest
from codeyard.handoff.manifest import Manifest
from codeyard.services.attachments import attachment_line_urls
from tests.conftest import REPO

HARD_LIMIT = 30.0


def finishes(code: str) -> str:
    """Run ``code`` in a fresh interpreter; fail when it does not finish within the hard limit."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=HARD_LIMIT,
            cwd=REPO,
            env={"PYTHONPATH": f"{REPO / 'src'}:{REPO}", "PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"did not finish within {HARD_LIMIT:g} s: {code[:200]}") from exc
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_attachment_lines_in_a_megabyte_of_newlines() -> None:
    out = finishes(
        "from codeyard.services.attachments import attachment_line_urls\n"
        "text = '\\n' * 500_000 + ' ' * 400_000 + 'ATTACHMENT:' + ' ' * 50_000 + 'x'\n"
        "print(len(attachment_line_urls(text)))\n"
        "text = ('ATTACHMENT: \"' + 'a' * 4000 + '\\n') * 200\n"
        "print(len(attachment_line_urls(text)))\n"
    )
    assert out.split() == ["0", "0"]


def test_attachment_lines_are_still_found() -> None:
    text = 'do this\n  ATTACHMENT:"https://h/files/1/a.txt"  \r\nATTACHMENT: "https://h/files/2/b"\nnot ATTACHMENT:"x"'
    assert attachment_line_urls(text) == ["https://h/files/1/a.txt", "https://h/files/2/b"]


def test_handoff_block_search_over_many_unclosed_fences() -> None:
    out = finishes(
        "from codeyard.handoff.apply import parse_manifest\n"
        "print(parse_manifest('```codeyard-handoff\\n' * 60_000 + 'x' * 1000))\n"
    )
    assert out.strip() == "None"


def test_the_last_handoff_block_is_used() -> None:
    sha = "b" * 40
    good = Manifest(None, "main", sha, sha, None, None, "diff")
    other = Manifest(None, "dev", sha, sha, None, None, "diff")
    prompt = f"intro\n{other.to_block()}\ntext\r\n{good.to_block()}\n```codeyard-handoff\nunclosed"
    parsed = parse_manifest(prompt)
    assert parsed is not None and parsed.branch == "main"


def test_a_backtracking_pattern_is_matched_in_linear_time() -> None:
    out = finishes(
        "from codeyard.agent import output_schema\n"
        "import jsonschema\n"
        "schema = {'type': 'object', 'properties': {'s': {'type': 'string', 'pattern': '^(a+)+$'}},\n"
        "          'patternProperties': {'^(b+)+$': {'type': 'string'}}, 'additionalProperties': False}\n"
        "try:\n"
        "    output_schema.validate(schema, {'s': 'a' * 5000 + '!', 'b' * 5000 + '!': 1})\n"
        "except jsonschema.ValidationError as exc:\n"
        "    print('refused', exc.message[:30])\n"
    )
    assert out.startswith("refused")


def test_linear_validation_keeps_the_draft7_meaning() -> None:
    schema = {
        "type": "object",
        "properties": {"id": {"type": "string", "pattern": "^[a-z]+-\\d+$"}},
        "patternProperties": {"^x-": {"type": "integer"}},
        "additionalProperties": False,
    }
    output_schema.validate(schema, {"id": "abc-12", "x-count": 3})
    for bad in ({"id": "ABC"}, {"x-count": "three"}, {"other": 1}):
        with pytest.raises(jsonschema.ValidationError):
            output_schema.validate(schema, bad)
