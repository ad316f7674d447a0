#!/usr/bin/env bash
# The network of seed 000 (directory, four relays, two clients, 10 ms links)
# on network namespaces, with the link delays added in user space by
# tools/delayq (this kernel has no netem), and the relays chosen by latency.
# Same skeleton as darkchat_cluster.sh: every name carries our pid, a trap on
# EXIT stops by pid every process we started and deletes every namespace.
#
#   c1 (alice) 10.0.0.1 --+              The seed's figure 1 as hop counts:
#   c2 (bob)   10.0.0.2 --+-- s1 -- r1   every host hangs off a switch of the
#                          |             chain s1-s2-s3-s4, each link 10 ms.
#   dir 10.0.0.10 ----- s2 -- r3         One-way delay host->host = 10 ms x
#                          |             links on the path, so a client's
#                         s3 -- r2       round trip is 40 ms to r1 (Serv1,
#                          |             the closest), 60 ms to r3 (Serv3,
#                         s4 -- r4       second), 80 ms to r2, 100 ms to r4.
#   r1..r4 = 10.0.0.11..14
#
# Underneath it is one Linux bridge in its own namespace and one veth per
# host; each host namespace has `iptables -A OUTPUT -o eth0 -j NFQUEUE
# --queue-num 0 --queue-bypass` and a delayq holding each packet for the
# one-way delay towards its destination (per-destination rules, written to
# WORK/HOST.delays and re-read on SIGHUP when the delays change).
#
# Checks, each a PASS or FAIL line:
#   0. the delays are applied: ping round trips from c1 are at least the
#      configured ones (40 ms to r1, 60 ms to r3), and after a change at run
#      time at least the new one (the ping figures are printed);
#   1. `darkchatd --directory`, four `darkchatd --relay --dir 10.0.0.10` and
#      `darkchat -u alice|bob --dir 10.0.0.10` start; alice `\request bob`,
#      bob `\accept alice`: both print `* room ID on relay 10.0.0.11:7300 ...`
#      (r1, the lowest max-delay);
#   2. lines both ways on r1; then r1's link gets 40 ms more each way
#      (round trips 120 ms to r1): the room moves to r3 (`* room ID moved to
#      relay 10.0.0.13:7300 (...)`) while both keep typing;
#   3. kill -9 of r3: the room moves again (to r2, now the closest alive);
#      the time from the kill to the move and to the first line delivered
#      again is printed;
#   4. every line typed is shown exactly once, in order, to the other user.
#
# Usage: relay_cluster.sh [--bin-dir DIR] [--delayq PATH] [--net-only] [--keep] [--quiet]
#   --bin-dir DIR   where darkchat and darkchatd are (default ../../build from
#                   this script, or $DARKCHAT_BIN_DIR)
#   --delayq PATH   the delayq program (default BIN_DIR/tools/delayq/delayq)
#   --net-only      build the network, check the delays (0.), and stop
#   --keep          keep the work directory (logs, delay files)
#   --quiet         print only PASS/FAIL/skipped lines and the verdict
# With DARKCHAT_KEEP_ON_FAIL=1 a failed run keeps its work directory.
# Exit status: 0 all checks passed, 1 a check failed, 77 skipped (not root,
# no namespaces, veth, bridge, iptables, NFQUEUE or delayq; or darkchat
# without the directory and relay modes), with one `skipped: ...` line.
# shellcheck disable=SC2317  # cleanup and the checks are called through trap and poll
set -u

here=$(cd "$(dirname "$0")" && pwd)
bin_dir=${DARKCHAT_BIN_DIR:-$here/../../build}
delayq=
keep=0
quiet=0
net_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--bin-dir) bin_dir=$2; shift 2 ;;
	--bin-dir=*) bin_dir=${1#*=}; shift ;;
	--delayq) delayq=$2; shift 2 ;;
	--delayq=*) delayq=${1#*=}; shift ;;
	--net-only) net_only=1; shift ;;
	--keep) keep=1; shift ;;
	--quiet) quiet=1; shift ;;
	-h|--help) sed -n '2,/^# shellcheck/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "relay_cluster.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
[ -n "$delayq" ] || delayq=$bin_dir/tools/delayq/delayq

pfx=dr$$                  # every namespace name starts with this: unique per pid
net=10.0.0
port=7300
hosts=(dir r1 r2 r3 r4 c1 c2)
relays=(r1 r2 r3 r4)
declare -A ip=([c1]=$net.1 [c2]=$net.2 [dir]=$net.10 [r1]=$net.11 [r2]=$net.12 [r3]=$net.13 [r4]=$net.14)
declare -A name_of=()     # address -> host
for h in "${hosts[@]}"; do name_of[${ip[$h]}]=$h; done
declare -A user_of=([c1]=alice [c2]=bob)
# The seed's network as positions on the switch chain s1-s2-s3-s4.
declare -A switch=([c1]=1 [c2]=1 [r1]=1 [dir]=2 [r3]=2 [r2]=3 [r4]=4)
link_ms=10
declare -A extra=()       # ms added to a host's own link, each way (congestion)
for h in "${hosts[@]}"; do extra[$h]=0; done

ipt=
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
declare -A pid_of=() dq_pid=()
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
trap netns_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- can we do this at all? ------------------------------------------------
netns_usable
for c in iptables iptables-legacy; do command -v "$c" >/dev/null 2>&1 && { ipt=$c; break; }; done
[ -n "$ipt" ] || skip "no iptables (Debian package iptables): needed for the NFQUEUE rules"
[ -x "$delayq" ] || skip "no delayq at $delayq (built only with libnetfilter-queue-dev; or pass --delayq)"
if [ "$net_only" = 0 ]; then
	for b in darkchat darkchatd; do
		if [ ! -x "$bin_dir/$b" ]; then
			echo "FAIL: no executable $bin_dir/$b (build first: ninja -C build, or pass --bin-dir)"
			exit 1
		fi
	done
fi
command -v ping >/dev/null 2>&1 || say "no ping (Debian package iputils-ping): the delays are not measured"
bin_dir=$(cd "$bin_dir" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/darkchat-relays.$$.XXXXXX") || { echo "FAIL: mktemp"; exit 1; }

# ---- the network ------------------------------------------------------------
say "namespaces $pfx-*, work directory $work"
add_bridge "$pfx-br"
for h in "${hosts[@]}"; do
	ns=$pfx-$h
	add_host "$pfx-br" "$ns" "port-$h" "${ip[$h]}"
	# Everything this host sends goes through queue 0; --queue-bypass lets
	# packets pass undelayed (never dropped) while no delayq is bound.
	ip netns exec "$ns" "$ipt" -A OUTPUT -o eth0 -j NFQUEUE --queue-num 0 --queue-bypass 2>"$work/ipt.err" \
		|| skip "cannot add an NFQUEUE rule with $ipt: $(head -n1 "$work/ipt.err")"
done
say "bridge up: $(for h in "${hosts[@]}"; do printf '%s=%s ' "$h" "${ip[$h]}"; done)"

# one_way H G: the one-way delay in ms from host H to host G
one_way() {
	local a=${switch[$1]} b=${switch[$2]} d
	d=$((a > b ? a - b : b - a))
	echo $(((2 + d) * link_ms + extra[$1] + extra[$2]))
}

write_delays() {
	local h g
	for h in "${hosts[@]}"; do
		{
			echo "# one-way delays from $h (written by relay_cluster.sh)"
			echo "default 0"
			for g in "${hosts[@]}"; do [ "$g" = "$h" ] || echo "${ip[$g]} $(one_way "$h" "$g")"; done
		} >"$work/$h.delays.new"
		mv "$work/$h.delays.new" "$work/$h.delays"
	done
}

dq_count() { grep -c "$2" "$work/$1.delayq" 2>/dev/null; }

write_delays
for h in "${hosts[@]}"; do
	(exec ip netns exec "$pfx-$h" "$delayq" -q 0 -f "$work/$h.delays" 2>>"$work/$h.delayq") &
	dq_pid[$h]=$!
	pids+=($!)
	late_pids+=($!)        # stopped after the programs: it accepts what it holds
done

dq_all_ready() { local h; for h in "${hosts[@]}"; do [ "$(dq_count "$h" ' ready: ')" -ge 1 ] || return 1; done; }
if ! poll 5 dq_all_ready; then
	for h in "${hosts[@]}"; do
		if ! kill -0 "${dq_pid[$h]}" 2>/dev/null; then
			skip "delayq cannot run in namespace $pfx-$h: $(tail -n1 "$work/$h.delayq")"
		fi
	done
	echo "FAIL: delayq did not print its ready line within 5 s"
	exit 1
fi
say "delayq ready in every namespace"

# reload_delays: write the files, SIGHUP every delayq, wait for each to say so
reload_delays() {
	local h before=()
	write_delays
	for h in "${hosts[@]}"; do before+=("$(dq_count "$h" ' reloaded: ')"); done
	for h in "${hosts[@]}"; do kill -HUP "${dq_pid[$h]}"; done
	local i=0
	for h in "${hosts[@]}"; do
		poll 3 dq_reloaded "$h" $((before[i] + 1)) \
			|| { fail "delayq of $h did not reload its delays: $(tail -n1 "$work/$h.delayq")"; return 1; }
		i=$((i + 1))
	done
}
dq_reloaded() { [ "$(dq_count "$1" ' reloaded: ')" -ge "$2" ]; }

# rtt FROM TO: ping 5 times; prints "min avg" in ms (nothing when no answer)
rtt() {
	ip netns exec "$pfx-$1" ping -n -q -c 5 -i 0.2 -W 2 "${ip[$2]}" 2>/dev/null \
		| sed -n 's|^rtt [^=]*= \([0-9.]*\)/\([0-9.]*\)/.*|\1 \2|p'
}

# check_rtt FROM TO: the measured round trip is at least the configured one
check_rtt() {
	local want got min
	command -v ping >/dev/null 2>&1 || return 0
	want=$(($(one_way "$1" "$2") + $(one_way "$2" "$1")))
	got=$(rtt "$1" "$2")
	if [ -z "$got" ]; then fail "no ping answer from $2 to $1"; return; fi
	min=${got%% *}
	if [ "${min%%.*}" -ge "$want" ]; then
		pass "$1 -> $2 round trip ${got#* } ms (min $min), configured $want ms"
	else
		fail "$1 -> $2 round trip min $min ms is below the configured $want ms: delayq is not delaying"
	fi
}

check_rtt c1 r1
check_rtt c1 r3
check_rtt c2 r2

if [ "$net_only" = 1 ]; then
	say "r1's link +40 ms each way, at run time"
	extra[r1]=40
	reload_delays && check_rtt c1 r1
	extra[r1]=0
	reload_delays && check_rtt c1 r1
	for h in "${hosts[@]}"; do kill -USR1 "${dq_pid[$h]}"; done
	sleep 0.2
	[ "$quiet" = 1 ] || for h in "${hosts[@]}"; do
		printf '    %-3s %s\n' "$h" "$(grep 'delayed' "$work/$h.delayq" | tail -n1)"
	done
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ] || exit 1
	exit 0
fi

# ---- darkchat: binaries with the directory/relay modes (a wrong --bin-dir fails) --
missing=()
"$bin_dir/darkchatd" --help 2>&1 | grep -q -- '--directory' || missing+=("darkchatd --directory")
"$bin_dir/darkchatd" --help 2>&1 | grep -q -- '--relay' || missing+=("darkchatd --relay")
"$bin_dir/darkchat" --help 2>&1 | grep -qE -- '--dir([^-a-z]|$)' || missing+=("darkchat --dir")
if [ ${#missing[@]} -gt 0 ]; then
	list=$(IFS=,; echo "${missing[*]}")
	fail "the binaries in $bin_dir have no ${list//,/, }"
	echo "$passed passed, $failed failed"
	exit 1
fi

# ---- the programs -----------------------------------------------------------
# start_daemon HOST ARGS...: darkchatd in HOST's namespace, stdout and stderr
# to WORK/HOST.out and .err
start_daemon() {
	local h=$1
	shift
	(exec ip netns exec "$pfx-$h" "$bin_dir/darkchatd" "$@" -p "$port" --bind "${ip[$h]}" \
		--data-dir "$work/$h" >>"$work/$h.out" 2>>"$work/$h.err") &
	pid_of[$h]=$!
	pids+=($!)
}

# start_user HOST: darkchat for the host's user, its stdin a FIFO we keep
# open read-write (the node sees end of input only when cleanup closes it)
start_user() {
	local h=$1 u=${user_of[$1]}
	open_fifo "$h"
	(
		close_fifos
		exec ip netns exec "$pfx-$h" "$bin_dir/darkchat" -u "$u" -p "$port" --bind "${ip[$h]}" \
			--data-dir "$work/$h" --dir "${ip[dir]}:$port" <"$work/$h.in" >>"$work/$h.out" 2>>"$work/$h.err"
	) &
	pid_of[$h]=$!
	pids+=($!)
}

# ready HOST: its program printed "* ready: ..." (darkchatd prefixes its log lines)
ready() { grep -qhE '(^|: )\* ready: ' "$work/$1.out" "$work/$1.err" 2>/dev/null; }

start_daemon dir --directory -u directory
dir_up_or_gone() { ready dir || ! kill -0 "${pid_of[dir]}" 2>/dev/null; }
poll 5 dir_up_or_gone
if ! ready dir; then
	fail "darkchatd --directory did not print '* ready:'"
	dump_logs
	exit 1
fi
say "directory: $(grep -hE '(^|: )\* ready: ' "$work/dir.out" "$work/dir.err" | head -n1)"
for r in "${relays[@]}"; do start_daemon "$r" --relay --dir "${ip[dir]}:$port" -u "$r"; done
relays_ready() { local r; for r in "${relays[@]}"; do ready "$r" || return 1; done; }
if ! poll 10 relays_ready; then
	for r in "${relays[@]}"; do ready "$r" || fail "darkchatd --relay on $r did not print '* ready:'"; done
	dump_logs
	exit 1
fi
say "relays ready: ${relays[*]}"
start_user c1
start_user c2
users_ready() { ready c1 && ready c2; }
poll 10 users_ready || { fail "darkchat -u alice/bob did not print '* ready:'"; dump_logs; exit 1; }
say "users ready: alice on c1, bob on c2"

# measured HOST: the user's \relays lists all four relays with a time in ms
measured() {
	local h=$1 f=$work/$1.out from r
	from=$(($(wc -l <"$f") + 1))
	send "$h" '\relays'
	sleep 0.3
	for r in "${relays[@]}"; do
		tail -n "+$from" "$f" | grep -F "${ip[$r]}" | grep -qE '[0-9] ?ms' || return 1
	done
}
if poll 15 measured c1 && poll 5 measured c2; then
	pass "alice and bob have measured all four relays (\\relays)"
	sleep 2   # and reported them: a delay vector goes to the directory at most every report interval
else
	fail "alice or bob does not list all four relays with a round trip in \\relays within 15 s"
fi
if [ "$quiet" = 0 ]; then
	from=$(($(wc -l <"$work/c1.out") + 1))
	send c1 '\relays'
	sleep 0.3
	tail -n "+$from" "$work/c1.out" | sed 's/^/    alice \\relays: /'
fi

# ---- 1. the request flow, and the room on the lowest-latency relay -----------
room=
room_re='^\* room ([0-9a-f]+) on relay ([0-9.]+):([0-9]+)'
room_line() { grep -E "$room_re" "$work/$1.out" | head -n1; }
both_in_room() { [ -n "$(room_line c1)" ] && [ -n "$(room_line c2)" ]; }
asked() { grep -q '^\* alice asks for a chat' "$work/c2.out"; }

send c1 '\request bob'
if poll 10 asked; then
	pass "bob sees alice's request: $(grep -m1 '^\* alice asks for a chat' "$work/c2.out")"
else
	fail "bob does not see '* alice asks for a chat' within 10 s"
fi
send c2 '\accept alice'
if poll 10 both_in_room; then
	line=$(room_line c1)
	[[ $line =~ $room_re ]]
	room=${BASH_REMATCH[1]}
	at=${BASH_REMATCH[2]}
	say "alice: $line"
	say "bob:   $(room_line c2)"
	stages=$(grep -oE '^\* request bob: [A-Z_]+' "$work/c1.out" | sed 's/.* //' | tr '\n' ' ')
	if grep -q '^\* request bob: REQ_ACCEPTED' "$work/c1.out"; then
		pass "alice saw her request's stages: $stages"
	else
		fail "alice never printed '* request bob: REQ_ACCEPTED' (stages: ${stages:-none})"
	fi
	if [ "${name_of[$at]:-}" = r1 ]; then
		pass "room $room is on r1 (${ip[r1]}), the relay with the lowest max-delay"
	else
		fail "room $room is on ${name_of[$at]:-$at}, not r1 (${ip[r1]}), the lowest-latency relay"
	fi
	[[ $(room_line c2) =~ $room_re ]]
	[ "${BASH_REMATCH[1]}" = "$room" ] || fail "bob's room id ${BASH_REMATCH[1]} is not alice's $room"
else
	fail "alice and bob did not both print '* room ID on relay ...' within 10 s"
	dump_logs
	exit 1
fi
send c1 "\\room $room"
send c2 "\\room $room"

# ---- lines -----------------------------------------------------------------
declare -A sent=([c1]=0 [c2]=0)
# say_line HOST TAG: the host's user types a numbered line into the room
say_line() {
	local h=$1
	sent[$h]=$((sent[$h] + 1))
	send "$h" "$(printf 'line %03d from %s (%s)' "${sent[$h]}" "${user_of[$h]}" "$2")"
}
# shown HOST OTHER N: HOST shows OTHER's line number N
shown() {
	grep -qE "^\\[[0-9a-f]+\\] <${user_of[$2]}> line $(printf '%03d' "$3") from " "$work/$1.out"
}
both_lines() { say_line c1 "$1"; say_line c2 "$1"; }

first_relay=${name_of[$at]:-$at}
for i in 1 2 3; do both_lines "on $first_relay"; sleep 0.2; done
all_shown() { shown c2 c1 "${sent[c1]}" && shown c1 c2 "${sent[c2]}"; }
if poll 10 all_shown; then pass "lines flow both ways on $first_relay"
else fail "the first lines on $first_relay were not shown to the other user within 10 s"; fi

# move_line HOST: the room's first "moved to relay" line after line N of the
# output; sets moved_to and moved_why
moved_re='^\* room ([0-9a-f]+) moved to relay ([0-9.]+):([0-9]+) \((.*)\)'
moves_before=0
moved_to=
moved_why=
moved_room=
moved() {
	local line
	line=$(grep -E "$moved_re" "$work/$1.out" | sed -n "$((moves_before + 1))p")
	[ -n "$line" ] || return 1
	[[ $line =~ $moved_re ]]
	moved_room=${BASH_REMATCH[1]}
	moved_to=${name_of[${BASH_REMATCH[2]}]:-${BASH_REMATCH[2]}}
	moved_why=${BASH_REMATCH[4]}
	return 0
}
# report_move HOST: say the move line of HOST; FAIL if it names another room
report_move() {
	moved "$1" || return 1
	say "$1: $(grep -E "$moved_re" "$work/$1.out" | sed -n "$((moves_before + 1))p")"
	[ "$moved_room" = "$room" ] || fail "${user_of[$1]}'s move names room $moved_room, not $room"
}
# wait_move SECONDS TAG: keep both users typing (one line each every 0.5 s)
# until both print the next move, or time is up
wait_move() {
	local tries=$(($1 * 2)) i
	for ((i = 0; i < tries; i++)); do
		moved c1 >/dev/null && moved c2 >/dev/null && return 0
		both_lines "$2"
		sleep 0.5
	done
	return 1
}

# ---- 2. r1's link gets congested: the room moves to r3 ----------------------
say "r1's link +40 ms each way at run time: round trips to r1 become 120 ms, r3 stays 60 ms"
extra[r1]=40
t_change=$(date +%s%N)
reload_delays
check_rtt c1 r1
moves_before=$(grep -cE "$moved_re" "$work/c1.out")
if wait_move 25 "moving off $first_relay"; then
	report_move c1; report_move c2; moved c1
	if [ "$moved_to" = r3 ]; then
		pass "room $room moved to r3 (${ip[r3]}) $(ms_since "$t_change") ms after the delay change ($moved_why)"
	else
		fail "room $room moved to $moved_to, not r3, the lowest-latency relay now ($moved_why)"
	fi
else
	fail "room $room did not move off $first_relay within 25 s of r1 becoming 120 ms away (r3: 60 ms)"
fi
for i in 1 2; do both_lines "after the move"; sleep 0.2; done
if poll 10 all_shown; then pass "lines flow both ways after the move"
else fail "lines typed after the move were not shown within 10 s"; fi

# ---- 3. kill -9 of the relay in use --------------------------------------
victim=${moved_to:-$first_relay}   # the relay the room is on now
say "kill -9 $victim"
moves_before=$(grep -cE "$moved_re" "$work/c1.out")
kill -KILL "${pid_of[$victim]}"
reap "${pid_of[$victim]}"
t_kill=$(date +%s%N)
both_lines "just after the kill"
n_after=${sent[c1]}
if wait_move 20 "relay died"; then
	report_move c1; report_move c2; moved c1
	dt_move=$(ms_since "$t_kill")
	if [ "$moved_to" = "$victim" ]; then
		fail "room $room 'moved' to $victim, the relay that was killed"
	elif [ "$moved_to" = r2 ]; then
		pass "room $room moved to r2 (${ip[r2]}, now the closest alive) $dt_move ms after kill -9 of $victim ($moved_why)"
	else
		fail "room $room moved to $moved_to after kill -9 of $victim, not r2, the closest relay alive ($moved_why)"
	fi
	working_again() { shown c2 c1 "$n_after"; }
	if poll 10 working_again; then
		say "chat working again: alice's first line after the kill shown to bob $(ms_since "$t_kill") ms after kill -9"
	fi
else
	fail "room $room did not move within 20 s of kill -9 of $victim"
fi
for i in 1 2; do both_lines "at the end"; sleep 0.2; done

# ---- 4. every line exactly once, in order ------------------------------------
# lines_of HOST OTHER: the numbers of OTHER's lines shown by HOST, in order
lines_of() {
	sed -nE "s/^\\[[0-9a-f]+\\] <${user_of[$2]}> line ([0-9]{3}) from .*/\\1/p" "$work/$1.out" | sed 's/^0*//'
}
everything_shown() { all_shown; }
poll 15 everything_shown
for pair in "c2 c1" "c1 c2"; do
	# shellcheck disable=SC2086  # two words: who shows, whose lines
	set -- $pair
	want=$(seq 1 "${sent[$2]}" | tr '\n' ' ')
	got=$(lines_of "$1" "$2" | tr '\n' ' ')
	if [ "$got" = "$want" ]; then
		pass "${user_of[$1]} shows all ${sent[$2]} lines of ${user_of[$2]} exactly once, in order, across two moves"
	else
		fail "${user_of[$1]} shows ${user_of[$2]}'s lines as [$got], expected [$want]"
	fi
done

# ---- verdict ----------------------------------------------------------------
finish
