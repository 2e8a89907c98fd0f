"""The dataset engine: runs an anonymization method over a split or a folder of photos, and audits the result.

Above the methods (``safefakes.anonymizers``) and the formats (``safefakes.data``):

    split.py        anonymize_split: every annotated face of a WIDER-format split
    folder.py       anonymize_folder: the faces a detector finds in a plain folder of photos
    face_finder.py  the face detector of plain-folder runs (CenterFace, dlib's HOG or CNN)
    methods.py      which anonymizer runs (an instance or a factory per worker), and its keypoints
    pool.py         running the images, serially or in worker processes, in chunks
    worker.py       what a worker does per image: read, anonymize, write atomically, journal
    journal.py      the workers' journals, which make an interrupted run resumable
    output.py       the output folder: refusing the wrong one, writing the final records
    report.py       what a run reports, and the error it raises when images failed
    audit.py        the privacy audit of an anonymized split
    examples.py     one image under several methods (the side-by-side figure)
"""
