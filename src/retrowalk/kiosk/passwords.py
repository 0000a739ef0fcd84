"""The staff password, stored as a scrypt hash (hashlib), never as the password itself.

Format: ``scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>``, so the cost can be raised later without
breaking hashes already in configuration files.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = [
    "MIN_PASSWORD_CHARS",
    "PasswordHashError",
    "hash_password",
    "parse_password_hash",
    "verify_password",
]

# scrypt's interactive-login cost (n=2**14, r=8, p=1): about 50 ms and 16 MiB per check, so a guessing
# attack on the staff page is slow while a login stays quick.
_N, _R, _P = 2**14, 8, 1
_SALT_BYTES = 16
_HASH_BYTES = 32
# A password is typed by staff at a screen beside a treadmill: long enough to resist guessing.
MIN_PASSWORD_CHARS = 10


class PasswordHashError(ValueError):
    """A configured hash that cannot be read; says what to do."""


@dataclass(frozen=True, slots=True)
class _ScryptHash:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _scrypt(password: str, salt: bytes, *, n: int, r: int, p: int, length: int) -> bytes:
    # maxmem: n * r * 128 bytes plus headroom; OpenSSL refuses the default 32 MiB for larger costs.
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=2 * 128 * n * r + 2**20
    )


def hash_password(password: str) -> str:
    """A new hash of ``password`` with a random salt, for `[staff] password_hash`."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, n=_N, r=_R, p=_P, length=_HASH_BYTES)
    encoded = [base64.b64encode(part).decode("ascii") for part in (salt, digest)]
    return f"scrypt${_N}${_R}${_P}${encoded[0]}${encoded[1]}"


def parse_password_hash(text: str) -> _ScryptHash:
    parts = text.split("$")
    hint = "make one with `retrowalk kiosk --hash-password` and paste its whole output"
    if len(parts) != 6 or parts[0] != "scrypt":
        raise PasswordHashError(f"is not a password hash retrowalk made (scrypt$n$r$p$salt$hash): {hint}")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = (base64.b64decode(x, validate=True) for x in parts[4:6])
    except (ValueError, binascii.Error):
        raise PasswordHashError(f"has a damaged number or base64 part: {hint}") from None
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 16 or not salt or len(digest) < 16:
        raise PasswordHashError(f"has impossible scrypt parameters: {hint}")
    return _ScryptHash(n, r, p, salt, digest)


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; the comparison takes the same time either way."""
    parsed = parse_password_hash(stored)
    candidate = _scrypt(password, parsed.salt, n=parsed.n, r=parsed.r, p=parsed.p, length=len(parsed.digest))
    return hmac.compare_digest(candidate, parsed.digest)
