"""The test of the web service: the page is served and says hello."""

import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=5) as answer:
    page = answer.read().decode()
assert answer.status == 200, answer.status
assert "Hello from a flowrun service" in page, page
print("web: the page is served")
