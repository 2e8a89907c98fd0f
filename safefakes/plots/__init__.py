"""Figures of the study (matplotlib, drawn off-screen)."""
