"""The privacy audit: is an original face still there after anonymization?

* ``split``: an anonymized WIDER-format split against its original (records, files, the
  survival of each annotated face's detail, re-identification against chance);
* ``photos``, ``faces``, ``video``: an ``anonymize-images`` output, judged with face finders of
  the audit's own, in photos and in sampled video frames;
* ``survival``: the measure of what survives of a face's detail, shared by both.
"""
