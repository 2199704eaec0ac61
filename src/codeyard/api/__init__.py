"""API: the FastAPI application of the Devin-v3-compatible HTTP surface.

May import ``codeyard.services``, ``codeyard.domain``, ``codeyard.config`` and ``codeyard.errors``. Of storage
it sees only the row types of ``storage.tables`` (to render them) and, in ``openapi.py``, a ``Database`` that is
never connected; every query goes through services. It never imports the runner or the scheduler: they are
handed in as a ``Dispatcher`` and ``Background`` parts by the CLI.
"""
