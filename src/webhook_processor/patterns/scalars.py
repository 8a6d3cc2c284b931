"""JSON numbers and IP addresses, read the way event-ruler reads them."""

from __future__ import annotations

import ipaddress
import math
import re
from decimal import Decimal
from typing import Final

_NUMERIC_LIMIT: Final = Decimal("5E9")
_MAX_DECIMALS: Final = 6


def number(value: object) -> Decimal | None:
    """The exact decimal value of a JSON number; None for anything else (bool is not a number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr() is the shortest text that round-trips: the number as it was written in JSON.
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return None


def comparable_problem(number: Decimal) -> str | None:
    """Why a number is outside what numeric matching handles, or None if it is inside."""
    if abs(number) > _NUMERIC_LIMIT:
        return "must be between -5e9 and 5e9 inclusive"
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_MAX_DECIMALS:
        return "must have at most 6 digits after the decimal point"
    return None


_IPV4_RE: Final = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6_RE: Final = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")


def ip(text: str) -> bytes | None:
    """The address bytes of an IP literal as event-ruler reads one (4 or 16 bytes), else None.

    Only dotted quads and hex-and-colon IPv6 forms count (no zone ids, no embedded IPv4); an
    IPv4-mapped IPv6 address is its IPv4 address, as Java's InetAddress reads it.
    """
    if _IPV4_RE.fullmatch(text):
        parts = text.split(".")
        # Leading zeros are ambiguous (octal?) and rejected, as by current JDKs and ipaddress.
        if any(len(part) > 1 and part[0] == "0" for part in parts):
            return None
        octets = [int(part) for part in parts]
        if any(octet > 255 for octet in octets):
            return None
        return bytes(octets)
    if _IPV6_RE.fullmatch(text):
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            return None
        mapped = address.ipv4_mapped
        return mapped.packed if mapped is not None else address.packed
    return None


def cidr(text: str) -> tuple[bytes, bytes]:
    """The lowest and highest address of a CIDR block; ValueError says what is wrong."""
    parts = text.split("/")
    if len(parts) != 2 or parts[1] == "":
        raise ValueError(f"malformed CIDR {text!r}: one '/' required")
    address_text, bits_text = parts
    if not re.fullmatch(r"[+-]?[0-9]+", bits_text):
        raise ValueError(f"malformed CIDR {text!r}: mask bits must be an integer")
    bits = int(bits_text)
    if bits < 0:
        raise ValueError(f"malformed CIDR {text!r}: mask bits must not be negative")
    address = ip(address_text)
    if address is None:
        raise ValueError(f"invalid IP address {address_text!r} in CIDR {text!r}")
    width = len(address) * 8
    if bits > width - 1:
        family = "IPv4" if width == 32 else "IPv6"
        raise ValueError(f"{family} mask bits must be < {width} in CIDR {text!r}")
    value = int.from_bytes(address, "big")
    host_mask = (1 << (width - bits)) - 1
    low = value & ~host_mask
    high = value | host_mask
    return low.to_bytes(len(address), "big"), high.to_bytes(len(address), "big")
