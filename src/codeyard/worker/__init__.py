"""Worker: ``codeyard worker`` processes that run sessions apart from the API, woken through procrastinate.

May import ``runner``, ``services``, ``config`` and ``errors``. The API replicas (``serve --no-runner``) defer a
procrastinate job when a session becomes runnable; a worker's procrastinate loop takes it (LISTEN/NOTIFY, so at
once) and wakes the worker's runner, which claims sessions from the database with leases.
"""
