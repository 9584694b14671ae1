"""`python -m sensorpipe.demo` (what `make demo` runs): the demo of sensorpipe.demo.run."""

from sensorpipe.demo.run import main

raise SystemExit(main())
