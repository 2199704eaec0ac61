"""Webhook delivery (contract §10): signing, sending to a checked address, and the background deliverer.

May import ``codeyard.services``, ``codeyard.domain``, ``codeyard.config`` and ``codeyard.errors``. The API
manages webhooks through ``services.webhooks``; this package only sends what the outbox holds. The deliverer is a
``Background`` part of ``codeyard serve`` and can run in any process that shares the database.
"""
