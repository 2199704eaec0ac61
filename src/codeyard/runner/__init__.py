"""Runner: takes runnable sessions from the database and drives the agent through them.

May import ``services``, ``agent``, ``sandbox``, ``handoff`` (to apply a handed-off work tree), ``domain``,
``config``, ``errors``, the row types of ``storage.tables`` (it queries nothing itself) and ``storage.blobs``
(workspace checkpoints).
``embedded.EmbeddedRunner`` runs sessions inside ``codeyard serve``; a distributed dispatcher can drive the same
``SessionRun`` from worker processes.
"""
