"""API: the FastAPI application of the Devin-v3-compatible HTTP surface.

May import ``codeyard.services``, ``codeyard.domain``, ``codeyard.config`` and ``codeyard.errors``; it reaches
storage only through services (``app.py`` builds the ``Database``). Never imports ``runner`` internals: the
runner is handed in as a ``Dispatcher``.
"""
