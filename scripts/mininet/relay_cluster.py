#!/usr/bin/python3
"""Seed 000's network on Mininet: the directory, four relays, two clients.

    c1 (alice) --+                  Four switches in a chain, every link
    c2 (bob) ----+-- s1 -- r1       10 ms each way (TCLink). A client's round
                      |             trip is 40 ms to r1 (the seed's Serv1,
    dir ------------ s2 -- r3       the closest), 60 ms to r3 (Serv3, second),
                      |             80 ms to r2 and 100 ms to r4; the
                     s3 -- r2       directory is 60 ms away.
                      |
                     s4 -- r4       c1 10.0.0.1, c2 10.0.0.2, dir 10.0.0.10,
                                    r1..r4 10.0.0.11..14

The seed's relocation example, with our binaries: `darkchatd --directory` on
dir; relays r2, r3, r4 (`darkchatd --relay --dir 10.0.0.10`) but not r1, which
"hasn't started up"; `darkchat -u alice|bob --dir 10.0.0.10` on c1 and c2, fed
through FIFOs (DIR/c1.in). Then
  1. alice `\\request bob`, bob `\\accept alice`: the room lands on r3, the
     best relay running (`* room ID on relay 10.0.0.13:7300 with alice, bob`);
  2. both type lines; r1 starts: the directory moves the room to r1
     (`* room ID moved to relay 10.0.0.11:7300 (better: ...)`);
  3. kill -9 of r1: the room moves back to r3 (`(relay died)`);
  4. every line typed is shown exactly once, in order, to the other user.
With --cli, Mininet's CLI follows, everything still running:
`sh echo '\\rooms' > DIR/c1.in; sh tail DIR/c1.out`.

Delays: TCLink needs the kernel's netem qdisc. Where it is missing (Mininet
prints `Error: Specified qdisc kind is unknown.` and applies NO delay), the
script falls back to tools/delayq if it finds it: an iptables NFQUEUE rule in
every host and a delayq holding each packet for the one-way delay of the path
(10 ms per link on it). It says which one it uses; with neither, the relays
are all equally close and check 1 cannot be meaningful (it says so).

Processes are stopped by pid; the bridges and links by Mininet's net.stop().
Never run `mn -c` to clean up after it: it kills processes by name and
deletes files under /tmp.

Run as root with the system python:
    /usr/bin/python3 scripts/mininet/relay_cluster.py [--bin-dir DIR] [--cli] [--net-only]
Exit status 0 when the checks passed, 1 otherwise.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True   # no __pycache__ next to the scripts
try:
    from mininet.link import TCLink
    from mininet.log import setLogLevel, info
    from mininet.net import Mininet
    from mininet.nodelib import LinuxBridge
    from mininet.topo import Topo
    from darkchat_cluster import Cluster, drive, netem_delay_applied
except ImportError as e:  # pragma: no cover - depends on the host
    sys.exit('relay_cluster.py: cannot import mininet (%s); install the Debian package '
             '"mininet" and run with /usr/bin/python3' % e)

PORT = 7300
ADDR = {'c1': '10.0.0.1', 'c2': '10.0.0.2', 'dir': '10.0.0.10',
        'r1': '10.0.0.11', 'r2': '10.0.0.12', 'r3': '10.0.0.13', 'r4': '10.0.0.14'}
NAME_OF = {a: h for h, a in ADDR.items()}
USER = {'c1': 'alice', 'c2': 'bob'}
RELAYS = ['r1', 'r2', 'r3', 'r4']
# Which switch of the chain s1-s2-s3-s4 each host hangs off.
SWITCH = {'c1': 1, 'c2': 1, 'r1': 1, 'dir': 2, 'r3': 2, 'r2': 3, 'r4': 4}
LINK_MS = 10

ROOM = re.compile(r'^\* room ([0-9a-f]+) on relay ([0-9.]+):([0-9]+)')
READY = re.compile(r'(^|: )\* ready: ')
MOVED = re.compile(r'^\* room ([0-9a-f]+) moved to relay ([0-9.]+):([0-9]+) \((.*)\)')


def one_way_ms(h, g):
    """One-way delay of the path from host h to host g: 10 ms per link."""
    return (2 + abs(SWITCH[h] - SWITCH[g])) * LINK_MS


class SeedTopo(Topo):
    """The chain of Linux bridges and the seven hosts."""

    def build(self, prefix='d1s', delay=None):  # pylint: disable=arguments-differ
        opts = {'delay': delay} if delay else {}
        switches = [self.addSwitch('%s%d' % (prefix, i)) for i in range(1, 5)]
        for a, b in zip(switches, switches[1:]):
            self.addLink(a, b, **opts)
        for h, addr in ADDR.items():
            self.addHost(h, ip=addr + '/24')
            self.addLink(h, switches[SWITCH[h] - 1], **opts)


class RelayCluster(Cluster):
    """Directory, relays and the two users on a started Mininet network."""

    def __init__(self, net, bin_dir, work):
        super().__init__(net, bin_dir, work)
        self.room = None
        self.sent = {'c1': 0, 'c2': 0}
        self.delayqs = []

    # -- delays without netem ------------------------------------------------
    def start_delayq(self, delayq):
        for h in ADDR:
            with open(self.path(h, '.delays'), 'w', encoding='utf-8') as f:
                f.write('# one-way delays from %s\ndefault 0\n' % h)
                for g in ADDR:
                    if g != h:
                        f.write('%s %d\n' % (ADDR[g], one_way_ms(h, g)))
            node = self.net[h]
            intf = node.defaultIntf()
            out = node.cmd('iptables -A OUTPUT -o %s -j NFQUEUE --queue-num 0 --queue-bypass; echo rc=$?' % intf)
            if 'rc=0' not in out:
                info('*** cannot add the NFQUEUE rule in %s: %s\n' % (h, out.strip()))
                return False
            with open(self.path(h, '.delayq'), 'ab') as err:
                self.delayqs.append(node.popen([delayq, '-q', '0', '-f', self.path(h, '.delays')],
                                               stdin=subprocess.DEVNULL, stdout=err, stderr=err))
        ok = self.poll(5, lambda: all(b' ready: ' in open(self.path(h, '.delayq'), 'rb').read() for h in ADDR))
        if not ok:
            info('*** delayq did not start: see %s/*.delayq\n' % self.work)
        return ok

    def rtt(self, a, b):
        out = self.net[a].cmd('ping -n -q -c 3 -i 0.2 -W 2 %s' % ADDR[b])
        m = re.search(r'= ([0-9.]+)/([0-9.]+)/', out)
        return (float(m.group(1)), float(m.group(2))) if m else None

    def check_rtt(self, a, b):
        want = one_way_ms(a, b) + one_way_ms(b, a)
        got = self.rtt(a, b)
        self.check(got is not None and got[0] >= want - 1,
                   '%s -> %s round trip %s ms, the topology says %d ms' %
                   (a, b, '%.1f' % got[1] if got else 'none', want))

    # -- processes -------------------------------------------------------------
    def start_daemon(self, h, *args):
        cmd = [os.path.join(self.bin_dir, 'darkchatd')] + list(args) + [
            '-u', h, '-p', str(PORT), '--bind', ADDR[h], '--data-dir', os.path.join(self.work, h)]
        with open(self.path(h, '.out'), 'ab') as out, open(self.path(h, '.err'), 'ab') as err:
            self.procs[h] = self.net[h].popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def start_relay(self, r):
        self.start_daemon(r, '--relay', '--dir', '%s:%d' % (ADDR['dir'], PORT))

    def start_client(self, h):
        fifo = self.path(h, '.in')
        if h not in self.fds:
            os.mkfifo(fifo, 0o600)
            self.fds[h] = os.open(fifo, os.O_RDWR)
        cmd = [os.path.join(self.bin_dir, 'darkchat'), '-u', USER[h], '-p', str(PORT), '--bind', ADDR[h],
               '--data-dir', os.path.join(self.work, h), '--dir', '%s:%d' % (ADDR['dir'], PORT)]
        rd = os.open(fifo, os.O_RDONLY)
        try:
            with open(self.path(h, '.out'), 'ab') as out, open(self.path(h, '.err'), 'ab') as err:
                self.procs[h] = self.net[h].popen(cmd, stdin=rd, stdout=out, stderr=err)
        finally:
            os.close(rd)

    def ready(self, h):
        for ext in ('.out', '.err'):
            try:
                with open(self.path(h, ext), encoding='utf-8', errors='replace') as f:
                    if any(READY.search(l) for l in f):   # darkchatd prefixes its log lines
                        return True
            except FileNotFoundError:
                pass
        return False

    def stop(self):
        for h, p in self.procs.items():   # the daemons do not read \quit
            if h not in USER and p.poll() is None:
                p.terminate()
        super().stop()
        for p in self.delayqs:          # last: they accept what they still hold
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.delayqs:
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    # -- the room ------------------------------------------------------------------
    def both_lines(self, tag):
        for h in ('c1', 'c2'):
            self.sent[h] += 1
            self.send(h, 'line %03d from %s (%s)' % (self.sent[h], USER[h], tag))

    def shown(self, h, author_host):
        """Numbers of author_host's lines that h shows, in order."""
        rx = re.compile(r'^\[[0-9a-f]+\] <%s> line ([0-9]{3}) from ' % USER[author_host])
        return [int(m.group(1)) for m in (rx.match(l) for l in self.lines(h)) if m]

    def all_shown(self):
        return (self.sent['c1'] in self.shown('c2', 'c1')) and (self.sent['c2'] in self.shown('c1', 'c2'))

    def moves(self, h):
        return [m for m in (MOVED.match(l) for l in self.lines(h)) if m]

    def wait_move(self, before, seconds, tag):
        """Keep both typing until both print a move after the first `before`."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if len(self.moves('c1')) > before and len(self.moves('c2')) > before:
                m = self.moves('c1')[before]
                info('*** alice: %s\n' % m.group(0))
                return NAME_OF.get(m.group(2), m.group(2)), m.group(4)
            self.both_lines(tag)
            time.sleep(0.5)
        return None, None

    def run(self, with_delays):
        self.start_daemon('dir', '--directory')
        if not self.poll(5, lambda: self.ready('dir') or self.procs['dir'].poll() is not None):
            pass
        if not self.ready('dir'):
            with open(self.path('dir', '.err'), encoding='utf-8', errors='replace') as f:
                last = (f.read().strip().splitlines() or ['(nothing)'])[-1]
            return self.check(False, 'darkchatd --directory did not print "* ready:"; it said: %s' % last)
        late = 'r1'   # the seed: Serv1, the best relay, "hasn't started up"
        for r in RELAYS:
            if r != late:
                self.start_relay(r)
        for h in USER:
            self.start_client(h)
        if not self.poll(10, lambda: all(self.ready(h) for h in ['r2', 'r3', 'r4', 'c1', 'c2'])):
            return self.check(False, 'not every program printed "* ready:" (see %s)' % self.work)
        info('*** directory, relays r2 r3 r4 and alice, bob ready; r1 not started yet\n')
        time.sleep(3)   # a few measuring rounds (one probe per relay per second)

        self.send('c1', '\\request bob')
        self.check(self.poll(10, lambda: any(l.startswith('* alice asks for a chat') for l in self.lines('c2'))),
                   'bob sees alice\'s request')
        self.send('c2', '\\accept alice')

        def room_of(h):
            return next((m for m in (ROOM.match(l) for l in self.lines(h)) if m), None)
        if not self.poll(10, lambda: room_of('c1') and room_of('c2')):
            return self.check(False, 'alice and bob did not both print "* room ID on relay ..."')
        m = room_of('c1')
        self.room = m.group(1)
        info('*** alice: %s\n' % m.group(0))
        at = NAME_OF.get(m.group(2), m.group(2))
        self.check(at == 'r3' or not with_delays,
                   'room %s is on %s%s' % (self.room, at, ' (r3 expected: the best relay running)'
                                           if with_delays else ' (no delays: any relay will do)'))
        for h in USER:
            self.send(h, '\\room ' + self.room)
        for _ in range(3):
            self.both_lines('on %s' % at)
            time.sleep(0.2)
        self.check(self.poll(10, self.all_shown), 'lines flow both ways on %s' % at)

        info('*** r1 starts\n')
        before = len(self.moves('c1'))
        self.start_relay(late)
        t = time.time()
        to, why = self.wait_move(before, 30, 'r1 starting')
        if with_delays:
            self.check(to == 'r1', 'room moved to r1 %.1f s after it started (%s)' % (time.time() - t, why)
                       if to == 'r1' else 'room did not move to r1 within 30 s (moved to %s)' % to)
        else:
            info('*** no delays: the room %s\n' % ('moved to %s (%s)' % (to, why) if to else 'stayed'))

        current = to or at
        info('*** kill -9 %s\n' % current)
        before = len(self.moves('c1'))
        self.procs[current].send_signal(signal.SIGKILL)
        self.procs[current].wait()
        t = time.time()
        to, why = self.wait_move(before, 20, 'relay died')
        self.check(to is not None and to != current,
                   'room moved to %s %.1f s after kill -9 of %s (%s)' % (to, time.time() - t, current, why)
                   if to else 'room did not move within 20 s of kill -9 of %s' % current)
        for _ in range(2):
            self.both_lines('at the end')
            time.sleep(0.2)
        self.poll(15, self.all_shown)
        for h, author in (('c2', 'c1'), ('c1', 'c2')):
            got = self.shown(h, author)
            want = list(range(1, self.sent[author] + 1))
            self.check(got == want, '%s shows %s\'s %d lines exactly once, in order%s' %
                       (USER[h], USER[author], len(want), '' if got == want else ': got %s' % got))
        return self.failed == 0


def has_relay_modes(bin_dir):
    """True when the binaries have issue 5's directory and relay modes."""
    def usage(b):
        p = subprocess.run([os.path.join(bin_dir, b), '--help'], capture_output=True, text=True, check=False)
        return p.stdout + p.stderr
    d, c = usage('darkchatd'), usage('darkchat')
    return '--directory' in d and '--relay' in d and re.search(r'--dir\b(?!-)', c) is not None


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description='Seed 000: directory, relays, two clients on Mininet (root).')
    ap.add_argument('--bin-dir', default=os.path.normpath(os.path.join(here, '..', '..', 'build')),
                    help='where darkchat and darkchatd are (default: ../../build from this script)')
    ap.add_argument('--delayq', help='delayq, used when netem is missing (default: BIN_DIR/tools/delayq/delayq)')
    ap.add_argument('--cli', action='store_true', help="drop into Mininet's CLI before stopping")
    ap.add_argument('--net-only', action='store_true', help='build the network, measure the delays, stop')
    ap.add_argument('--keep', action='store_true', help='keep the work directory (logs, databases)')
    args = ap.parse_args()

    if os.geteuid() != 0:
        sys.exit('relay_cluster.py: Mininet needs root')
    bin_dir = os.path.abspath(args.bin_dir)
    delayq = os.path.abspath(args.delayq or os.path.join(bin_dir, 'tools', 'delayq', 'delayq'))
    if not args.net_only:
        for b in ('darkchat', 'darkchatd'):
            if not os.access(os.path.join(bin_dir, b), os.X_OK):
                sys.exit('relay_cluster.py: no executable %s (build first: ninja -C build, or pass --bin-dir)'
                         % os.path.join(bin_dir, b))
        if not has_relay_modes(bin_dir):
            sys.exit('relay_cluster.py: %s has no directory/relay modes (darkchatd --directory, --relay; '
                     'darkchat --dir): build a darkchat with issue 5, or use --net-only' % bin_dir)

    setLogLevel('info')
    prefix = 'd%ds' % (os.getpid() % 10000)   # bridges d1234s1..4: ours alone, digits for a dpid
    work = tempfile.mkdtemp(prefix='darkchat-mn-relays.%d.' % os.getpid())
    net = Mininet(topo=SeedTopo(prefix=prefix, delay='%dms' % LINK_MS), switch=LinuxBridge,
                  controller=None, link=TCLink, autoSetMacs=True, waitConnected=False)
    cluster = RelayCluster(net, bin_dir, work)

    def body():
        with_delays = True
        if netem_delay_applied(net['c1']):
            info('*** links delayed by %d ms each way (netem)\n' % LINK_MS)
        elif os.access(delayq, os.X_OK) and cluster.start_delayq(delayq):
            info('*** no netem in this kernel: path delays applied by %s (NFQUEUE)\n' % delayq)
        else:
            with_delays = False
            info('*** no netem and no delayq: NO delay on the links; the relays are all equally close\n')
        info('*** work directory %s\n' % work)
        if with_delays:
            for a, b in (('c1', 'r1'), ('c1', 'r3'), ('c2', 'r4')):
                cluster.check_rtt(a, b)
        return cluster.failed == 0 if args.net_only else cluster.run(with_delays)
    hint = '*** macros: sh echo \'\\rooms\' > %s/c1.in ; output: sh tail %s/c1.out\n' % (work, work)
    return drive(net, cluster, work, args, body, hint)

if __name__ == '__main__':
    sys.exit(main())
