"""What every CSV we hand out shares: cells a spreadsheet will not run as formulas.

Used by the console's exports and by the reports (``chatrooms.reports``).
"""


def csv_safe(value) -> str:
    """Keep a spreadsheet from reading user text as a formula."""
    text = str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
