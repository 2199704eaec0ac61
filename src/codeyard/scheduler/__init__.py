"""Scheduler: the ticker every ``serve`` process runs to fire due schedules (``ticker``).

May import ``codeyard.services``, ``codeyard.domain``, ``codeyard.config`` and ``codeyard.errors``; the database
is reached only through ``codeyard.services.schedule_runs``. Cron arithmetic lives in ``codeyard.domain.cron``.
"""
