"""The realtime link: MQTT 5 through the project's Mosquitto (docs/realtime.md).

- ``topics``: topic names for a room and role;
- ``credentials``: which CONNECT may proceed, for the broker plugin's auth call;
- ``events``: system events as upstream ``InteractionMessage`` dicts;
- ``publisher``: the server's own MQTT connection, used by web processes and the worker;
- ``ingest``: what the worker does with a batch of client messages;
- ``worker``: the ``manage.py realtime`` process.

The room domain (``chatrooms.services``) announces changes through ``publisher`` after
commit; nothing here is imported back by the domain except that announcement hook.
"""
