"""Send a collected handoff: upload its attachments, then start the session whose prompt carries everything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from codeyard.handoff.collect import Collected
from codeyard.handoff.manifest import manifest_for
from codeyard.handoff.prompt import compose_prompt
from codeyard.sdk import Client
from codeyard.sdk.types import SessionResponse

TITLE_LENGTH = 80


@dataclass(frozen=True)
class Submitted:
    """The session started for a handoff, and the prompt it was given."""

    session: SessionResponse
    prompt: str


def submit(client: Client, task: str, context: str, tags: Sequence[str], collected: Collected) -> Submitted:
    """Upload the bundle and the large or binary patch, then create the session tagged `handoff`."""
    manifest = manifest_for(collected)
    urls: dict[str, str] = {}
    if manifest.bundle is not None and collected.bundle is not None:
        urls[manifest.bundle] = client.attachments.upload(collected.bundle, name=manifest.bundle).url
    if manifest.patch is not None:
        urls[manifest.patch] = client.attachments.upload(collected.patch, name=manifest.patch).url
    prompt = compose_prompt(task, context, collected, manifest, urls)
    session = client.sessions.create(
        prompt=prompt,
        title=" ".join(task.split())[:TITLE_LENGTH],
        tags=["handoff", *tags],
        repos=[collected.remote_url] if collected.remote_url else None,
    )
    return Submitted(session=session, prompt=prompt)
