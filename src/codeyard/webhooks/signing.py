"""Standard Webhooks signatures (https://www.standardwebhooks.com), with the ``standardwebhooks`` library."""

import datetime

from standardwebhooks import Webhook


def headers(secret: str, message_id: str, body: str, now: float) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` for one attempt (signed at send time, so a
    retry hours later is within the receiver's tolerance)."""
    when = datetime.datetime.fromtimestamp(int(now), datetime.UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": Webhook(secret).sign(message_id, when, body),
    }
