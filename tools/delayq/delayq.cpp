// delayq: hold every packet of one NFQUEUE queue for a configured delay, then
// accept it. A user-space stand-in for `tc qdisc ... netem delay` on kernels
// without netem (see tools/delayq/README.md). Linux only; needs CAP_NET_ADMIN
// in the network namespace it runs in.
//
//   iptables -A OUTPUT -o eth0 -j NFQUEUE --queue-num 0 --queue-bypass
//   delayq -q 0 -f delays.conf        # kill -HUP re-reads delays.conf
#include <arpa/inet.h>
#include <linux/netfilter.h>   // NF_ACCEPT, NF_DROP, NF_INET_* hooks
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <queue>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include <libnetfilter_queue/libnetfilter_queue.h>
}

#include "rules.hpp"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_NO_ENOBUFS
#define NETLINK_NO_ENOBUFS 5
#endif

namespace {

using dc::delayq::Addr;
using dc::delayq::Table;

constexpr const char* kUsage =
    "usage: delayq -q NUM [-f FILE] [-d MS] [-m dst|src|peer] [-l N] [-w drop|accept]\n"
    "  -q, --queue NUM       the NFQUEUE queue number (iptables ... -j NFQUEUE --queue-num NUM)\n"
    "  -f, --config FILE     per-address delays; re-read on SIGHUP (format in delayq(1) / README)\n"
    "  -d, --delay MS        delay for addresses no rule matches (default 0; a 'default' line wins)\n"
    "  -m, --match WHAT      key the rules on the packet's dst (default), src, or peer\n"
    "                        (dst on output hooks, src on input hooks)\n"
    "  -l, --limit N         hold at most N packets (default 10000)\n"
    "  -w, --when-full WHAT  a packet over the limit is dropped (default) or accepted at once\n"
    "  -h, --help            this text\n"
    "SIGHUP re-reads FILE, SIGUSR1 prints the counters, SIGTERM/SIGINT accept every held\n"
    "packet and exit 0.\n";

enum class Match { dst, src, peer };

struct Options {
  int queue = -1;
  std::string config;
  std::uint32_t default_us = 0;
  Match match = Match::dst;
  std::size_t limit = 10000;
  bool drop_when_full = true;
};

struct Held {
  std::int64_t deadline_ns;
  std::uint64_t seq;          // FIFO among equal deadlines
  std::uint32_t id;           // the kernel's packet id
  bool operator>(const Held& o) const {
    return deadline_ns != o.deadline_ns ? deadline_ns > o.deadline_ns : seq > o.seq;
  }
};

struct Counters {
  std::uint64_t delayed = 0;       // held, then accepted
  std::uint64_t at_once = 0;       // no delay for it: accepted when it came
  std::uint64_t full_dropped = 0;  // over --limit, dropped
  std::uint64_t full_accepted = 0; // over --limit, accepted undelayed
  std::uint64_t not_ip = 0;        // no IP header to read: default delay
  std::uint64_t lost = 0;          // ENOBUFS: the kernel could not hand us packets
  std::uint64_t verdict_errors = 0;
  std::size_t max_held = 0;
};

struct State {
  Options opt;
  Table table;
  nfq_q_handle* qh = nullptr;
  std::priority_queue<Held, std::vector<Held>, std::greater<>> held;
  // The last deadline given to each peer: a packet never overtakes an earlier
  // one to the same peer when its delay is lowered at run time.
  std::map<Addr, std::int64_t> last_deadline;
  std::uint64_t seq = 0;
  Counters n;
};

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string fmt_ms(std::uint32_t us) {
  char buf[32];
  if (us % 1000 == 0) std::snprintf(buf, sizeof buf, "%u ms", us / 1000);
  else std::snprintf(buf, sizeof buf, "%.3f ms", us / 1000.0);
  return buf;
}

// Reads and parses the configuration file; one error line and false on failure.
bool load(State& s, const char* why) {
  std::ifstream in(s.opt.config, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "delayq: cannot read %s: %s%s\n", s.opt.config.c_str(), std::strerror(errno), why);
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1u << 20)) {
    std::fprintf(stderr, "delayq: %s: larger than 1 MiB%s\n", s.opt.config.c_str(), why);
    return false;
  }
  auto parsed = dc::delayq::parse_table(text.str(), s.opt.default_us);
  if (const auto* err = std::get_if<dc::delayq::ParseError>(&parsed)) {
    std::fprintf(stderr, "delayq: %s:%d: %s%s\n", s.opt.config.c_str(), err->line, err->what.c_str(), why);
    return false;
  }
  s.table = std::move(std::get<Table>(parsed));
  return true;
}

std::string describe(const State& s) {
  std::string d = "default " + fmt_ms(s.table.default_us);
  for (const auto& r : s.table.rules) {
    const int bits = r.prefix >= 96 && r.addr[10] == 0xff && r.addr[11] == 0xff ? r.prefix - 96 : r.prefix;
    const bool host = bits == (r.prefix >= 96 && r.addr[10] == 0xff ? 32 : 128);
    d += ", " + dc::delayq::format_addr(r.addr) + (host ? "" : "/" + std::to_string(bits)) + " " +
         fmt_ms(r.delay_us);
    if (d.size() > 400) {
      d += ", ...";
      break;
    }
  }
  return d;
}

void verdict(State& s, std::uint32_t id, std::uint32_t v) {
  if (nfq_set_verdict(s.qh, id, v, 0, nullptr) < 0) ++s.n.verdict_errors;
}

void print_counters(const State& s, const char* prefix) {
  std::fprintf(stderr,
               "delayq: queue %d%s: %llu delayed, %llu at once, %llu dropped and %llu accepted over the "
               "limit, %llu not IP, %llu lost (ENOBUFS), %llu verdict errors; %zu held now, at most %zu\n",
               s.opt.queue, prefix, static_cast<unsigned long long>(s.n.delayed),
               static_cast<unsigned long long>(s.n.at_once), static_cast<unsigned long long>(s.n.full_dropped),
               static_cast<unsigned long long>(s.n.full_accepted), static_cast<unsigned long long>(s.n.not_ip),
               static_cast<unsigned long long>(s.n.lost), static_cast<unsigned long long>(s.n.verdict_errors),
               s.held.size(), s.n.max_held);
}

int on_packet(nfq_q_handle*, nfgenmsg*, nfq_data* nfa, void* data) {
  auto& s = *static_cast<State*>(data);
  const nfqnl_msg_packet_hdr* ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == nullptr) return 0;
  const std::uint32_t id = ntohl(ph->packet_id);
  unsigned char* payload = nullptr;
  const int len = nfq_get_payload(nfa, &payload);
  bool want_dst = s.opt.match == Match::dst;
  if (s.opt.match == Match::peer) want_dst = !(ph->hook == NF_INET_PRE_ROUTING || ph->hook == NF_INET_LOCAL_IN);
  std::optional<Addr> peer;
  if (len > 0) peer = dc::delayq::packet_address({payload, static_cast<std::size_t>(len)}, want_dst);
  if (!peer) ++s.n.not_ip;
  const Addr key = peer.value_or(Addr{});
  const std::uint32_t delay_us = peer ? s.table.delay_for(*peer) : s.table.default_us;

  const std::int64_t now = now_ns();
  std::int64_t deadline = now + static_cast<std::int64_t>(delay_us) * 1000;
  auto last = s.last_deadline.find(key);
  if (last != s.last_deadline.end() && last->second > deadline) deadline = last->second;
  if (deadline <= now) {
    ++s.n.at_once;
    verdict(s, id, NF_ACCEPT);
    return 0;
  }
  if (s.held.size() >= s.opt.limit) {
    if (s.opt.drop_when_full) {
      ++s.n.full_dropped;
      verdict(s, id, NF_DROP);
    } else {
      ++s.n.full_accepted;
      verdict(s, id, NF_ACCEPT);
    }
    return 0;
  }
  s.held.push(Held{deadline, s.seq++, id});
  s.n.max_held = std::max(s.n.max_held, s.held.size());
  if (last != s.last_deadline.end()) {
    last->second = deadline;
  } else {
    if (s.last_deadline.size() >= 4096) {   // forget peers with nothing in flight
      std::erase_if(s.last_deadline, [&](const auto& kv) { return kv.second <= now; });
    }
    s.last_deadline.emplace(key, deadline);
  }
  return 0;
}

void release_due(State& s, std::int64_t now) {
  while (!s.held.empty() && s.held.top().deadline_ns <= now) {
    verdict(s, s.held.top().id, NF_ACCEPT);
    ++s.n.delayed;
    s.held.pop();
  }
}

template <typename T>
bool parse_number(std::string_view text, T& out, T lo, T hi) {
  T v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || p != text.data() + text.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

// Returns 0 to go on, or an exit status.
int parse_options(int argc, char** argv, Options& o) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    std::string_view value;
    bool has_value = false;
    if (a.starts_with("--") && a.find('=') != std::string_view::npos) {
      value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      has_value = true;
    }
    auto next = [&](std::string_view& v) {
      if (has_value) { v = value; return true; }
      if (i + 1 >= args.size()) return false;
      v = args[++i];
      return true;
    };
    auto bad = [&](const char* what) {
      std::fprintf(stderr, "delayq: %s for %.*s (try --help)\n", what, static_cast<int>(a.size()), a.data());
      return 2;
    };
    std::string_view v;
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return -1;
    } else if (a == "-q" || a == "--queue") {
      if (!next(v) || !parse_number(v, o.queue, 0, 65535)) return bad("expected a queue number 0-65535");
    } else if (a == "-f" || a == "--config") {
      if (!next(v) || v.empty()) return bad("expected a file name");
      o.config = std::string(v);
    } else if (a == "-d" || a == "--delay") {
      const auto d = next(v) ? dc::delayq::parse_delay_ms(v) : std::nullopt;
      if (!d) return bad("expected a delay in ms (e.g. 10 or 2.5, at most 60000)");
      o.default_us = *d;
    } else if (a == "-m" || a == "--match") {
      if (!next(v)) return bad("expected dst, src or peer");
      if (v == "dst") o.match = Match::dst;
      else if (v == "src") o.match = Match::src;
      else if (v == "peer") o.match = Match::peer;
      else return bad("expected dst, src or peer");
    } else if (a == "-l" || a == "--limit") {
      if (!next(v) || !parse_number<std::size_t>(v, o.limit, 1, 1'000'000)) {
        return bad("expected a packet count 1-1000000");
      }
    } else if (a == "-w" || a == "--when-full") {
      if (!next(v) || (v != "drop" && v != "accept")) return bad("expected drop or accept");
      o.drop_when_full = v == "drop";
    } else {
      std::fprintf(stderr, "delayq: unknown argument %.*s (try --help)\n", static_cast<int>(a.size()), a.data());
      return 2;
    }
  }
  if (o.queue < 0) {
    std::fprintf(stderr, "delayq: -q NUM is required (try --help)\n");
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  State s;
  if (const int rc = parse_options(argc, argv, s.opt); rc != 0) return rc < 0 ? 0 : rc;
  s.table.default_us = s.opt.default_us;
  if (!s.opt.config.empty() && !load(s, "")) return 1;

  // Signals arrive through a descriptor, so the loop below is the only thread
  // of control and a reload never races a packet.
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&mask, sig);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  const int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    std::fprintf(stderr, "delayq: signalfd: %s\n", std::strerror(errno));
    return 1;
  }

  nfq_handle* h = nfq_open();
  if (h == nullptr) {
    std::fprintf(stderr, "delayq: cannot open an nfnetlink queue socket: %s (root or CAP_NET_ADMIN needed)\n",
                 std::strerror(errno));
    return 1;
  }
  s.qh = nfq_create_queue(h, static_cast<std::uint16_t>(s.opt.queue), &on_packet, &s);
  if (s.qh == nullptr) {
    std::fprintf(stderr, "delayq: cannot bind NFQUEUE queue %d: %s (another program on it? root?)\n",
                 s.opt.queue, std::strerror(errno));
    nfq_close(h);
    return 1;
  }
  // 128 bytes are enough for any IPv4 or IPv6 header: we read only addresses.
  if (nfq_set_mode(s.qh, NFQNL_COPY_PACKET, 128) < 0) {
    std::fprintf(stderr, "delayq: cannot set the copy mode of queue %d: %s\n", s.opt.queue, std::strerror(errno));
    nfq_destroy_queue(s.qh);
    nfq_close(h);
    return 1;
  }
  // The kernel's own queue holds every packet we hold, plus a margin so that
  // our --limit decides; beyond it, fail-open accepts rather than drops.
  nfq_set_queue_maxlen(s.qh, static_cast<std::uint32_t>(s.opt.limit + 1024));
  nfq_set_queue_flags(s.qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
  const int fd = nfq_fd(h);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 4u << 20);
  const int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);

  std::fprintf(stderr, "delayq: queue %d ready: %s; matching %s; limit %zu (%s when full)\n", s.opt.queue,
               describe(s).c_str(),
               s.opt.match == Match::dst ? "dst" : s.opt.match == Match::src ? "src" : "peer",
               s.opt.limit, s.opt.drop_when_full ? "drop" : "accept");

  alignas(8) static char buf[1 << 16];
  int status = 0;
  bool running = true;
  while (running) {
    const std::int64_t now = now_ns();
    release_due(s, now);
    timespec timeout{};
    timespec* tp = nullptr;
    if (!s.held.empty()) {
      const std::int64_t wait = s.held.top().deadline_ns - now;
      timeout.tv_sec = wait / 1'000'000'000;
      timeout.tv_nsec = wait % 1'000'000'000;
      tp = &timeout;
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (ppoll(fds, 2, tp, nullptr) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "delayq: poll: %s\n", std::strerror(errno));
      status = 1;
      break;
    }
    if (fds[0].revents & POLLIN) {
      for (int i = 0; i < 256; ++i) {   // a batch, then timers get their turn
        const ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (got < 0) {
          if (errno == ENOBUFS) { ++s.n.lost; continue; }
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
          std::fprintf(stderr, "delayq: reading queue %d: %s\n", s.opt.queue, std::strerror(errno));
          status = 1;
          running = false;
          break;
        }
        nfq_handle_packet(h, buf, static_cast<int>(got));
      }
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo si{};
      while (read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        if (si.ssi_signo == SIGHUP) {
          if (s.opt.config.empty()) {
            std::fprintf(stderr, "delayq: SIGHUP but no -f FILE: delays unchanged\n");
          } else if (load(s, "; delays unchanged")) {
            std::fprintf(stderr, "delayq: queue %d reloaded: %s\n", s.opt.queue, describe(s).c_str());
          }
        } else if (si.ssi_signo == SIGUSR1) {
          print_counters(s, "");
        } else {
          running = false;
        }
      }
    }
  }
  // Accept what we still hold: destroying the queue would drop it.
  while (!s.held.empty()) {
    verdict(s, s.held.top().id, NF_ACCEPT);
    ++s.n.delayed;
    s.held.pop();
  }
  print_counters(s, " exiting");
  nfq_destroy_queue(s.qh);
  nfq_close(h);
  close(sfd);
  return status;
}
