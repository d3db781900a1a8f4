"""``python -m flowrun`` works like the ``flowrun`` command."""

from flowrun.cli import run_console

if __name__ == "__main__":
    run_console()
