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
