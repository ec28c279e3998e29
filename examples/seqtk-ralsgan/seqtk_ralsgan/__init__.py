"""seqtk-ralsgan: the relativistic average least-squares GAN objective, packaged as a third-party plugin.

Installing the package is all it takes: seqtk finds ``seqtk_ralsgan.plugin`` through the
``seqtk`` entry point and a recipe can say ``objective: {name: ralsgan}``.
"""

__version__ = "0.1.0"
