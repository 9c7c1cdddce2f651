"""Teams adapter: the /api/messages handler (botbuilder CloudAdapter, our own aiohttp handler so
invokes return their bodies), chat text -> command parsing, invoke routing (Universal Actions card
verbs, link unfurling, SSO), and proactive notifications from the outbox.

Calls the core's use cases and renders with cards/. Must not import: graph, storage, web.

Map of the package:

* :mod:`bot.handler`: ``POST /api/messages`` (auth, 4xx for what is not an activity), the runtime
  (adapter, bot, the Teams notifier) that ``app.py`` creates;
* :mod:`bot.teams_bot`: the activity handler: messages, invokes, installs;
* :mod:`bot.commands` (chat text -> typed command) and :mod:`bot.chat` (command -> answer);
* :mod:`bot.routing`: card verbs, checked at the edge against ``cards.verbs``;
* :mod:`bot.host` (links, connection, upcoming) and :mod:`bot.picker` (slots, booking, reschedule,
  cancel): what the commands and verbs do;
* :mod:`bot.unfurl`: link unfurling and the link search of the messaging extension;
* :mod:`bot.notifications`: the Teams notifier (proactive messages to hosts, for the core's delivery);
* :mod:`bot.private`: private replies (sign-in, consent, MFA, bookings) asked for in a group chat or
  channel go to the asker's personal chat, through the outbox;
* :mod:`bot.context` (tenant, acting user, viewer zone, conversation references),
  :mod:`bot.errors` (every error -> its card, in one place), :mod:`bot.reply`, :mod:`bot.deps`.
"""

from bot.deps import BotDeps
from bot.handler import BOT_RUNTIME, create_runtime, setup_bot

__all__ = ["BOT_RUNTIME", "BotDeps", "create_runtime", "setup_bot"]
