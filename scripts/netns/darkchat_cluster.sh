#!/usr/bin/env bash
# The DarkChat cluster of seed 001, section 3.1, figure 3, on network
# namespaces (no Mininet): one namespace per host, one for a Linux bridge,
# veth pairs, 10.0.0.x/24. Style of WireGuard's
# tools/testing/selftests/wireguard/netns.sh: every name carries our pid, and a
# trap on EXIT removes every namespace we made and stops, by pid, every
# process we started.
#
#        A ----- B          links (symmetric; made with \add):
#         \     /             C-Q C-R C-A C-B Q-R Q-E A-B
#          \   /            C is linked to all but E;
#   S       C              E is linked only to Q, two hops from C.
#  (server) | \
#           |  R            S is the super-client (darkchatd -s); every
#           | /             user starts knowing only S (-sip).
#           Q
#           |
#           E
#
# Checks, each printed as a PASS or FAIL line:
#   1. C's \users shows E online via Q (two hops), and E sees C via Q.
#   2. E quits (\quit): C shows E offline within a few seconds.
#   2b. A is killed (SIGKILL): C shows A offline after about 3 s.
#   3. The seed's "R and E lost each other": with the server stopped, E comes
#      back at a new address; R finds its new location through Q (its \users
#      shows E online at the new address), links to it, and C sees it too.
#
# Usage: darkchat_cluster.sh [--bin-dir DIR] [--keep] [--quiet]
#   --bin-dir DIR  where darkchat and darkchatd are (default: ../../build from
#                  this script; or $DARKCHAT_BIN_DIR)
#   --keep         keep the work directory (logs, databases) after the run
#   --quiet        print only PASS/FAIL/skipped lines and the verdict (and,
#                  on failure, the end of every node's output)
# With DARKCHAT_KEEP_ON_FAIL=1 in the environment a failed run keeps its work
# directory too.
# Exit status: 0 all checks passed, 1 a check failed, 77 skipped (not root, no
# `ip netns`, no veth or bridge support).
# shellcheck disable=SC2317  # cleanup and the checks are called through trap and poll
set -u

here=$(cd "$(dirname "$0")" && pwd)
bin_dir=${DARKCHAT_BIN_DIR:-$here/../../build}
keep=0
quiet=0
while [ $# -gt 0 ]; do
	case $1 in
	--bin-dir) bin_dir=$2; shift 2 ;;
	--bin-dir=*) bin_dir=${1#*=}; shift ;;
	--keep) keep=1; shift ;;
	--quiet) quiet=1; shift ;;
	-h|--help) sed -n '2,/^# shellcheck/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "darkchat_cluster.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done

pfx=dc$$                  # every namespace name starts with this: unique per pid
net=10.0.0
port=7300
declare -A ip=([S]=$net.10 [A]=$net.1 [B]=$net.2 [C]=$net.3 [Q]=$net.4 [R]=$net.5 [E]=$net.6)
e_moved=$net.16           # E's address after it "changed IP" (check 3)
hosts=(S A B C Q R E)
users=(A B C Q R E)

# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
declare -A pid_of=()
trap netns_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- can we do this at all? ------------------------------------------------
netns_usable
for b in darkchat darkchatd; do
	if [ ! -x "$bin_dir/$b" ]; then
		echo "FAIL: no executable $bin_dir/$b (build first: ninja -C build, or pass --bin-dir)"
		exit 1
	fi
done
bin_dir=$(cd "$bin_dir" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/darkchat-netns.$$.XXXXXX") || { echo "FAIL: mktemp"; exit 1; }

# ---- the network ------------------------------------------------------------
say "namespaces $pfx-*, work directory $work"
add_bridge "$pfx-br"
for h in "${hosts[@]}"; do
	# eth0 in the host's namespace, its peer (port-HOST) on the bridge
	add_host "$pfx-br" "$pfx-${h,,}" "port-${h,,}" "${ip[$h]}"
done
say "bridge up: S=${ip[S]} A=${ip[A]} B=${ip[B]} C=${ip[C]} Q=${ip[Q]} R=${ip[R]} E=${ip[E]}"

# ---- the programs -----------------------------------------------------------
# start HOST ADDRESS ARGS...: darkchat for a user, its stdin a FIFO we keep
# open read-write (so opening never blocks and the node never sees end of
# input until cleanup closes it); the child closes our other FIFO descriptors.
start_user() {
	local u=$1 addr=$2
	shift 2
	open_fifo "$u"
	(
		close_fifos
		exec ip netns exec "$pfx-${u,,}" "$bin_dir/darkchat" -u "$u" -p "$port" --bind "$addr" \
			--data-dir "$work/$u" "$@" <"$work/$u.in" >>"$work/$u.out" 2>>"$work/$u.err"
	) &
	pid_of[$u]=$!
	pids+=($!)
}

ready() { grep -q '^\* ready: ' "$work/$1.out" 2>/dev/null; }

# listing USER: send \users to USER, wait (up to 2 s) for the "* N users" line
# that ends the answer, and leave the answer's user lines in $work/USER.users
listing() {
	local u=$1 f=$work/$1.out from i
	from=$(($(wc -l <"$f") + 1))
	send "$u" '\users'
	for ((i = 0; i < 20; i++)); do
		if tail -n "+$from" "$f" | grep -qE '^\* [0-9]+ users?$'; then
			tail -n "+$from" "$f" | sed -n '/^\* [0-9]* users\{0,1\}$/q; /^  /p' >"$work/$u.users"
			return 0
		fi
		sleep 0.1
	done
	: >"$work/$u.users"
	return 1
}

# sees USER REGEX: USER's \users has a line matching REGEX (after the two spaces)
sees() { listing "$1" && grep -qE "^  $2" "$work/$1.users"; }

show() { [ "$quiet" = 1 ] || sed "s/^/    $1\\\\users: /" "$work/$1.users"; }

# The super-client. The man page says "without -u, a super-client uses the
# name server", but darkchatd 0.1.0 refuses a new data directory without -u,
# so the name is given.
(
	exec ip netns exec "$pfx-s" "$bin_dir/darkchatd" -s -u server -p "$port" --bind "${ip[S]}" \
		--data-dir "$work/S" >"$work/S.out" 2>"$work/S.err"
) &
pid_of[S]=$!
pids+=($!)
s_ready() { grep -q 'ready' "$work/S.err" 2>/dev/null || grep -q 'ready' "$work/S.out" 2>/dev/null; }
if poll 5 s_ready; then say "super-client S ready: $(grep -h ready "$work/S.err" "$work/S.out" | head -n1)"
else fail "super-client darkchatd -s did not start"; dump_logs; exit 1; fi

for u in "${users[@]}"; do start_user "$u" "${ip[$u]}" -sip "${ip[S]}" -sp "$port"; done
all_ready() { local u; for u in "${users[@]}"; do ready "$u" || return 1; done; }
if poll 10 all_ready; then say "users ready: ${users[*]}"
else
	for u in "${users[@]}"; do ready "$u" || fail "darkchat -u $u did not print '* ready:'"; done
	dump_logs
	exit 1
fi

# ---- figure 3 --------------------------------------------------------------
say 'links: C \add Q R A B; Q \add R E; A \add B'
for v in Q R A B; do send C "\\add $v"; done
for v in R E; do send Q "\\add $v"; done
send A '\add B'

# 1. two hops: C knows E through Q, and E knows C through Q
c_sees_e() { sees C "E online .*via Q"; }
t=$(elapsed)
if poll 10 c_sees_e; then
	pass "C sees E online via Q (two hops) at $(elapsed)s, links made at ${t}s"
else
	fail "C does not show E online via Q within 10 s"
fi
show C
contacts_ok() { listing C && for v in Q R A B; do grep -qE "^  $v online .*contact" "$work/C.users" || return 1; done; }
if poll 5 contacts_ok; then pass "C shows Q, R, A, B online as contacts"
else fail "C does not show all of Q, R, A, B online as contacts"; show C; fi
if grep -qE '^  E .*contact' "$work/C.users"; then fail "C shows E as a contact: E should only be two hops away"; fi
e_sees_c() { sees E "C online .*via Q"; }
if poll 5 e_sees_c; then pass "E sees C online via Q (two hops)"
else fail "E does not show C online via Q"; fi
show E

# 2. E leaves: declareOffline reaches C through Q
say 'E: \quit'
send E '\quit'
t_quit=$(date +%s%N)
e_gone() { ! kill -0 "${pid_of[E]}" 2>/dev/null; }
poll 5 e_gone || fail "darkchat -u E still running 5 s after \\quit"
reap "${pid_of[E]}"
e_rc=$?
[ "$e_rc" = 0 ] || fail "darkchat -u E exited with status $e_rc after \\quit"
c_sees_e_off() { sees C "E offline"; }
if poll 6 c_sees_e_off; then
	dt=$((($(date +%s%N) - t_quit) / 1000000))
	pass "C sees E offline ${dt} ms after E's \\quit"
else
	fail "C still shows E online 6 s after E's \\quit"
fi
show C

# 2b. A dies without a word (SIGKILL): C notices by probing (LIVENESS in
# darkchat(1): "shown offline after about 3 seconds").
say 'A: kill -KILL'
kill -KILL "${pid_of[A]}"
reap "${pid_of[A]}"
t_kill=$(date +%s%N)
c_sees_a_off() { sees C "A offline"; }
if poll 8 c_sees_a_off; then
	pass "C sees A offline $((($(date +%s%N) - t_kill) / 1000000)) ms after A was killed"
else
	fail "C still shows A online 8 s after A was killed"
fi

# 3. The seed's R and E: they lost each other's addresses; Q (or C) restores
# them. No server this time: stop S, move E to a new address, restart it.
say "stopping the super-client; E moves from ${ip[E]} to $e_moved and comes back"
kill -TERM "${pid_of[S]}" 2>/dev/null
s_gone() { ! kill -0 "${pid_of[S]}" 2>/dev/null; }
poll 3 s_gone || kill -KILL "${pid_of[S]}" 2>/dev/null
reap "${pid_of[S]}"
ip -n "$pfx-e" addr del "${ip[E]}/24" dev eth0
ip -n "$pfx-e" addr add "$e_moved/24" dev eth0
e_readies=$(grep -c '^\* ready: ' "$work/E.out")
start_user E "$e_moved"
ready_again() { [ "$(grep -c '^\* ready: ' "$work/E.out")" -gt "$e_readies" ]; }
if poll 5 ready_again; then say "E back: $(grep '^\* ready: ' "$work/E.out" | tail -n1)"
else fail "darkchat -u E did not start again at $e_moved"; fi
r_sees_e_moved() { sees R "E online .*via Q.*$e_moved:$port online"; }
if poll 10 r_sees_e_moved; then
	pass "R learns E's new address $e_moved through Q, with no server"
else
	fail "R does not show E online at $e_moved within 10 s"
fi
show R
say 'R: \add E'
send R '\add E'
r_linked_e() { sees R "E online .*contact.*$e_moved:$port online"; }
e_linked_r() { grep -q '^\* R linked you' "$work/E.out"; }
if poll 10 r_linked_e && poll 5 e_linked_r; then
	pass "R and E are linked again (E printed '* R linked you')"
else
	fail "R and E did not link: R's \\users and E's output follow"
fi
show R
c_sees_e_moved() { sees C "E online .*$e_moved:$port online"; }
if poll 10 c_sees_e_moved; then pass "C sees E online at $e_moved too"
else fail "C does not show E online at $e_moved"; fi
show C

# ---- verdict ----------------------------------------------------------------
finish
