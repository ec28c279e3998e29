"""Continuous-valued sequences: the sines domain and distribution metrics for series."""
