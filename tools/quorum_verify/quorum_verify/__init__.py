"""quorum-verify: check a Quorum evidence export without Quorum (issue 15, item 5).

Standard library plus ``cryptography``; no Django, no database, no network. See ``verify.py``
for what is checked and ``cli.py`` for the command."""

from .verify import Verdict, verify_export

__all__ = ["Verdict", "verify_export"]
