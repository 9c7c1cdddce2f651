"""The pure scheduling core of Slotwise.

Owns: the value types (intervals, event-type rules, busy time, bookings), the interval algebra, slot
computation (single host and teams), time-zone rules, the error tree, the ports the adapters implement
and the use cases (list slots, book, reschedule, cancel) written against those ports.

Must not import: aiohttp, httpx, SQLAlchemy, botbuilder, msal, jinja2, or any other adapter package
(``graph``, ``storage``, ``bot``, ``cards``, ``web``). It never reads the clock, the environment or a
file: ``now``, time zones and data always come in as arguments.
"""
