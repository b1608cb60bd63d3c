# Sourced by .ci/test: a throwaway PostgreSQL cluster for the suite's second pass.
# start_postgres sets PODIUM_TEST_POSTGRES to its URL; stop_postgres stops it and removes every file it made.
# It installs Debian's postgresql package when no server is installed, and runs the server as an unprivileged
# user (the package's postgres user when this script runs as root: the server refuses to run as root).

_pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

_pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  if [ -z "$(_pg_bin)" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  local bin port
  bin="$(_pg_bin)"
  PODIUM_PG_DIR="$(mktemp -d /tmp/podium-pg.XXXXXX)"
  chmod 755 "$PODIUM_PG_DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres "$PODIUM_PG_DIR"; fi
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  _pg_as "$bin/initdb" -D "$PODIUM_PG_DIR/data" -U podium -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  # Durability settings off: this cluster lives for one test run and is thrown away.
  _pg_as "$bin/pg_ctl" -D "$PODIUM_PG_DIR/data" -l "$PODIUM_PG_DIR/server.log" -w -s -o \
    "-p $port -k $PODIUM_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start
  _pg_as "$bin/createdb" -h 127.0.0.1 -p "$port" -U podium podium_test
  export PODIUM_TEST_POSTGRES="postgresql://podium@127.0.0.1:$port/podium_test"
}

stop_postgres() {
  if [ -n "${PODIUM_PG_DIR:-}" ] && [ -d "$PODIUM_PG_DIR" ]; then
    _pg_as "$(_pg_bin)/pg_ctl" -D "$PODIUM_PG_DIR/data" -m immediate -w -s stop || true
    rm -rf "$PODIUM_PG_DIR"
  fi
}
