"""Integration tests: real Trainer runs across the package, DDP, GPU, loggers, the CLI, the
examples, the README, TensorBoard and the browser, the model zoo."""
