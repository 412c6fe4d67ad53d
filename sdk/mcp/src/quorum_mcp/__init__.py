"""quorum-mcp: an MCP gateway governed by Quorum.

::

    quorum-mcp --upstream "stdio:python -m my_tools" --upstream http://127.0.0.1:9000/mcp

The agent connects to the gateway (stdio by default, or ``--http PORT``) instead of its MCP
servers. On connect and on every ``notifications/tools/list_changed`` the gateway hashes each
upstream tool's name, description and input schema (:func:`definition_hash`) and shows the agent
only tools whose hash is pinned in the agent's deployed version; any other is hidden and reported
to Quorum (a compliance violation and a two-person pin request). Every ``tools/call`` asks the
action gate first: allowed calls pass through, denied ones answer an error result naming the
reason, pending ones wait for people (up to ``--approval-timeout``), and the kill switch denies
every side-effecting call."""

from .gateway import Gateway, Upstream, definition_hash

__all__ = ["Gateway", "Upstream", "definition_hash"]
__version__ = "0.1.0"
