# Sourced by the PostgreSQL benchmarks from the checkout's root: builds bo if
# needed, starts a throwaway server (initdb in a temporary folder, a loopback
# port, password authentication) and stops it on exit. Sets BO, PG_URL (a
# database `bench`), PG_DIR, PG_WORK (a folder with the benchmarks' objective
# and sweep file), pg_restart and pg_sql.
BO="$PWD/target/release/bo"
[ -x "$BO" ] || cargo build --release --bin bo
PG_BIN="${BO_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
[ -x "$PG_BIN/initdb" ] || { echo "PostgreSQL is not installed: run scripts/setup.sh" >&2; exit 1; }
PG_DIR="$(mktemp -d /tmp/bo-pg-bench-XXXXXX)"
PG_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
PG_PASSWORD=bench
as_pg() {
    # PostgreSQL refuses to run as root: root runs it as Debian's postgres user.
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
echo "$PG_PASSWORD" > "$PG_DIR/password"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$PG_DIR"
as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U bo --auth=scram-sha-256 --pwfile="$PG_DIR/password" -E UTF8 >/dev/null
pg_start() {
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DIR -c max_connections=200" start >/dev/null
}
pg_stop() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true; }
pg_restart() { pg_stop; pg_start; }
pg_cleanup() { pg_stop; rm -rf "$PG_DIR"; }
trap pg_cleanup EXIT
pg_start
export PGPASSWORD="$PG_PASSWORD"
pg_sql() { psql -h 127.0.0.1 -p "$PG_PORT" -U bo -d "${PG_DB:-bench}" -AtqX -c "$1"; }
PG_DB=postgres pg_sql "CREATE DATABASE bench"
PG_URL="postgresql://bo:$PG_PASSWORD@127.0.0.1:$PG_PORT/bench"
PG_WORK="$PG_DIR/work"
mkdir -p "$PG_WORK"
cp benchmarks/postgres/objective.sh benchmarks/postgres/sweep.yaml "$PG_WORK/"
