"""Pseudonymous identifiers: keyed hashes of seeded counters, rendered as fixed-width hex.

Ids are bijective mixes of (seed, namespace, counter), so they are unique by construction (no
collision check needed), carry nothing about the person, and are the same on every rerun with
the same seed. Rendering goes straight into Arrow string buffers, so 10M ids take well under a
second and no Python string per row is ever built.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# Namespaces keep counters of different kinds apart (an id of one kind never equals another's).
NS_CUSTOMER = 1
NS_WEB_COOKIE = 2
NS_APP_DEVICE = 3
NS_CRAWLER = 4
NS_JUNK = 5
NS_EVENT = 6
NS_SESSION = 7
NS_CONVERSION = 8
NS_IMPRESSION = 9

_COUNTER_BITS = 40
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijection on 64-bit integers with good avalanche."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _mix_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """A bijection on `bits`-bit integers (odd multiplications and xor-shifts modulo 2**bits)."""
    mask = np.uint64((1 << bits) - 1)
    half = np.uint64(bits // 2)
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) & mask
        z = (z * np.uint64(0x9E3779B97F4B)) & mask
        z ^= z >> half
        z = (z * np.uint64(0xC2B2AE3D27D5)) & mask
        z ^= z >> half
        z = (z * np.uint64(0x165667B19E37)) & mask
        z ^= z >> np.uint64(bits // 3)
    return z


def hashed_counters(seed: int, namespace: int, counters: np.ndarray, bits: int = 64) -> np.ndarray:
    """Unique pseudo-random `bits`-bit integers for distinct (namespace, counter) pairs."""
    counters = np.asarray(counters, dtype=np.uint64)
    if counters.size and int(counters.max()) >= 1 << _COUNTER_BITS:
        raise ValueError("counter out of range for the id scheme")
    keys = (np.uint64(namespace) << np.uint64(_COUNTER_BITS)) | counters
    seed_key = _splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    if bits == 64:
        return _splitmix64(keys ^ seed_key)
    mask = np.uint64((1 << bits) - 1)
    # Namespace and counter fit in 48 bits, so xor with a seed key then a 48-bit bijection
    # keeps distinct inputs distinct.
    return _mix_bits(keys ^ (seed_key & mask), bits)


def hex_strings(prefix: str, values: np.ndarray, n_hex: int) -> pa.StringArray:
    """Arrow strings `<prefix><n_hex lowercase hex digits>` from unsigned integers."""
    values = np.asarray(values, dtype=np.uint64)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    width = len(head) + n_hex
    n = len(values)
    chars = np.empty((n, width), dtype=np.uint8)
    chars[:, : len(head)] = head
    for k in range(n_hex):
        shift = np.uint64(4 * (n_hex - 1 - k))
        chars[:, len(head) + k] = _HEX[((values >> shift) & np.uint64(15)).astype(np.intp)]
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.reshape(-1)))


def make_ids(seed: int, namespace: int, prefix: str, counters: np.ndarray, n_hex: int) -> pa.StringArray:
    """Pseudonymous ids such as `c_<12 hex>` or `a_<16 hex>` for the given counters."""
    return hex_strings(prefix, hashed_counters(seed, namespace, counters, bits=4 * n_hex), n_hex)
