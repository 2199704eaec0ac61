"""Agent: the tool-calling loop, its tools, history condensing and the model providers.

May import ``codeyard.sandbox``, ``codeyard.errors`` and the stdlib/third-party model SDKs; never
``services``, ``storage``, ``api`` or ``runner``. It persists and reports through the ``Journal`` protocol,
which the runner implements over the database.
"""
