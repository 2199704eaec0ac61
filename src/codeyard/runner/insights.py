"""The model that writes session insights (``services.insights.Summarizer``), over the agent's ``Model``."""

import json
from typing import Any

from codeyard.agent.model import Message, Model

PROMPT = """You review the transcript of an autonomous coding session and report on it for the team.
Answer with one JSON object and nothing else:
{"summary": "<3 to 6 sentences: what was asked, what the agent did, how it ended>",
 "issues": [{"id": "issue-1", "label": "<short label>", "issue": "<a problem the agent hit>",
             "impact": "low|medium|high"}],
 "action_items": [{"action_item": "<what the team could change>",
                   "type": "machine_setup|repo_config|knowledge|prompt_improvement|other"}],
 "classification": {"category": "<bug_fix|feature|refactor|test|docs|ops|analysis|other>", "confidence": 0.0,
                    "programming_languages": [], "tools_and_frameworks": []}}
Use empty lists when there is nothing to report. Do not invent events that are not in the transcript."""

_MAX_OBJECT_STARTS = 64


class ModelSummarizer:
    def __init__(self, model: Model) -> None:
        self.model = model

    async def summarize(self, transcript: str) -> dict[str, Any]:
        reply = await self.model.complete(PROMPT, [Message("user", transcript)], [])
        return parse_json_object(reply.text)


def parse_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in a model's reply (models wrap JSON in prose or code fences); tries a bounded
    number of ``{`` positions so a hostile reply cannot make it quadratic."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    for _ in range(_MAX_OBJECT_STARTS):
        if start == -1:
            break
        try:
            value, _end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    raise ValueError("its answer held no JSON object")
