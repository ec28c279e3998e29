"""seqtk-lsgan: the least-squares GAN objective for seqtk, packaged as a third-party plugin.

Installing the package is all it takes: seqtk finds ``seqtk_lsgan.plugin`` through the
``seqtk`` entry point and a recipe can say ``objective: {name: lsgan}``.
"""

__version__ = "0.1.0"
