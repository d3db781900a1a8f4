"""What a ``ready:`` probe's address must look like: ``tcp: HOST:PORT``, ``http: URL`` (pure, no pydantic).

The models check an address as they load it; one that holds ``${{ params.N }}``
is checked once its values are known (``flowrun.spec.bindings``).
"""

from __future__ import annotations

__all__ = ["check_address", "check_http", "check_tcp", "split_host_port"]


def split_host_port(address: str) -> tuple[str, int]:
    """``127.0.0.1:5432``, ``localhost:80`` or ``[::1]:80`` → (host, port); ValueError if it is neither."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:5432, got {address!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port)
    if not 1 <= number <= 65535:
        raise ValueError(f"port {number} is outside 1-65535")
    return host, number


def check_tcp(value: str) -> str:
    """``value`` if it is HOST:PORT; else ValueError."""
    split_host_port(value)
    return value


def check_http(value: str) -> str:
    """``value`` if it is an ``http://`` URL with a host (and a numeric port, if any); else ValueError."""
    import urllib.parse  # with ipaddress: only a file with an http probe pays for it

    url = urllib.parse.urlsplit(value)
    if url.scheme == "https":
        raise ValueError("https probes are not supported: probe the port with tcp:, or use cmd: [curl, -fsk, URL]")
    if url.scheme != "http" or not url.hostname:
        raise ValueError(f"expected a URL such as http://127.0.0.1:8000/health, got {value!r}")
    try:
        url.port  # noqa: B018 - raises for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"bad port in {value!r}: {exc}") from None
    return value


def check_address(kind: str, value: str) -> str:
    """Check a ``tcp`` or ``http`` address; ValueError says what is wrong."""
    return check_tcp(value) if kind == "tcp" else check_http(value)
