# Shared by the network-namespace scripts (darkchat_cluster.sh,
# relay_cluster.sh); sourced, not run. Style of WireGuard's netns.sh: every
# name carries the script's pid, `trap netns_cleanup EXIT` stops by pid every
# process we started and deletes every namespace we made.
#
# The script sets before sourcing: quiet keep (0/1). It then uses:
#   pids=()        processes to stop; late_pids=() stopped after the others
#   namespaces=()  to delete (add_ns fills it); work=  the work directory
#   fd_of[KEY]     FIFO descriptors (open_fifo fills it), closed first
# shellcheck shell=bash disable=SC2034,SC2154,SC2317  # globals shared with the caller; called through trap and poll

pids=()
late_pids=()
namespaces=()
work=
passed=0
failed=0
declare -A fd_of=()
t0=$(date +%s%N)

elapsed() { local now; now=$(date +%s%N); printf '%d.%01d' $(((now - t0) / 1000000000)) $(((now - t0) / 100000000 % 10)); }
say() { [ "$quiet" = 1 ] || printf '[%5ss] %s\n' "$(elapsed)" "$*"; }
pass() { passed=$((passed + 1)); printf 'PASS: %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*"; }
skip() { printf 'skipped: %s\n' "$*"; exit 77; }

# reap PID: wait for a process we started and forget it, so that cleanup never
# signals a pid that the system may have handed to someone else since
reap() {
	local p rest=()
	wait "$1" 2>/dev/null
	local rc=$?
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || rest+=("$p"); done
	pids=("${rest[@]}")
	return $rc
}

# stop_pids PID...: SIGTERM, up to 3 s to say goodbye, then SIGKILL; wait for each
stop_pids() {
	local pid i alive
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null; done
	for ((i = 0; i < 30; i++)); do
		alive=0
		for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for pid in "$@"; do kill -KILL "$pid" 2>/dev/null; done
	for pid in "$@"; do wait "$pid" 2>/dev/null; done
}

netns_cleanup() {
	local rc=$? pid fd i first=()
	set +e
	trap - EXIT INT TERM
	for fd in "${fd_of[@]}"; do exec {fd}>&-; done      # end of input: darkchat quits
	for pid in "${pids[@]}"; do
		case " ${late_pids[*]} " in *" $pid "*) ;; *) first+=("$pid") ;; esac
	done
	[ ${#first[@]} -gt 0 ] && stop_pids "${first[@]}"
	[ ${#late_pids[@]} -gt 0 ] && stop_pids "${late_pids[@]}"
	for ((i = ${#namespaces[@]} - 1; i >= 0; i--)); do ip netns del "${namespaces[i]}" 2>/dev/null; done
	if [ -n "$work" ]; then
		if [ "$keep" = 1 ] || { [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -n "${DARKCHAT_KEEP_ON_FAIL:-}" ]; }; then
			echo "# kept $work"
		else
			rm -rf "$work"
		fi
	fi
	exit "$rc"
}

# netns_usable: skip (77) unless we can make namespaces at all
netns_usable() {
	[ "$(id -u)" = 0 ] || skip "creating network namespaces needs root"
	command -v ip >/dev/null 2>&1 || skip "no ip command (Debian package iproute2)"
	ip netns help >/dev/null 2>&1 || ip netns list >/dev/null 2>&1 || skip "ip has no netns support"
}

add_ns() {
	ip netns add "$1" 2>"$work/ip.err" || skip "cannot create network namespace $1: $(head -n1 "$work/ip.err")"
	namespaces+=("$1")
	ip -n "$1" link set lo up
}

# add_bridge NS: a namespace NS holding the bridge br0
add_bridge() {
	add_ns "$1"
	ip -n "$1" link add br0 type bridge 2>"$work/ip.err" || skip "no Linux bridge support: $(head -n1 "$work/ip.err")"
	ip -n "$1" link set br0 up
}

# add_host BRIDGE_NS NS PORT ADDRESS: namespace NS with eth0 at ADDRESS/24,
# its veth peer PORT on BRIDGE_NS's br0
add_host() {
	add_ns "$2"
	ip -n "$2" link add dev eth0 type veth peer name "$3" netns "$1" 2>"$work/ip.err" \
		|| skip "cannot create a veth pair: $(head -n1 "$work/ip.err")"
	ip -n "$1" link set dev "$3" master br0 up
	ip -n "$2" addr add "$4/24" dev eth0
	ip -n "$2" link set eth0 up
}

# open_fifo KEY: make WORK/KEY.in and keep it open read-write in fd_of[KEY]
# (opening never blocks, and the reader sees end of input only when cleanup
# closes it); a process started on it must close the other fd_of descriptors
open_fifo() {
	local fd
	[ -z "${fd_of[$1]:-}" ] || return 0
	mkfifo "$work/$1.in"
	exec {fd}<>"$work/$1.in"
	fd_of[$1]=$fd
}
close_fifos() { local fd; for fd in "${fd_of[@]}"; do exec {fd}>&-; done; }

send() { printf '%s\n' "$2" >&"${fd_of[$1]}"; }

# poll SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds or
# SECONDS have passed (however long COMMAND itself takes)
poll() {
	local end=$(($(date +%s%N) + $1 * 1000000000))
	shift
	while true; do
		"$@" && return 0
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# dump_logs: the end of every output file in the work directory
dump_logs() {
	local f
	for f in "$work"/*.out "$work"/*.err "$work"/*.delayq; do
		[ -s "$f" ] || continue
		echo "---- ${f##*/} (last 25 lines)"
		tail -n 25 "$f"
	done
}

# finish: the verdict line; exit 1 (with the logs) if a check failed, else 0
finish() {
	say "done in $(elapsed)s"
	echo "$passed passed, $failed failed"
	if [ "$failed" != 0 ]; then
		dump_logs
		exit 1
	fi
	exit 0
}
