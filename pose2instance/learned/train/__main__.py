"""``python -m pose2instance.learned.train`` (and ``torchrun ... -m pose2instance.learned.train``)."""

import sys

from .engine import main

sys.exit(main())
