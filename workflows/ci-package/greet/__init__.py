"""A tiny package that the ci-package workflow lints, tests and packages."""


def greet(name: str) -> str:
    return f"hello, {name}!"
