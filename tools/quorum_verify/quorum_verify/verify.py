"""What ``quorum-verify`` checks in an evidence export, in order:

1. **Signature**: ``manifest.sig`` is the Ed25519 signature (hex) of the exact bytes of
   ``manifest.json``, by the public key the manifest names (``public_key``; its ``key_id`` is the
   first 16 hex digits of the SHA-256 of the raw key). Pin the key you trust with ``--key-id``
   or ``--public-key``: without a pin, the key in the export is only reported.
2. **Files**: every file the manifest lists is in the ZIP with that SHA-256 and size, and the ZIP
   holds no file the manifest does not list.
3. **Chain proof** (``audit/chain_proof.json`` and ``audit/chain.jsonl``): the chain runs without a
   gap from the signed checkpoint before the extract (or the start of the chain) to the signed
   checkpoint after it. Each line is one entry, in seq order: entries in the export's scope in
   full, the others as stubs (``seq``, ``prev_hash``, ``content_hash`` only, so other agents'
   records are not disclosed). A full entry's ``content_hash`` must be the SHA-256 of the
   canonical JSON of the entry without it (keys sorted, no whitespace, UTF-8); every entry's
   ``prev_hash`` must be the previous entry's ``content_hash``; the last must be the one the
   closing checkpoint signed.

The canonical form and the order of the checks match ``registry/audit_chain.py`` in Quorum, so the
first broken entry is named the same way as ``manage.py audit_verify`` names it."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS_HASH = "0" * 64
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PROOF = "audit/chain_proof.json"
CHAIN = "audit/chain.jsonl"
FORMAT = "quorum-evidence/v1"


@dataclass
class Verdict:
    ok: bool = True
    lines: list[str] = field(default_factory=list)
    unreadable: str = ""

    def passed(self, text: str) -> None:
        self.lines.append(f"OK    {text}")

    def failed(self, text: str) -> None:
        self.ok = False
        self.lines.append(f"FAIL  {text}")


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def key_id_of(public_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()[:16]


def signature_valid(public_hex: str, signature_hex: str, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# --- 1. signature ---------------------------------------------------------------------------


def _check_signature(archive: zipfile.ZipFile, verdict: Verdict, key_id: str | None, public_key: str | None):
    raw = archive.read(MANIFEST)
    manifest = json.loads(raw)
    if manifest.get("format") != FORMAT:
        verdict.failed(f"{MANIFEST}: unknown format {manifest.get('format')!r} (expected {FORMAT})")
    public_hex = str(manifest.get("public_key", ""))
    try:
        found_id = key_id_of(public_hex)
    except ValueError:
        verdict.failed(f"{MANIFEST}: public_key is not hex")
        return manifest, None
    if key_id and key_id.lower() != found_id:
        verdict.failed(f"signed by key {found_id}, not by the pinned key {key_id.lower()}")
    if public_key and public_key.lower() != public_hex.lower():
        verdict.failed(f"signed by key {found_id}, not by the pinned public key")
    signature = archive.read(SIGNATURE).decode("ascii", "replace").strip()
    if signature_valid(public_hex, signature, raw):
        pinned = "pinned" if (key_id or public_key) else "NOT pinned: compare it with the published key id"
        verdict.passed(f"signature of {MANIFEST} by key {found_id} ({pinned})")
    else:
        verdict.failed(f"the signature in {SIGNATURE} does not match {MANIFEST} (wrong key or changed manifest)")
    return manifest, public_hex


# --- 2. files -------------------------------------------------------------------------------


def _check_files(archive: zipfile.ZipFile, manifest: dict, verdict: Verdict) -> None:
    listed = {item["path"]: item for item in manifest.get("files", [])}
    present = {name for name in archive.namelist() if not name.endswith("/")}
    for name in sorted(present - set(listed) - {MANIFEST, SIGNATURE}):
        verdict.failed(f"{name}: in the ZIP but not in the manifest")
    bad = 0
    for name, item in sorted(listed.items()):
        if name not in present:
            verdict.failed(f"{name}: listed in the manifest but missing")
            bad += 1
            continue
        digest, size = hashlib.sha256(), 0
        with archive.open(name) as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        if digest.hexdigest() != item.get("sha256") or size != item.get("bytes", size):
            verdict.failed(f"{name}: SHA-256 {digest.hexdigest()[:16]}… does not match the manifest's")
            bad += 1
    if not bad:
        verdict.passed(f"{len(listed)} files match the SHA-256 in the manifest")


# --- 3. chain proof -------------------------------------------------------------------------


def _checkpoint_problem(checkpoint: dict, public_hex: str | None) -> str | None:
    statement = {key: checkpoint.get(key) for key in ("kind", "seq", "head_hash", "signed_at", "key_id")}
    if public_hex is not None and checkpoint.get("public_key") != public_hex:
        return f"checkpoint #{checkpoint.get('seq')} is signed by another key than the manifest"
    if key_id_of(str(checkpoint.get("public_key", ""))) != checkpoint.get("key_id"):
        return f"checkpoint #{checkpoint.get('seq')} names a key id that is not its key's"
    message = canonical_json(statement).encode()
    if not signature_valid(str(checkpoint.get("public_key", "")), str(checkpoint.get("signature", "")), message):
        return f"checkpoint #{checkpoint.get('seq')} has an invalid signature"
    return None


def link_problem(row: dict, expected_seq: int, expected_prev: str, before_prev: str | None) -> tuple[int, str] | None:
    """Why ``row`` does not continue the chain (seq to name, words), or ``None``; the same checks
    in the same order as Quorum's ``registry.audit_chain.link_problem``."""
    seq = row.get("seq")
    if not isinstance(seq, int):
        return expected_seq, f"the line after #{expected_seq - 1} has no seq"
    if "action" in row:  # a full entry: its own hash first
        content = {key: value for key, value in row.items() if key != "content_hash"}
        if sha256_hex(canonical_json(content)) != row.get("content_hash"):
            if sha256_hex(canonical_json({**content, "seq": seq - 1})) == row.get("content_hash"):
                return seq - 1, f"entry #{seq - 1} was inserted (the entries after it were renumbered)"
            if sha256_hex(canonical_json({**content, "seq": seq + 1})) == row.get("content_hash"):
                return seq, f"entry #{seq} was deleted (the entries after it were renumbered)"
            return seq, f"entry #{seq} was changed (its content no longer matches its hash)"
    if seq != expected_seq:
        missing = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}–#{seq - 1}"
        return expected_seq, f"entry {missing} is missing (the chain jumps to #{seq})"
    if row.get("prev_hash") != expected_prev:
        if before_prev is not None and row.get("prev_hash") == before_prev:
            return seq - 1, f"entry #{seq - 1} was inserted (#{seq} links to the entry before it)"
        return seq - 1, f"entry #{seq - 1} was changed or replaced (#{seq} does not link to it)"
    return None


def _lines(archive: zipfile.ZipFile) -> Iterator[dict]:
    with archive.open(CHAIN) as handle:
        for raw in handle:
            if raw.strip():
                yield json.loads(raw)


def _start(proof: dict, public_hex: str | None, verdict: Verdict) -> tuple[int, str] | None:
    before = proof.get("checkpoint_before")
    if before is None:
        return 1, GENESIS_HASH
    problem = _checkpoint_problem(before, public_hex)
    if problem:
        verdict.failed(problem)
        return None
    return before["seq"] + 1, before["head_hash"]


def _check_chain(archive: zipfile.ZipFile, public_hex: str | None, verdict: Verdict) -> None:
    proof = json.loads(archive.read(PROOF))
    after = proof.get("checkpoint_after") or {}
    start = _start(proof, public_hex, verdict)
    problem = _checkpoint_problem(after, public_hex)
    if problem or start is None:
        if problem:
            verdict.failed(problem)
        return
    expected_seq, expected_prev = start
    first, before_prev, full, linked = expected_seq, None, 0, 0
    for row in _lines(archive):
        found = link_problem(row, expected_seq, expected_prev, before_prev)
        if found is not None:
            verdict.failed(f"audit chain broken at entry #{found[0]}: {found[1]}")
            return
        full += "action" in row
        linked += 1
        before_prev, expected_prev, expected_seq = row["prev_hash"], row["content_hash"], row["seq"] + 1
    last = expected_seq - 1
    if last != after.get("seq"):
        verdict.failed(f"audit chain ends at #{last} but the closing checkpoint signed #{after.get('seq')}")
    elif expected_prev != after.get("head_hash"):
        verdict.failed(f"entry #{last} differs from the one the closing checkpoint signed")
    elif full != proof.get("entries_in_scope", full):
        verdict.failed(f"{full} entries in scope, the proof announces {proof.get('entries_in_scope')}")
    else:
        verdict.passed(
            f"audit chain #{first}–#{last} linked between signed checkpoints ({linked} entries, {full} in this export)"
        )


def verify_export(path: str, *, key_id: str | None = None, public_key: str | None = None) -> Verdict:
    """Check the export at ``path`` (see the module docstring); never raises on bad input."""
    verdict = Verdict()
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        verdict.ok, verdict.unreadable = False, f"{path}: not a readable ZIP ({exc})"
        return verdict
    with archive:
        try:
            manifest, public_hex = _check_signature(archive, verdict, key_id, public_key)
            _check_files(archive, manifest, verdict)
            _check_chain(archive, public_hex, verdict)
        except KeyError as exc:
            verdict.failed(f"the export lacks {exc}")
        except (ValueError, TypeError, zipfile.BadZipFile) as exc:
            verdict.failed(f"a file of the export is malformed: {exc}")
    return verdict
