# Sourced by scripts/test.sh and bench scripts: starts a throwaway PostgreSQL 15 server in a
# temporary folder (trust auth, a spare port, fsync off), exports DATABASE_URL, and stops it on exit.
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$PGBIN/initdb" ]; then
  echo "PostgreSQL 15 not found in $PGBIN; installing postgresql-15" >&2
  apt-get update -qq && apt-get install -y -qq postgresql-15 >/dev/null
fi
PGPORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
PGTMP=$(mktemp -d /tmp/iterable-sync-pg.XXXXXX)
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" = 0 ] && chown postgres:postgres "$PGTMP"
as_postgres "$PGBIN/initdb" -D "$PGTMP/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
as_postgres "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -t 30 start \
  -o "-p $PGPORT -k $PGTMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
stop_postgres() {
  as_postgres "$PGBIN/pg_ctl" -D "$PGTMP/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PGTMP"
}
trap stop_postgres EXIT
as_postgres "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres iterable_test
export DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/iterable_test"
echo "PostgreSQL test server on port $PGPORT" >&2
