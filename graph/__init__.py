"""Microsoft Graph and identity adapter: MSAL token handling, the httpx Graph client (retries,
throttling, $batch), typed calendar operations, the CalendarPort implementation (adapter.py) and the
CalendarSyncPort one (sync.py: subscriptions and calendarView delta). graph/sandbox/ is the Graph
emulator. Must not import: storage, bot, cards, web."""
