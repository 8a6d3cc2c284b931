"""`python -m webhook_processor` is `whp`."""

import sys

from webhook_processor.entrypoints.cli import main

sys.exit(main())
