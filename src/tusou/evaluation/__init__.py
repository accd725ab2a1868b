"""Retrieval-quality evaluation: transform suite, synthetic images, metrics and the runner behind `tusou eval`."""
