"""A real SMTP server for the email worker's tests (Python 3.11's smtpd; run with
-W ignore::DeprecationWarning).

    python3 smtp_server.py PORT

Listens on 127.0.0.1:PORT (0 picks a free port) and prints one JSON line per event on
stdout: first {"port": N}, then for every message {"from", "to", "subject", "text", "html"}
with the MIME parts decoded. Recipients decide the reply, so a test can ask for failures:
  reject...@  -> 550 5.1.1 (permanent)
  busy...@    -> 451 4.3.0 on the first delivery to that address, accepted afterwards
"""

import asyncore
import email
import email.policy
import json
import smtpd
import sys

seen_busy = set()


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Server(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        for rcpt in rcpttos:
            local = rcpt.split("@", 1)[0].lower()
            if local.startswith("reject"):
                return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % rcpt
            if local.startswith("busy") and rcpt not in seen_busy:
                seen_busy.add(rcpt)
                return "451 4.3.0 <%s>: Mailbox busy, try again later" % rcpt
        msg = email.message_from_bytes(data, policy=email.policy.default)
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
                "envelope_from": mailfrom,
                "to": rcpttos,
                "subject": str(msg["Subject"]),
                "text": parts["text"],
                "html": parts["html"],
            }
        )
        return None


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = Server(("127.0.0.1", port), None, decode_data=False)
    emit({"port": server.socket.getsockname()[1]})
    asyncore.loop(timeout=0.2)


if __name__ == "__main__":
    main()
