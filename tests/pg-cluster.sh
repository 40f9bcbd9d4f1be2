# Sourced by tests/run-all: starts a throwaway PostgreSQL cluster for the
# tests (initdb in a temporary directory, its own port on 127.0.0.1, fsync
# off), exports its URL as FLUTTER_TEST_PG and stops it when the shell exits.
# Installs Debian's postgresql when no server is found (as root). Any failure
# stops run-all: the PostgreSQL tests fail, they are never skipped.

flutter_pg_bin() {
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && best="$d"
  done
  if [ -z "$best" ] && command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    best="$(dirname "$(command -v initdb)")"
  fi
  printf '%s' "$best"
}

flutter_pg_start() {
  local bin user port
  bin="$(flutter_pg_bin)"
  if [ -z "$bin" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing: postgresql"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      bin="$(flutter_pg_bin)"
    fi
    if [ -z "$bin" ]; then
      echo "PostgreSQL (initdb, pg_ctl) is missing: install the postgresql package" >&2
      return 1
    fi
  fi
  FLUTTER_PG_DIR="$(mktemp -d /tmp/flutter-pg.XXXXXX)"
  chmod 755 "$FLUTTER_PG_DIR"
  # PostgreSQL refuses to run as root: use the package's postgres user, or one of our own.
  FLUTTER_PG_RUN=()
  if [ "$(id -u)" = 0 ]; then
    user=postgres
    if ! id "$user" >/dev/null 2>&1; then
      user=flutter-pg
      id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    fi
    chown "$user" "$FLUTTER_PG_DIR"
    FLUTTER_PG_RUN=(runuser -u "$user" --)
  fi
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)"
  "${FLUTTER_PG_RUN[@]}" "$bin/initdb" -D "$FLUTTER_PG_DIR/data" -U flutter --auth=trust \
    -E UTF8 --no-locale >"$FLUTTER_PG_DIR/initdb.log" 2>&1 || {
    cat "$FLUTTER_PG_DIR/initdb.log" >&2
    return 1
  }
  "${FLUTTER_PG_RUN[@]}" "$bin/pg_ctl" -D "$FLUTTER_PG_DIR/data" -l "$FLUTTER_PG_DIR/server.log" \
    -w -t 60 -o "-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c listen_addresses=127.0.0.1 -p $port -k $FLUTTER_PG_DIR -c max_connections=300" \
    start >/dev/null || {
    echo "PostgreSQL did not start:" >&2
    cat "$FLUTTER_PG_DIR/server.log" >&2
    return 1
  }
  FLUTTER_PG_CTL="$bin/pg_ctl"
  export FLUTTER_TEST_PG="postgres://flutter@127.0.0.1:$port/postgres"
  echo "PostgreSQL test cluster: $FLUTTER_TEST_PG"
}

flutter_pg_stop() {
  if [ -n "${FLUTTER_PG_DIR:-}" ]; then
    "${FLUTTER_PG_RUN[@]}" "${FLUTTER_PG_CTL:-false}" -D "$FLUTTER_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$FLUTTER_PG_DIR"
    FLUTTER_PG_DIR=""
  fi
}

# Keep any EXIT trap run-all already has.
flutter_pg_prev_trap="$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")"
trap "flutter_pg_stop; ${flutter_pg_prev_trap}" EXIT
flutter_pg_start || exit 1
