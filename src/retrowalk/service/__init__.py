"""The service: treadmill runners, the command path, and the process that runs them."""
