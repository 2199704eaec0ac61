"""Tests of `codeyard.sdk` against a scripted stand-in of the API served over real loopback HTTP."""
