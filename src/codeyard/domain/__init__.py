"""Domain: identifiers, the session lifecycle, cron evaluation and other pure rules.

Imports the stdlib, plus cronsim and the pinned tzdata package in ``cron`` (pure computations, no I/O beyond
reading zone data).
"""
