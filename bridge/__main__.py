"""`python -m bridge ...` is `als-bridge ...`."""

from bridge.cli import main

raise SystemExit(main())
