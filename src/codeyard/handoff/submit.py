"""Send a collected handoff: upload its attachments, then start the session whose prompt carries everything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from codeyard.handoff.collect import Collected
from codeyard.handoff.manifest import manifest_for
from codeyard.handoff.prompt import compose_prompt
from codeyard.sdk import APIError, Client
from codeyard.sdk.types import SessionResponse

TITLE_LENGTH = 80


class SubmitError(Exception):
    """The handoff could not be sent; the message says what, if anything, already reached the server."""


@dataclass(frozen=True)
class Submitted:
    """The session started for a handoff, and the prompt it was given."""

    session: SessionResponse
    prompt: str


def submit(client: Client, task: str, context: str, tags: Sequence[str], collected: Collected) -> Submitted:
    """Upload the bundle and the large or binary patch, then create the session tagged `handoff`.

    Everything that can fail locally is done before the first request: the prompt is composed with stand-in links
    and encoded, so a failure never leaves uploads behind. An upload failing says which attachments were uploaded.
    """
    manifest = manifest_for(collected)
    attachments: list[tuple[str, bytes]] = []
    if manifest.bundle is not None and collected.bundle is not None:
        attachments.append((manifest.bundle, collected.bundle))
    if manifest.patch is not None:
        attachments.append((manifest.patch, collected.patch))
    title = " ".join(task.split())[:TITLE_LENGTH]
    stand_ins = {name: f"attachment:{name}" for name, _data in attachments}
    try:
        (compose_prompt(task, context, collected, manifest, stand_ins) + title).encode("utf-8")
    except UnicodeEncodeError:
        raise SubmitError("the task or the context is not valid UTF-8 text; nothing was sent") from None
    urls: dict[str, str] = {}
    for name, data in attachments:
        try:
            urls[name] = client.attachments.upload(data, name=name).url
        except APIError as exc:
            done = f"{', '.join(urls)} had been uploaded" if urls else "nothing had been uploaded"
            raise SubmitError(f"uploading {name} failed: {exc} ({done}; no session was created)") from exc
    prompt = compose_prompt(task, context, collected, manifest, urls)
    session = client.sessions.create(
        prompt=prompt,
        title=title,
        tags=["handoff", *tags],
        repos=[collected.remote_url] if collected.remote_url else None,
    )
    return Submitted(session=session, prompt=prompt)
