"""Discrete sequences: text and the SeqGAN oracle, their networks, estimators and metrics."""
