"""Importers of the GANs' training datasets as they are distributed: FDF, CelebA, PIPA.

Each reads its dataset's published layout and annotation files, computes the
keypoints its GAN needs where the dataset lacks them (``landmarks``), and
writes a crop set (``safefakes.data.crops``): resumable, parallel, streamed.
They sit above ``keypoints`` (dlib, Keypoint R-CNN), beside the anonymizers.
"""

from safefakes.importers.celeba import import_celeba
from safefakes.importers.fdf import import_fdf
from safefakes.importers.pipa import import_pipa

__all__ = ["import_celeba", "import_fdf", "import_pipa"]
