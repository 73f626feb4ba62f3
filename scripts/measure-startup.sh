#!/usr/bin/env bash
# Measures the foundation's figures on this machine, each next to a baseline
# taken in the same run (machines are shared and noisy, so ratios are what
# compare across runs):
#
#   first start   fluxbase serve on an empty data directory until /ready
#                 answers 200, against initdb + postgres start + accepting
#                 connections with the same PostgreSQL binaries;
#   later start   the same on the existing data directory, against a bare
#                 postgres start on an existing cluster;
#   idle RSS      of the fluxbase process (PostgreSQL's own processes apart);
#   binary size   of bin/fluxbase.
#
# Usage: scripts/measure-startup.sh [runs]   (default 3 runs, medians shown)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"

make -s build >/dev/null
bindir="$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
work="$(mktemp -d /tmp/fluxbase-measure-XXXXXX)"
chmod 755 "$work"
trap 'pkill -f "$work" 2>/dev/null || true; sleep 0.5; rm -rf "$work"' EXIT

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
now_ms() { date +%s%3N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

wait_ready() { # url timeout_s
	local deadline=$(( $(date +%s) + $2 ))
	until curl -fs -o /dev/null "$1/ready"; do
		[ "$(date +%s)" -lt "$deadline" ] || { echo "not ready: $1" >&2; return 1; }
		sleep 0.01
	done
}

# Baseline: the same PostgreSQL binaries, by hand.
bare_start() { # dir port -> ms until it accepts connections
	local t0; t0=$(now_ms)
	as_pg "$bindir/postgres" -D "$1" -p "$2" -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c wal_level=logical >"$1.log" 2>&1 &
	until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$2"; do sleep 0.01; done
	echo $(( $(now_ms) - t0 ))
}
bare_stop() { as_pg "$bindir/pg_ctl" -D "$1" -m fast -w stop >/dev/null; }

fb_first=() fb_later=() pg_first=() pg_later=() rss=()
for i in $(seq "$runs"); do
	# Bare PostgreSQL.
	d="$work/bare$i"; mkdir -p "$d"; chown postgres "$d" 2>/dev/null || true; chmod 700 "$d"
	t0=$(now_ms)
	as_pg "$bindir/initdb" -D "$d" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
	t_init=$(( $(now_ms) - t0 ))
	port=$(free_port)
	pg_first+=( $(( t_init + $(bare_start "$d" "$port") )) )
	bare_stop "$d"
	pg_later+=( "$(bare_start "$d" "$port")" )
	bare_stop "$d"

	# Fluxbase.
	data="$work/fb$i"; port=$(free_port); url="http://127.0.0.1:$port"
	t0=$(now_ms)
	./bin/fluxbase serve --http "127.0.0.1:$port" --data-dir "$data" --log-level warn 2>"$work/fb$i.log" &
	pid=$!
	wait_ready "$url" 120
	fb_first+=( $(( $(now_ms) - t0 )) )
	kill -TERM "$pid"; wait "$pid"
	t0=$(now_ms)
	./bin/fluxbase serve --http "127.0.0.1:$port" --data-dir "$data" --log-level warn 2>>"$work/fb$i.log" &
	pid=$!
	wait_ready "$url" 120
	fb_later+=( $(( $(now_ms) - t0 )) )
	sleep 5
	rss+=( "$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")" )
	kill -TERM "$pid"; wait "$pid"
done

m() { printf '%s\n' "$@" | median; }
f1=$(m "${fb_first[@]}") p1=$(m "${pg_first[@]}") f2=$(m "${fb_later[@]}") p2=$(m "${pg_later[@]}") r=$(m "${rss[@]}")
size=$(stat -c %s bin/fluxbase)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
echo "runs: $runs (medians)"
printf 'first start to /ready:  %6d ms   bare initdb+start: %6d ms   ratio %s\n' "$f1" "$p1" "$(ratio "$f1" "$p1")"
printf 'later start to /ready:  %6d ms   bare start:        %6d ms   ratio %s\n' "$f2" "$p2" "$(ratio "$f2" "$p2")"
printf 'idle RSS of fluxbase:   %6d KiB\n' "$r"
printf 'binary size:            %6.1f MiB (%d bytes)\n' "$(awk -v s="$size" 'BEGIN {print s/1048576}')" "$size"
