"""Datasets: WIDER-format IO, the synthetic dataset, face-crop sets, image IO."""
