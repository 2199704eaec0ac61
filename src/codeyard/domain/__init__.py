"""Domain: identifiers, the session lifecycle and other pure rules. Imports the stdlib only."""
