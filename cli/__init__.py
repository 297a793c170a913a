"""The `swerve` command line: `main.py` mounts one module per command group; `demo.py` is `make demo`."""
