"""swerve.gateway: the HTTP gateway (`swerve gateway`), FastAPI in front of the Python SDK."""
