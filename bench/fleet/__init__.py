"""The fleet harness: ``python -m bench.fleet`` (5 minutes) and ``python -m bench.fleet --short`` (``make test``).

Slotwise as deployed, on this machine's loopback: the Graph emulator as its own process (``python -m
graph.sandbox``, 50 ms per request), four app replicas (``python app.py``) on one PostgreSQL of the harness's own
(``initdb`` in a temporary folder, on a free port; migrated once), HAProxy in front of them (round-robin,
health-checked on ``/readyz``), a stand-in Bot Connector and a webhook receiver. Through the balancer it drives a
mixed load (slot views, bookings racing for the same few slots, reschedules and cancels from manage links, REST API
calls, chat messages) while it SIGKILLs a random replica every few seconds and starts it again, injects Graph faults
at 30 % (the emulator's 429s with Retry-After, 503s, latency spikes, MailboxConcurrency) and restarts PostgreSQL
once. Then: faults off, every replica up, wait until reconciliation and the outbox have settled, and count what
went wrong (``bench.fleet.audit``).

Prints progress on stderr and ONE JSON line on stdout: the integrity counts (all must be 0), requests/s,
bookings/s, p50/p95 per request kind, peak RSS per replica, kills and faults injected.

Modules: ``postgres`` (the harness's server), ``processes`` (emulator, replicas, HAProxy), ``stand_ins``
(connector, receiver), ``load`` (setup and the load), ``audit`` (settle and count), ``run`` (one run).
"""
