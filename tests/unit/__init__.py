"""Unit tests: ``tests/unit/<path>/test_<name>.py`` tests ``lightning_xai/<path>/<name>``
(a module, or a subpackage as a whole); a callback is tested through short Trainer runs."""
