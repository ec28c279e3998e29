"""The seqtk core: interfaces, plugin loading, the registry, recipes, the trainer and the CLI.

Nothing here imports a built-in plugin by name: the built-ins arrive through the
``seqtk`` entry-point group exactly like third-party packages.
"""
