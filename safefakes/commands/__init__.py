"""Sub-commands of the ``safefakes`` command line (see ``safefakes.cli``)."""
