"""The documentation gate: each agent's governance documents, and no release without them.

Rules (issue 21, item 2; DESIGN "Documentation gate"):

* A document is a file (size and type limited, scanned for viruses) or a link, with an owner and
  a review date. Uploading again makes the next version; nothing is replaced or deleted.
* The latest version of each kind counts, and only while its review date has not passed.
* The tier says which kinds must exist and be current before a go-live or new-version request is
  applied (:data:`REQUIRED_DOCUMENTS`); the request page shows which are missing or expired.
* Who adds documents: whoever may edit the agent (its owner, the board)."""

from __future__ import annotations

import hashlib
import logging
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from approvals.choices import RELEASE_KINDS
from approvals.exceptions import RequestRefused
from approvals.selectors import requests_open_for_agent
from approvals.services import request_apply
from registry.choices import RiskTier
from registry.extensions import ExtensionPoint
from registry.models import Agent
from registry.permissions import user_can_edit_agent

from .choices import DocumentKind
from .models import AgentDocument

logger = logging.getLogger(__name__)

# Which documents each risk tier needs before a release. Tier 1 (customer-facing, money,
# regulated data) needs all five; tier 3 (internal, read-mostly) the card and the runbook.
REQUIRED_DOCUMENTS: dict[int, tuple[str, ...]] = {
    RiskTier.TIER_1: (
        DocumentKind.AGENT_CARD,
        DocumentKind.RUNBOOK,
        DocumentKind.ARCHITECTURE,
        DocumentKind.GOLDEN_SET,
        DocumentKind.PRIVACY_SIGNOFF,
    ),
    RiskTier.TIER_2: (
        DocumentKind.AGENT_CARD,
        DocumentKind.RUNBOOK,
        DocumentKind.ARCHITECTURE,
        DocumentKind.GOLDEN_SET,
    ),
    RiskTier.TIER_3: (DocumentKind.AGENT_CARD, DocumentKind.RUNBOOK),
}

# What a runbook must cover: the playbook's production failure modes (seed 004, chapter 11).
RUNBOOK_FAILURE_MODES = (
    "Provider outage (model unavailable): fail over, cache-only mode",
    "Tool or integration outage: circuit breaker per tool, graceful degradation",
    "Stuck agent loop: hard step and cost budget, force termination with human handoff",
    "Cost anomaly: alert operations, auto-pause new sessions",
    "Quality regression: block deploys, roll back to the last known-good version",
    "Knowledge staleness: re-index, audit retrieval freshness",
)

# Known signatures of the types we accept, so a renamed executable is not stored as a "pdf".
_MAGIC = {"pdf": (b"%PDF-",), "png": (b"\x89PNG\r\n\x1a\n",), "jpg": (b"\xff\xd8\xff",), "jpeg": (b"\xff\xd8\xff",)}
_TEXT_TYPES = {"md", "txt", "svg", "json", "csv", "jsonl"}
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "svg": "image/svg+xml",
    "json": "application/json",
    "jsonl": "application/jsonl",
    "csv": "text/csv",
    "md": "text/markdown",
    "txt": "text/plain",
}

# A scanner reads the whole file and returns why it refuses it, or None when it is clean. An
# exception refuses the upload too (a scanner that cannot answer has not said "clean").
VirusScanner = Callable[[bytes, str], "str | None"]
virus_scanners: ExtensionPoint[VirusScanner] = ExtensionPoint("document virus scanners")


def command_virus_scan(data: bytes, name: str) -> str | None:
    """The configured scanner command (``QUORUM_VIRUS_SCAN_COMMAND``, e.g. ``clamdscan --no-summary -``)
    reads the file on stdin: exit 0 clean, 1 infected (clamd's convention), anything else an error.
    No command configured: nothing to ask."""
    command = settings.QUORUM_VIRUS_SCAN_COMMAND
    if not command:
        return None
    try:
        done = subprocess.run(  # noqa: S603 - an operator-configured command line, no shell
            shlex.split(command),
            input=data,
            capture_output=True,
            timeout=settings.QUORUM_VIRUS_SCAN_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("virus scanner did not answer for %s: %s", name, exc)
        return "The virus scanner did not answer; try again later."
    if done.returncode == 0:
        return None
    if done.returncode == 1:
        return "The virus scanner found a threat in this file."
    logger.warning("virus scanner failed for %s (exit %s): %s", name, done.returncode, done.stderr[:500])
    return "The virus scanner failed on this file; try again later."


virus_scanners.register(command_virus_scan, order=0)


def _extension(name: str) -> str:
    return PurePath(name).suffix.lower().lstrip(".")


def document_file_check(upload: UploadedFile) -> tuple[bytes, str]:
    """Size, type (by extension and signature) and the virus scan; returns the bytes and the content type.
    Raises ``ValidationError`` on the ``file`` field with the reason."""
    limit = settings.QUORUM_DOCUMENT_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise ValidationError({"file": f"The file is larger than {limit // (1024 * 1024)} MB."})
    if upload.size == 0:
        raise ValidationError({"file": "The file is empty."})
    ext = _extension(upload.name or "")
    allowed = [t.lower() for t in settings.QUORUM_DOCUMENT_TYPES]
    if ext not in allowed:
        raise ValidationError(
            {"file": f"Files of type “{ext or 'none'}” are not accepted; use one of {', '.join(allowed)}."}
        )
    data = upload.read()
    upload.seek(0)
    signatures = _MAGIC.get(ext)
    if signatures and not data.startswith(signatures):
        raise ValidationError({"file": f"The file's content is not a {ext.upper()} file."})
    if ext in _TEXT_TYPES:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError({"file": f"A .{ext} file must be UTF-8 text."}) from None
    for scanner in virus_scanners:
        try:
            refusal = scanner(data, upload.name or "")
        except Exception:  # noqa: BLE001 - a scanner that breaks has not said "clean"
            logger.exception("virus scanner %r raised", scanner)
            refusal = "The virus scanner failed on this file; try again later."
        if refusal:
            raise ValidationError({"file": refusal})
    return data, CONTENT_TYPES.get(ext, "application/octet-stream")


def document_add(
    *,
    agent: Agent,
    kind: str,
    title: str,
    owner,
    review_due: date,
    user,
    upload: UploadedFile | None = None,
    url: str = "",
    note: str = "",
) -> AgentDocument:
    """Add the next version of one of the agent's documents (a file or a link, never both).
    Whoever may edit the agent adds; the review date may not be in the past. Approved release
    requests that were waiting for documents are retried once this commits."""
    if not user_can_edit_agent(user, agent):
        raise PermissionDenied("You may not add documents to this agent.")
    if kind not in DocumentKind.values:
        raise ValidationError({"kind": f"Unknown document kind {kind!r}."})
    if bool(upload) == bool(url):
        raise ValidationError({"file": "Upload a file or give a link (one of them)."})
    if review_due < timezone.localdate():
        raise ValidationError({"review_due": "The review date is in the past."})
    doc = AgentDocument(agent=agent, kind=kind, title=title, owner=owner, review_due=review_due, note=note)
    doc.uploaded_by = user
    if upload:
        data, doc.content_type = document_file_check(upload)
        doc.size_bytes = len(data)
        doc.sha256 = hashlib.sha256(data).hexdigest()
    else:
        doc.url = url
    with transaction.atomic():
        # The agent's row lock serialises two uploads of the same kind: each gets its own version
        # number (the unique constraint on agent, kind, version backs it).
        Agent.objects.select_for_update(no_key=True).only("pk").get(pk=agent.pk)
        latest = AgentDocument.objects.filter(agent=agent, kind=kind).aggregate(v=Max("version"))["v"] or 0
        doc.version = latest + 1
        if upload:
            doc.file.save(PurePath(upload.name).name, upload, save=False)
        doc.save()
        agent_pk = agent.pk
        transaction.on_commit(lambda: release_requests_retry(agent_id=agent_pk))
    return doc


def release_requests_retry(*, agent_id: int) -> None:
    """Approved release requests of the agent that a gate held back: try applying each again (the
    engine asks every gate afresh; one still missing keeps it blocked with the new reason)."""
    agent = Agent.objects.get(pk=agent_id)
    for req in requests_open_for_agent(agent).filter(kind__in=RELEASE_KINDS).exclude(blocked_reason=""):
        try:
            request_apply(request_id=req.pk, actor=None)
        except RequestRefused as exc:
            logger.info("request %s not applied after a compliance record changed: %s", req.pk, exc)


@dataclass(frozen=True)
class DocumentState:
    """One required kind for one agent: its current version (or None) and what is wrong."""

    kind: str
    label: str
    document: AgentDocument | None
    problem: str | None  # "missing", "expired", or None when it counts


def documents_latest(agent: Agent) -> dict[str, AgentDocument]:
    """The latest version of each kind the agent has."""
    latest: dict[str, AgentDocument] = {}
    for doc in AgentDocument.objects.filter(agent=agent).select_related("owner").order_by("kind", "-version"):
        latest.setdefault(doc.kind, doc)
    return latest


def documents_required_state(agent: Agent, *, today: date | None = None) -> list[DocumentState]:
    """Each document the agent's tier requires, with its current version and whether it counts."""
    today = today or timezone.localdate()
    latest = documents_latest(agent)
    states = []
    for kind in REQUIRED_DOCUMENTS.get(agent.risk_tier, REQUIRED_DOCUMENTS[RiskTier.TIER_1]):
        doc = latest.get(kind)
        problem = "missing" if doc is None else ("expired" if doc.review_due < today else None)
        states.append(DocumentState(kind, DocumentKind(kind).label, doc, problem))
    return states


def documentation_gate(request) -> str | None:
    """Apply gate (``approvals.extensions.apply_gates``, registered in ``ComplianceConfig.ready``):
    a go-live or new-version request is not applied while a document the agent's tier requires is
    missing or past its review date; the reason names each one."""
    if getattr(request, "kind", None) not in RELEASE_KINDS or getattr(request, "agent", None) is None:
        return None
    return documentation_gate_reason(request.agent)


def documentation_gate_reason(agent: Agent) -> str | None:
    """What the documentation gate says about ``agent`` now: the missing and expired documents, or None."""
    states = documents_required_state(agent)
    missing = [s.label.lower() for s in states if s.problem == "missing"]
    expired = [
        f"{s.label.lower()} (review was due {s.document.review_due:%Y-%m-%d})" for s in states if s.problem == "expired"
    ]
    if not missing and not expired:
        return None
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if expired:
        parts.append("expired " + ", ".join(expired))
    return f"Documentation gate (tier {agent.risk_tier}): " + "; ".join(parts) + "."
