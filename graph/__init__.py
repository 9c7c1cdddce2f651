"""Microsoft Graph and identity adapter: MSAL token handling, the httpx Graph client (retries,
throttling, $batch), typed calendar operations, and the CalendarPort implementation. graph/sandbox/
is the Graph emulator. Must not import: storage, bot, cards, web."""
