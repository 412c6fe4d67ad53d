"""The Ed25519 key that signs audit-chain checkpoints and evidence manifests (issue 15).

Where the key comes from, first match wins:

1. ``QUORUM_AUDIT_SIGNING_KEY``: the private key as PEM text (PKCS#8, unencrypted), for
   production, where it comes from the secret store like ``SECRET_KEY``;
2. ``<QUORUM_VAR_DIR>/audit-signing-key.pem``: read if present, else generated there with
   mode 0600 on first use (the demo, the tests, a development machine).

Only the public half ever leaves the process: checkpoints and manifests carry it with its
``key_id`` (the first 16 hex digits of the SHA-256 of the raw 32-byte public key), which an
auditor pins when verifying offline (``quorum-verify --key-id``). After a rotation, list the old
keys' ids in ``QUORUM_AUDIT_TRUSTED_KEY_IDS`` so ``audit_verify`` keeps accepting their checkpoints."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

ENV_VARIABLE = "QUORUM_AUDIT_SIGNING_KEY"
# Key ids of earlier signing keys whose checkpoints still count (comma-separated), after a rotation.
TRUSTED_ENV_VARIABLE = "QUORUM_AUDIT_TRUSTED_KEY_IDS"
KEY_FILE_NAME = "audit-signing-key.pem"


def key_file_path() -> Path:
    return Path(settings.VAR_DIR) / KEY_FILE_NAME


def _generate_into(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # O_EXCL: two processes starting at once must not each write a different key; the loser reads.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return pem


@lru_cache(maxsize=1)
def signing_key() -> Ed25519PrivateKey:
    """The private key (see the module docstring for where it comes from)."""
    pem = os.environ.get(ENV_VARIABLE, "").strip().encode()
    if not pem:
        path = key_file_path()
        pem = path.read_bytes() if path.exists() else _generate_into(path)
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{ENV_VARIABLE} must hold an Ed25519 private key (PEM, PKCS#8).")
    return key


def public_key_hex(public: Ed25519PublicKey | None = None) -> str:
    public = public or signing_key().public_key()
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def key_id_of(public_hex: str) -> str:
    """The short fingerprint an auditor pins: 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()[:16]


def sign(message: bytes) -> str:
    """Ed25519 signature of ``message`` in hex."""
    return signing_key().sign(message).hex()


def signature_valid(*, public_hex: str, signature_hex: str, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def trusted_key_ids() -> set[str]:
    """The current key's id and those listed in ``QUORUM_AUDIT_TRUSTED_KEY_IDS``: a checkpoint
    signed by any other key proves nothing (whoever can write the database can make a key)."""
    listed = {part.strip().lower() for part in os.environ.get(TRUSTED_ENV_VARIABLE, "").split(",") if part.strip()}
    return listed | {key_id_of(public_key_hex())}
