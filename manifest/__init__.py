"""The Teams app package: manifest template, generated icons, and the packaging command (python -m manifest.build).

Must not import: graph, storage, bot, web, cards.
"""
