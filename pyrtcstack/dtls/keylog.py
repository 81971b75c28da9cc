"""NSS key log lines, which Wireshark and tshark read to decrypt DTLS 1.2 traffic.

Format (NSS "Key Log Format"): ``CLIENT_RANDOM <client_random hex> <master_secret hex>``.
The connection hands each line to a user callback; writing it to a file is the caller's job
(the CLI's ``--keylog FILE`` appends it), so the core does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["KeyLogCallback", "keylog_line"]

KeyLogCallback = Callable[[str], None]


def keylog_line(client_random: bytes, master_secret: bytes) -> str:
    return f"CLIENT_RANDOM {client_random.hex()} {master_secret.hex()}"
