"""Pattern files: what `:upload` reads and what `:download` serves (docs/api.md).

The file is CSV in UTF-8 (a byte-order mark is written, and skipped when read). Every
non-empty cell is a pattern, so one pattern per line and comma-separated lists both
work; quoted cells are unquoted, surrounding spaces trimmed. There is no header row.
The download writes one pattern per line, in the order they were added, with the mark
(spreadsheet programs then read CJK text right), lines ending in CRLF (RFC 4180).
"""

from __future__ import annotations

import csv
import io

from django.urls import reverse

from chatrooms.errors import InvalidArgument
from chatrooms.signed_links import LinkInvalid, unsign
from chatrooms.signed_links import sign as sign_value
from chatrooms.wordfilter.models import Dictionary

BOM = "\ufeff"
UPLOAD_MAX_BYTES = 512 * 1024
LINK_SALT = "chatrooms.wordfilter.download"
LINK_TTL_SECONDS = 3600


def parse_csv(data: bytes) -> list[str]:
    """The patterns of an uploaded file, in order (not yet validated)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidArgument(
            "The file is not UTF-8 text.",
            reason="FILE_NOT_UTF8",
            field_violations=[("data", "Must be a UTF-8 CSV file.")],
        ) from None
    if "\x00" in text:
        raise InvalidArgument(
            "The file is not a CSV text file.",
            reason="FILE_NOT_CSV",
            field_violations=[("data", "Must be a UTF-8 CSV file.")],
        )
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise InvalidArgument(
            f"The file is not valid CSV: {exc}.",
            reason="FILE_NOT_CSV",
            field_violations=[("data", "Must be a UTF-8 CSV file.")],
        ) from None
    return [cell.strip() for row in rows for cell in row if cell.strip()]


def patterns_csv(dictionary: Dictionary) -> bytes:
    out = io.StringIO(newline="")
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    for text in dictionary.patterns.order_by("created_at", "id").values_list("text", flat=True):
        writer.writerow([text])
    return out.getvalue().encode("utf-8")


def file_name(dictionary: Dictionary) -> str:
    safe = "".join(
        c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in dictionary.name
    )
    return f"{safe or 'dictionary'}-patterns.csv"


def sign(dictionary_id) -> str:
    return sign_value(str(dictionary_id), salt=LINK_SALT)


def verify(token: str, dictionary_id) -> None:
    if unsign(token, salt=LINK_SALT, max_age=LINK_TTL_SECONDS) != str(dictionary_id):
        raise LinkInvalid


def download_path(dictionary: Dictionary) -> str:
    """The signed path of the dictionary's CSV (valid for LINK_TTL_SECONDS)."""
    url = reverse("chatroom_api:dictionary-patterns-file", kwargs={"dictionary_id": dictionary.pk})
    return f"{url}?token={sign(dictionary.pk)}"
