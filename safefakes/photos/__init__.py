"""The photo tool: ``safefakes anonymize-images`` on folders and files of photos (and videos, through
``safefakes.video``), with its face finders (CenterFace, dlib's HOG and CNN detectors).

It runs on the dataset engine's worker pool, journals and output records (``safefakes.engine``).
"""
