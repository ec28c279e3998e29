"""seqtk's built-in components.

They reach the core only through the ``seqtk`` entry point ``builtin`` (see
``pyproject.toml``), exactly like a third-party plugin; the core never imports them.
"""
