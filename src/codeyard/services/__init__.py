"""Services: the use cases and their transaction boundaries.

May import ``codeyard.storage``, ``codeyard.domain``, ``codeyard.config`` and ``codeyard.errors``;
never ``api``, ``runner``, ``scheduler`` or ``cli``. Route handlers and the runner call these classes;
nothing above this layer writes SQL.
"""
