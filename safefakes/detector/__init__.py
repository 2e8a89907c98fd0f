"""The DSFD face detector (Li et al., CVPR 2019) with a VGG-16 backbone.

One concept a module: ``config`` (settings and presets), ``model`` (network),
``backbone`` (ImageNet weights), ``anchors``, ``matching`` and ``loss``
(Progressive Anchor Loss), ``augment`` and ``data`` (training samples),
``train`` (``train_detector``) and ``predict`` (``detect_split``). Import
them from their modules; this package imports nothing heavy itself.
"""
