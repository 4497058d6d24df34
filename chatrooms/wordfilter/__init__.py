"""The word filter: dictionaries of patterns, bound to rooms, that hold matching text
messages for review (docs/api.md, "Word filter").

``models`` (imported by ``chatrooms.models``), ``matcher`` (normalisation and the
per-room automaton), ``services`` (every write, audited), ``selectors`` (reads),
``csvfiles`` (upload and download), ``tokens`` (dictionary tokens). The room domain
calls ``services.filter_messages`` from ``chatrooms.services.messages_send``; nothing
else in ``chatrooms`` imports this package.
"""
