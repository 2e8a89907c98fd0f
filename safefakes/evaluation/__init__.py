"""Scores of the study: WIDER FACE average precision, image metrics, correlation."""
