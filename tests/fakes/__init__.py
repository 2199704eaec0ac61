"""Honest fakes for the parts of the world codeyard talks to (only the model, served over real HTTP)."""
