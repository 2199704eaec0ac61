"""Worker: ``codeyard worker`` processes that run sessions apart from the API, as procrastinate jobs.

May import ``runner``, ``services``, ``domain``, ``config`` and ``errors``. The API replicas (``serve
--no-runner``) defer a procrastinate job when a session becomes runnable and abort it when the session is
stopped; a worker's procrastinate loop takes the job at once (LISTEN/NOTIFY) and runs the session in it until a
rest point. Workers beat (procrastinate's heartbeats); the jobs of a worker that stopped beating are retried by
the others, and the retried job takes the session from the dead worker at once. The database claim stays the
fence. Waiting jobs run in the embedded runner's fair order across organizations (``queue.reorder`` writes it as
job priorities).
"""
