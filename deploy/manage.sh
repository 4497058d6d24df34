#!/bin/sh
# manage.py with the service's environment file, for the one-off commands of the README's
# Deploy section (migrate, collectstatic, createsuperuser, create_api_key, check --deploy):
#
#   sudo -u chatroom /srv/chatroom/deploy/manage.sh collectstatic --noinput
#   sudo -u chatroom DATABASE_URL=postgres://chatroom_owner:...@127.0.0.1:5432/chatroom \
#       /srv/chatroom/deploy/manage.sh migrate
#
# Reads CHATROOM_ENV_FILE (default /etc/chatroom/chatroom.env, the units' EnvironmentFile);
# a variable already set in the caller's environment wins over the file (the owner's
# DATABASE_URL for migrate, above). Runs the project's virtualenv Python.
set -eu
env_file=${CHATROOM_ENV_FILE:-/etc/chatroom/chatroom.env}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -r "$env_file" ]; then
    echo "deploy/manage.sh: cannot read $env_file (set CHATROOM_ENV_FILE)" >&2
    exit 1
fi
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
        '' | '#'* | ';'*) continue ;;
    esac
    key=${line%%=*}
    case $key in
        '' | [0-9]* | *[!A-Za-z0-9_]*)
            echo "deploy/manage.sh: $env_file: not KEY=value: $line" >&2
            exit 1
            ;;
    esac
    eval "already=\${$key+set}"
    if [ "$already" != set ]; then
        export "$key=${line#*=}"
    fi
done <"$env_file"
exec "$root/.venv/bin/python" "$root/manage.py" "$@"
