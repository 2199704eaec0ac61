"""Hand local git work to a session: collect it, scan it for secrets, send it, and rebuild it on the server.

The client side (`collect`, `scan`, `manifest`, `prompt`, `submit`) runs on the user's machine; `apply` runs on
the server before the agent starts and needs nothing but git. This package may import the stdlib, detect_secrets
and `codeyard.sdk` only, so the command works against any Devin-compatible API.
"""
