from tests.training.tiny import tiny_root  # noqa: F401
