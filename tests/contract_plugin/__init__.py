"""A test plugin package with one component of every kind, written against the public contract only.

It imports nothing from ``seqtk.plugins``: only ``seqtk`` (``hookimpl``),
``seqtk.core.interfaces``, ``seqtk.core.atomic`` and ``seqtk.core.errors``, what a
third-party package may use. ``tests/test_contract_plugin.py`` loads it through
``SEQTK_PLUGINS=contract_plugin.plugin`` and trains it end to end; if a change to the core
breaks a plugin written from docs/authoring.md, it breaks here first.
"""
