# Sourced by test.sh and bench.sh: start a throw-away PostgreSQL server for this run.
# Sets PG_URL (postgresql://ledger@127.0.0.1:PORT/postgres) and stops the server on exit.
# PostgreSQL refuses to run as root: as root the server runs as an unprivileged
# user (created if needed). If no server binaries are installed and we are root,
# Debian's postgresql package is installed.
find_pg_bin() {
    local candidate
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir; return 0
    fi
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/pgsql/bin; do
        if [ -x "$candidate/initdb" ] && [ -x "$candidate/postgres" ]; then echo "$candidate"; return 0; fi
    done
    return 1
}

PG_BIN="$(find_pg_bin || true)"
if [ -z "$PG_BIN" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing PostgreSQL (Debian package postgresql)..."
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        PG_BIN="$(find_pg_bin)"
    else
        echo "error: no PostgreSQL server binaries (initdb, postgres) found." >&2
        echo "Install them (Debian/Ubuntu: sudo apt-get install postgresql) and rerun." >&2
        exit 2
    fi
fi

PG_DIR="$(mktemp -d /tmp/ledger-pg.XXXXXX)"
run_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
    PG_USER="${LEDGER_PG_OS_USER:-ledgerpg}"
    id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
    chown "$PG_USER" "$PG_DIR"
    chmod 755 "$PG_DIR"
    run_pg() { runuser -u "$PG_USER" -- "$@"; }
fi
PG_PORT="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"

stop_pg() {
    run_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}
trap stop_pg EXIT

run_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U ledger -A trust -E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
run_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" start >/dev/null \
    || { cat "$PG_DIR/server.log" >&2; exit 1; }

PG_URL="postgresql://ledger@127.0.0.1:$PG_PORT/postgres"
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on port $PG_PORT" >&2
