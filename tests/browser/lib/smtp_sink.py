"""An aiosmtpd handler that keeps every message it receives in a directory, for the browser suite.

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.Maildrop DIRECTORY

(with this folder on PYTHONPATH). Each message becomes two files, numbered in arrival order:

    0001.eml    the DATA exactly as received (what gptauth's SMTP client sent)
    0001.json   the envelope and the message as Python's email package reads it: sender,
                recipients, subject, From/To, and the text and HTML parts decoded (quoted-printable
                or base64 undone, charset applied), with the transfer encoding each part used

The .json file is written last and renamed into place, so a reader that sees it sees a whole
message.
"""

import email
import email.policy
import json
import os
import sys


def _part(message, subtype):
    """The decoded text of the first text/SUBTYPE part, and its Content-Transfer-Encoding."""
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None, None
    return part.get_content(), str(part.get("Content-Transfer-Encoding", "7bit")).lower()


class Maildrop:
    def __init__(self, directory):
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("smtp_sink.Maildrop takes one argument: the directory for the messages")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = f"{self.count:04d}"
        raw = envelope.original_content or envelope.content
        with open(os.path.join(self.directory, f"{name}.eml"), "wb") as f:
            f.write(raw)
        record = {
            "file": f"{name}.eml",
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
        }
        try:
            message = email.message_from_bytes(raw, policy=email.policy.default)
            text, text_encoding = _part(message, "plain")
            html, html_encoding = _part(message, "html")
            record.update({
                "subject": str(message.get("Subject", "")),
                "from": str(message.get("From", "")),
                "to": str(message.get("To", "")),
                "content_type": message.get_content_type(),
                "text": text,
                "text_encoding": text_encoding,
                "html": html,
                "html_encoding": html_encoding,
            })
        except Exception as e:  # a message we cannot read is still delivered, with the reason
            record["parse_error"] = f"{type(e).__name__}: {e}"
        tmp = os.path.join(self.directory, f".{name}.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False, indent=1)
        os.replace(tmp, os.path.join(self.directory, f"{name}.json"))
        print(f"smtp_sink: {name} from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)}: "
              f"{record.get('subject', record.get('parse_error'))!r}", file=sys.stderr, flush=True)
        return "250 Message accepted for delivery"
