"""``python -m riskmodel.cli``."""

import sys

from riskmodel.cli.main import main

sys.exit(main())
