#!/usr/bin/env bash
# The shell script that flowrun.yaml in this folder replaces: serial, and a
# failure in the middle leaves build/ behind.
set -euo pipefail
python3 -m py_compile greet/__init__.py
PYTHONPATH=. python3 -m unittest discover -s tests -q
mkdir -p build
tar -cf - greet | gzip -9 > build/greet.tar.gz
tar -cf - greet | sha256sum > build/greet.sha256
rm -rf build/tmp
