"""Signing our requests to BillBitts with the PEM private key at BILLBITTS_PRIVATE_KEY_PATH.

The scheme (assumed; docs/INTEGRATIONS.md): every request carries

    X-BillBitts-Timestamp: <unix seconds>
    X-BillBitts-Signature: <alg>=<base64 signature>

over the canonical text `METHOD \\n PATH \\n TIMESTAMP \\n hex(SHA-256(body))`, PATH being the
request's URL path as sent (no query string; our calls have none). The key type picks `alg`:
`ed25519` (Ed25519), `es256` (ECDSA P-256 with SHA-256, DER signature) or `ps256` (RSA ≥ 2048
bits, PSS with SHA-256). The API key travels beside it (`Authorization: Bearer`): a stolen
API key alone cannot create payment requests, and a captured request cannot be altered or
replayed after BillBitts' time window, since method, path, time and body are all signed.

The key is read once, at start, and held as a `cryptography` key object; its bytes, its path
and the signature inputs never reach a log or an error message.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from dpo.errors import ProviderRejected

TIMESTAMP_HEADER = "X-BillBitts-Timestamp"
SIGNATURE_HEADER = "X-BillBitts-Signature"
MIN_RSA_BITS = 2048
MAX_KEY_BYTES = 64 * 1024

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


class SigningKeyError(Exception):
    """The key file cannot be used; the message names the problem, never the key."""


def canonical(method: str, path: str, timestamp: int, body: bytes) -> bytes:
    """The text that is signed."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{digest}".encode()


def algorithm(key: PrivateKey | PublicKey) -> str:
    """The `alg` name of a key."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "es256"
    return "ps256"


def load_private_key(data: bytes) -> PrivateKey:
    """An unencrypted PEM (PKCS#8, or traditional EC/RSA) private key of a supported type."""
    if len(data) > MAX_KEY_BYTES:
        raise SigningKeyError("the key file is too large to be a PEM private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SigningKeyError("the key is encrypted; give an unencrypted PEM key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise SigningKeyError("the file is not a PEM private key we can read") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and not isinstance(key.curve, ec.SECP256R1):
        raise SigningKeyError("an EC key must be on P-256")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise SigningKeyError(f"an RSA key needs at least {MIN_RSA_BITS} bits")
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ):
        raise SigningKeyError("the key must be Ed25519, EC P-256 or RSA")
    return key


def read_private_key(path: Path) -> PrivateKey:
    """The key in the file at `path` (SigningKeyError if it cannot be read or used)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_BYTES + 1)
    except OSError as error:
        raise SigningKeyError(f"the key file cannot be read ({error.strerror})") from None
    return load_private_key(data)


def sign(key: PrivateKey, message: bytes) -> bytes:
    """The raw signature of `message`."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(hashes.SHA256()))
    return key.sign(message, _PSS, hashes.SHA256())


def verify(key: PublicKey, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is the key's over `message` (BillBitts' side; the sandbox's)."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(signature, message, _PSS, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


class KeyFileSigner:
    """A RequestSigner for the key at a path, read at the first request.

    Reading lazily keeps every other provider (and every job) working when only this key is
    missing or broken; the payment request then fails with PROVIDER_REJECTED (our side is
    wrong, retrying will not help) and `dpo check --deploy` names the file.
    """

    def __init__(self, path: Path, *, provider: str) -> None:
        self._path = path
        self._provider = provider
        self._signer: RequestSigner | None = None

    def __repr__(self) -> str:
        return "KeyFileSigner()"

    def __call__(self, method: str, path: str, body: bytes) -> dict[str, str]:
        """The signature headers, reading the key first if needed."""
        if self._signer is None:
            try:
                self._signer = RequestSigner(read_private_key(self._path))
            except SigningKeyError as error:
                raise ProviderRejected(self._provider, f"request signing key: {error}") from None
        return self._signer(method, path, body)


class RequestSigner:
    """Headers signing one request; a fresh timestamp on every attempt."""

    def __init__(self, key: PrivateKey, *, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._alg = algorithm(key)
        self._clock = clock

    def __repr__(self) -> str:
        return f"RequestSigner({self._alg})"

    def __call__(self, method: str, path: str, body: bytes) -> dict[str, str]:
        """The signature headers for a request."""
        timestamp = int(self._clock())
        signature = sign(self._key, canonical(method, path, timestamp, body))
        return {
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: f"{self._alg}={base64.b64encode(signature).decode()}",
        }
