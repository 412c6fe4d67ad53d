"""``quorum-verify EXPORT.zip [--key-id ID | --public-key HEX]``: exit 0 when the export verifies,
1 when it does not (each failed check is printed), 2 when the file cannot be read at all."""

from __future__ import annotations

import argparse
import sys

from .verify import verify_export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="quorum-verify",
        description="Verify a Quorum evidence export offline: the manifest's Ed25519 signature, every "
        "file's SHA-256 and the audit chain proof (entries linked between two signed checkpoints).",
    )
    parser.add_argument("export", help="the evidence ZIP produced by `manage.py evidence_export` or the console")
    pin = parser.add_mutually_exclusive_group()
    pin.add_argument("--key-id", help="the signing key's published id (16 hex digits); refuse any other key")
    pin.add_argument("--public-key", help="the signing key's raw Ed25519 public key (64 hex digits)")
    parser.add_argument("--quiet", action="store_true", help="print only failures and the verdict")
    args = parser.parse_args(argv)
    verdict = verify_export(args.export, key_id=args.key_id, public_key=args.public_key)
    for line in verdict.lines:
        if not args.quiet or line.startswith("FAIL"):
            print(line)
    if verdict.unreadable:
        print(f"UNREADABLE: {verdict.unreadable}", file=sys.stderr)
        return 2
    print("VERIFIED" if verdict.ok else "NOT VERIFIED")
    return 0 if verdict.ok else 1
