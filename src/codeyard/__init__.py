"""codeyard: self-hosted autonomous coding sessions behind a Devin-API-v3-compatible HTTP API.

Layers (each subpackage's docstring says what it may import):
``cli`` → ``api | runner | scheduler`` → ``services | agent`` → ``storage | sandbox`` → ``domain``;
``config`` and ``errors`` sit at the root; ``sdk`` and ``handoff`` stand alone beside them.
"""

__version__ = "0.1.0"
