"""Teams adapter: the /api/messages handler (botbuilder CloudAdapter, our own aiohttp handler so
invokes return their bodies), chat text -> command parsing, invoke routing (Universal Actions card
verbs, link unfurling, SSO), and proactive notifications from the outbox.

Calls the core's use cases and renders with cards/. Must not import: graph, storage, web.
"""
