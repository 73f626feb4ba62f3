#!/usr/bin/env bash
# Installs what building, running and testing Fluxbase needs on a Debian or
# Ubuntu machine, and says what it does. Safe to run repeatedly: it only acts
# when something is missing.
set -euo pipefail

say() { echo "==> $*"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "error: '$*' needs root; run it as root or install sudo" >&2
		exit 1
	fi
}

apt_updated=0
apt_install() {
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "error: $* missing and apt-get not available; install it with your package manager" >&2
		exit 1
	fi
	if [ "$apt_updated" -eq 0 ]; then
		say "apt-get update"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		apt_updated=1
	fi
	say "installing $* with apt-get"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Go toolchain.
if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		echo "error: Go is installed at /usr/local/go/bin but not on PATH; add it: export PATH=\$PATH:/usr/local/go/bin" >&2
	else
		echo "error: Go 1.26 or newer is required (https://go.dev/doc/install)" >&2
	fi
	exit 1
fi

# PostgreSQL server binaries (initdb, postgres) for the embedded database and
# the test suite. Fluxbase finds them through pg_config or /usr/lib/postgresql.
have_pg_server() {
	local bindir
	if command -v pg_config >/dev/null 2>&1; then
		bindir="$(pg_config --bindir 2>/dev/null || true)"
		[ -x "$bindir/initdb" ] && [ -x "$bindir/postgres" ] && return 0
	fi
	for bindir in /usr/lib/postgresql/*/bin; do
		[ -x "$bindir/initdb" ] && [ -x "$bindir/postgres" ] && return 0
	done
	return 1
}
if ! have_pg_server; then
	say "PostgreSQL server binaries not found"
	apt_install postgresql postgresql-contrib
	# The Debian package creates and starts a default cluster; Fluxbase runs
	# its own, so the packaged one is left alone.
fi

# When running as root, the embedded PostgreSQL runs as the postgres user.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
	say "creating the postgres system user (PostgreSQL refuses to run as root)"
	as_root useradd --system --no-create-home --shell /usr/sbin/nologin postgres
fi

# git is used to stamp the version into the binary.
if ! command -v git >/dev/null 2>&1; then
	apt_install git
fi

# Everything below is needed only by the test suite (`make test`).
[ "${1:-}" = "test" ] || exit 0

# Node.js drives Supabase's own JavaScript clients against Fluxbase.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	apt_install nodejs npm
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
js="$root/test/js"
stamp="$js/node_modules/.fluxbase-lock"
if [ ! -f "$stamp" ] || ! cmp -s "$js/package-lock.json" "$stamp"; then
	say "installing the JavaScript client test packages (npm ci in test/js)"
	(cd "$js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	cp "$js/package-lock.json" "$stamp"
fi

# Real servers the tests run against: mailpit (SMTP with an HTTP API to read
# the mail), versitygw (an S3 server over a local directory) and zitadel's
# example OpenID provider (installed as "server"). All are built from
# source with `go install` into bin/tools.
tools="$root/bin/tools"
go_tool() { # name module@version
	if [ ! -x "$tools/$1" ] || [ "$(cat "$tools/.$1.version" 2>/dev/null)" != "$2" ]; then
		say "installing $2 into bin/tools (go install)"
		mkdir -p "$tools"
		GOBIN="$tools" go install "$2"
		echo "$2" >"$tools/.$1.version"
	fi
}
go_tool mailpit github.com/axllent/mailpit@v1.33.1
go_tool versitygw github.com/versity/versitygw/cmd/versitygw@v1.8.0
go_tool server github.com/zitadel/oidc/v3/example/server@v3.52.0
