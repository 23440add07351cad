"""A real SMTP server for the email worker's tests, on aiosmtpd (installed by
install-test-servers; any Python 3.8 or later).

    python3 smtp_server.py PORT

Listens on 127.0.0.1:PORT (0 picks a free port) and prints one JSON line per event on
stdout: first {"port": N}, then for every message {"from", "to", "subject", "text", "html"}
with the MIME parts decoded. Recipients decide the reply, so a test can ask for failures:
  reject...@  -> 550 5.1.1 (permanent)
  busy...@    -> 451 4.3.0 on the first delivery to that address, accepted afterwards
"""

import asyncio
import email
import email.policy
import json
import sys

from aiosmtpd.smtp import SMTP

seen_busy = set()


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Handler:
    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            local = rcpt.split("@", 1)[0].lower()
            if local.startswith("reject"):
                return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % rcpt
            if local.startswith("busy") and rcpt not in seen_busy:
                seen_busy.add(rcpt)
                return "451 4.3.0 <%s>: Mailbox busy, try again later" % rcpt
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        parts = {"text": None, "html": None}
        for part in msg.walk():
            kind = part.get_content_type()
            if kind == "text/plain" and parts["text"] is None:
                parts["text"] = part.get_content()
            elif kind == "text/html" and parts["html"] is None:
                parts["html"] = part.get_content()
        emit(
            {
                "from": str(msg["From"]),
                "envelope_from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "subject": str(msg["Subject"]),
                "text": parts["text"],
                "html": parts["html"],
            }
        )
        return "250 OK"


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    handler = Handler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="tests.local", decode_data=False), "127.0.0.1", port
    )
    emit({"port": server.sockets[0].getsockname()[1]})
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
