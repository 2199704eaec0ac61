"""CLI: the ``codeyard`` command (Typer). The composition root of the server side.

``server`` and ``admin`` wire storage, services, api, runner and scheduler together; the remote commands
(sessions, knowledge, …) and ``handoff`` talk to a server only through ``codeyard.sdk``.
"""
