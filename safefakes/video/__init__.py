"""Videos for ``anonymize-images``: ffmpeg input/output (``io``), face tracks (``tracking``), the runner (``run``)."""
