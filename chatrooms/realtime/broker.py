"""The project's Mosquitto configuration, written from settings.

One function writes it, for ``manage.py broker`` (development and the systemd unit
in deploy/) and for the tests' own broker, so what is tested is what runs.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from django.conf import settings

from chatrooms.realtime.publisher import broker_secret

PLUGIN_PATH = Path(settings.BASE_DIR) / "broker" / "build" / "chatroom_auth.so"
# Room for the longest CONNECT (a token in the username and another in the client id),
# the largest payload the worker reads, and the server's broadcast arrays (at most
# publisher.ARRAY_MAX_BYTES each).
MAX_PACKET_BYTES = 256 * 1024


def plugin_path() -> Path:
    return Path(os.environ.get("CHATROOM_BROKER_PLUGIN", PLUGIN_PATH))


def write_config(
    directory: Path,
    *,
    tcp_port: int,
    auth_url: str,
    bind: str = "127.0.0.1",
    verbose: bool = False,
) -> Path:
    """Write mosquitto.conf and the secret file into ``directory``; return the conf."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    secret_file = directory / "secret"
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(broker_secret())
    plugin = plugin_path()
    if not plugin.exists():
        raise FileNotFoundError(f"{plugin} is not built: run `make -C broker` first")
    log_types = ["error", "warning", "notice"] + (["information"] if verbose else [])
    lines = [
        "# Written by chatrooms.realtime.broker from the project's settings.",
        # Mosquitto started as root would switch to the 'mosquitto' user, which cannot
        # read our private files: it runs as whoever starts it (systemd picks the user).
        f"user {pwd.getpwuid(os.getuid()).pw_name}",
        "per_listener_settings false",
        "allow_anonymous false",
        "persistence false",
        # Usernames and client ids carry tokens: keep them out of the log.
        "connection_messages false",
        "log_dest stdout",
        *(f"log_type {kind}" for kind in log_types),
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        f"max_packet_size {MAX_PACKET_BYTES}",
        "set_tcp_nodelay true",
        # The server (worker) subscribes with QoS 0: let its queue grow under bursts.
        "max_queued_messages 100000",
        # MQTT over TCP only: WebSocket clients come through our relay
        # (chatrooms/realtime/relay.py says why not Mosquitto's own listener).
        f"listener {tcp_port} {bind}",
        "protocol mqtt",
        f"plugin {plugin}",
        f"plugin_opt_auth_url {auth_url}",
        f"plugin_opt_secret_file {secret_file}",
        "",
    ]
    conf = directory / "mosquitto.conf"
    conf.write_text("\n".join(lines))
    return conf
