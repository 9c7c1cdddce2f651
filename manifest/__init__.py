"""The Teams app package: manifest template, generated icons, and the packaging command (python -m manifest.build).

Must not import: graph, storage, bot, web, cards. May import the pure core (``scheduling.sso`` names the SSO
resource for both the manifest and the bot).
"""
