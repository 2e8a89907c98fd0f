import sys

from safefakes.cli import main

sys.exit(main())
