#!/usr/bin/python3
"""The DarkChat cluster of seed 001, section 3.1, figure 3, on Mininet.

       A ----- B          links (symmetric; made with \\add):
        \\     /             C-Q C-R C-A C-B Q-R Q-E A-B
         \\   /            C is linked to all but E;
  S       C              E is linked only to Q, two hops from C.
 (server) | \\
          |  R            S is the super-client (darkchatd -s); every user
          | /             starts knowing only S (-sip).
          Q
          |
          E

Every host hangs off one Linux bridge (Mininet's LinuxBridge, `--switch lxbr`
on the mn command line), 10.0.0.0/24, no controller. Each link asks for a
delay (default 10 ms each way, so 20 ms host to host) through TCLink; that
needs the kernel's netem qdisc, and where netem is missing TCLink prints an
error and applies no delay at all. The script checks and says which it is.

The users run `darkchat`, not `darkchatd`: links are made with the \\add macro,
which only the front end reads. Each darkchat reads its standard input from a
FIFO (DIR/NAME.in) that this script keeps open and writes macros into, and
writes its events to DIR/NAME.out. The script then
  1. makes the figure-3 links and shows every user's \\users (the two-hop
     views): C should list E "online via Q";
  2. makes E \\quit: C should list E offline a moment later;
  3. with --cli, drops into Mininet's CLI with everything (but E) running:
     `sh echo '\\users' > DIR/C.in; sh tail DIR/C.out`.
Processes are stopped by pid; the bridge and links by Mininet's net.stop().
Never run `mn -c` to clean up after it: that kills processes by name and
deletes files under /tmp.

Run as root with the system python (Debian's mininet package installs into
/usr/lib/python3/dist-packages):
    /usr/bin/python3 scripts/mininet/darkchat_cluster.py [--bin-dir DIR] [--cli]
Exit status 0 when the checks passed, 1 otherwise.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

try:
    from mininet.cli import CLI
    from mininet.link import TCLink
    from mininet.log import setLogLevel, info
    from mininet.net import Mininet
    from mininet.nodelib import LinuxBridge
    from mininet.topo import Topo
except ImportError as e:  # pragma: no cover - depends on the host
    sys.exit('darkchat_cluster.py: cannot import mininet (%s); install the Debian package '
             '"mininet" and run with /usr/bin/python3' % e)

PORT = 7300
ADDR = {'S': '10.0.0.10', 'A': '10.0.0.1', 'B': '10.0.0.2', 'C': '10.0.0.3',
        'Q': '10.0.0.4', 'R': '10.0.0.5', 'E': '10.0.0.6'}
USERS = ['A', 'B', 'C', 'Q', 'R', 'E']
# Who types \add whom: C is linked to all but E, E only to Q.
ADDS = [('C', 'Q'), ('C', 'R'), ('C', 'A'), ('C', 'B'), ('Q', 'R'), ('Q', 'E'), ('A', 'B')]
USERS_END = re.compile(r'^\* [0-9]+ users?$')


class DarkChatTopo(Topo):
    """One Linux bridge, every host on it."""

    def build(self, switch_name='dcs1', delay=None):  # pylint: disable=arguments-differ
        sw = self.addSwitch(switch_name)
        opts = {'delay': delay} if delay else {}
        for h in ['S'] + USERS:
            self.addHost(h, ip=ADDR[h] + '/24')
            self.addLink(h, sw, **opts)


class Cluster:
    """The darkchat processes on a started Mininet network."""

    def __init__(self, net, bin_dir, work):
        self.net, self.bin_dir, self.work = net, bin_dir, work
        self.procs = {}      # name -> Popen (pid is the darkchat pid: mnexec execs)
        self.fds = {}        # user -> our read-write descriptor of its FIFO
        self.passed = self.failed = 0

    # -- processes --------------------------------------------------------
    def path(self, name, ext):
        return os.path.join(self.work, name + ext)

    def start_server(self):
        # The man page says a super-client without -u is called "server";
        # darkchatd 0.1.0 wants -u on a new data directory, so it is given.
        cmd = [os.path.join(self.bin_dir, 'darkchatd'), '-s', '-u', 'server', '-p', str(PORT),
               '--bind', ADDR['S'], '--data-dir', os.path.join(self.work, 'S')]
        with open(self.path('S', '.out'), 'ab') as out, open(self.path('S', '.err'), 'ab') as err:
            self.procs['S'] = self.net['S'].popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def start_user(self, u, addr=None, server=True):
        fifo = self.path(u, '.in')
        if u not in self.fds:
            os.mkfifo(fifo, 0o600)
            # Read-write: opening never blocks, and darkchat sees no end of
            # input until we close it.
            self.fds[u] = os.open(fifo, os.O_RDWR)
        cmd = [os.path.join(self.bin_dir, 'darkchat'), '-u', u, '-p', str(PORT),
               '--bind', addr or ADDR[u], '--data-dir', os.path.join(self.work, u)]
        if server:
            cmd += ['-sip', ADDR['S'], '-sp', str(PORT)]
        rd = os.open(fifo, os.O_RDONLY)  # a writer (us) exists: does not block
        try:
            with open(self.path(u, '.out'), 'ab') as out, open(self.path(u, '.err'), 'ab') as err:
                self.procs[u] = self.net[u].popen(cmd, stdin=rd, stdout=out, stderr=err)
        finally:
            os.close(rd)

    def send(self, u, line):
        os.write(self.fds[u], (line + '\n').encode())

    def stop(self):
        """Stop everything we started, by pid: \\quit, then SIGTERM, then SIGKILL."""
        for u, fd in list(self.fds.items()):
            try:
                self.send(u, '\\quit')
            except OSError:
                pass
        for name, p in self.procs.items():
            if name == 'S' and p.poll() is None:
                p.terminate()
        deadline = time.time() + 3
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(1)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    # -- reading the output -----------------------------------------------
    def lines(self, u):
        try:
            with open(self.path(u, '.out'), encoding='utf-8', errors='replace') as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def ready(self, u):
        return any(l.startswith('* ready: ') for l in self.lines(u))

    def listing(self, u, timeout=2.0):
        """Send \\users to u and return the user lines of its answer."""
        start = len(self.lines(u))
        self.send(u, '\\users')
        deadline = time.time() + timeout
        while time.time() < deadline:
            new = self.lines(u)[start:]
            for i, l in enumerate(new):
                if USERS_END.match(l):
                    return [x for x in new[:i] if x.startswith('  ')]
            time.sleep(0.1)
        return []

    def sees(self, u, pattern):
        rx = re.compile(r'^  ' + pattern)
        return any(rx.match(l) for l in self.listing(u))

    @staticmethod
    def poll(seconds, fn):
        deadline = time.time() + seconds
        while True:
            if fn():
                return True
            if time.time() >= deadline:
                return False
            time.sleep(0.2)

    def check(self, ok, what):
        print('%s: %s' % ('PASS' if ok else 'FAIL', what), flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok

    def show(self, u):
        for l in self.listing(u):
            print('    %s\\users: %s' % (u, l), flush=True)

    # -- the demonstration --------------------------------------------------
    def run(self):
        self.start_server()
        if not self.poll(5, lambda: b'ready' in open(self.path('S', '.err'), 'rb').read()):
            return self.check(False, 'super-client darkchatd -s did not start (see %s)' % self.path('S', '.err'))
        for u in USERS:
            self.start_user(u)
        if not self.poll(10, lambda: all(self.ready(u) for u in USERS)):
            return self.check(False, 'not every darkchat printed "* ready:" (see %s)' % self.work)
        info('*** users ready: %s\n' % ' '.join(USERS))

        info('*** links: %s\n' % ', '.join('%s \\add %s' % a for a in ADDS))
        for a, b in ADDS:
            self.send(a, '\\add ' + b)
        self.check(self.poll(10, lambda: self.sees('C', 'E online .*via Q')),
                   'C sees E online via Q (two hops)')
        self.poll(5, lambda: all(self.sees('C', '%s online .*contact' % v) for v in 'QRAB'))
        info('*** the two-hop views\n')
        for u in USERS:
            self.show(u)
        # Links are symmetric (darkchat(1), \add), so E should see C via Q too.
        self.check(self.poll(5, lambda: self.sees('E', 'C online .*via Q')), 'E sees C online via Q (two hops)')

        info('*** E: \\quit\n')
        self.send('E', '\\quit')
        t = time.time()
        ok = self.poll(6, lambda: self.sees('C', 'E offline'))
        self.check(ok, 'C sees E offline %s after E\'s \\quit' %
                   ('%.1f s' % (time.time() - t) if ok else 'not within 6 s'))
        self.show('C')
        return self.failed == 0


def netem_delay_applied(host):
    out = host.cmd('tc qdisc show dev %s' % host.defaultIntf())
    return 'netem' in out and 'delay' in out


def drive(net, cluster, work, args, body, cli_hint):
    """Start net, run body() (True: all checks passed), print the verdict,
    offer the CLI with --cli; then stop what we started, by pid, and the
    network (also after Ctrl-C); keep the work directory on failure or --keep."""
    ok = False
    try:
        net.start()
        ok = body()
        print('%d passed, %d failed' % (cluster.passed, cluster.failed), flush=True)
        if args.cli:
            info(cli_hint)
            CLI(net)
    except KeyboardInterrupt:
        print('interrupted: stopping', flush=True)
        ok = False
    finally:
        cluster.stop()
        net.stop()
        if args.keep or not ok:
            print('# kept %s' % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description='DarkChat figure-3 cluster on Mininet (run as root).')
    ap.add_argument('--bin-dir', default=os.path.normpath(os.path.join(here, '..', '..', 'build')),
                    help='where darkchat and darkchatd are (default: ../../build from this script)')
    ap.add_argument('--cli', action='store_true', help="drop into Mininet's CLI before stopping")
    ap.add_argument('--delay', default='10ms',
                    help='delay of every host-bridge link, e.g. 10ms; 0 for none (needs netem)')
    ap.add_argument('--keep', action='store_true', help='keep the work directory (logs, databases)')
    args = ap.parse_args()

    if os.geteuid() != 0:
        sys.exit('darkchat_cluster.py: Mininet needs root')
    bin_dir = os.path.abspath(args.bin_dir)
    for b in ('darkchat', 'darkchatd'):
        if not os.access(os.path.join(bin_dir, b), os.X_OK):
            sys.exit('darkchat_cluster.py: no executable %s (build first: ninja -C build, or pass --bin-dir)'
                     % os.path.join(bin_dir, b))
    delay = None if args.delay in ('0', '0ms', '', 'none') else args.delay

    setLogLevel('info')
    # The bridge and its ports live in the root namespace: a name unique per
    # pid keeps us clear of other bridges (LinuxBridge.start deletes a bridge
    # of the same name first). Digits are needed: Mininet derives a dpid.
    switch_name = 'dcs%d' % (os.getpid() % 100000)
    work = tempfile.mkdtemp(prefix='darkchat-mn.%d.' % os.getpid())
    net = Mininet(topo=DarkChatTopo(switch_name=switch_name, delay=delay), switch=LinuxBridge,
                  controller=None, link=TCLink, autoSetMacs=True, waitConnected=False)
    cluster = Cluster(net, bin_dir, work)

    def body():
        if delay:
            if netem_delay_applied(net['C']):
                info('*** links delayed by %s each way (netem)\n' % delay)
            else:
                info('*** no netem in this kernel: TCLink applied NO delay; links are plain veth\n')
        info('*** work directory %s\n' % work)
        return cluster.run()
    hint = '*** macros: sh echo \'\\users\' > %s/C.in ; output: sh tail %s/C.out\n' % (work, work)
    return drive(net, cluster, work, args, body, hint)


if __name__ == '__main__':
    sys.exit(main())
