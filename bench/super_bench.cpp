// A driver that speaks the darkchat wire format itself, for two benchmarks.
//
//   super_bench list [--darkchatd PATH] [--users N] [--samples S]
//     A real `darkchatd -s` learns N users, each declaring itself (a tree: the
//     requester links 256 contacts, every contact links the requester and up to
//     255 users of its own, the others N/256 each link their contact and the
//     requester), so the requester's two-hop neighbourhood is the whole network.
//     Then S sequential requestUserList round trips (answered over TCP when
//     large, in pages of one frame, each page asked for as the one before names
//     the next): whole answers per second, bytes and pages per answer, against the same driver's UDP ping/pong round
//     trips with the super-client. Also the super-client's restart time with
//     those N users against a fresh start.
//
//   super_bench idle [--darkchat PATH] [--darkchatd PATH] [--users N] [--seconds T]
//     Idle CPU, resident memory and wakeups over T seconds of a node that knows
//     N users, against the same node knowing no one: (a) `darkchatd -s` whose N
//     users declared themselves to it; (b) `darkchat` with 4 contacts (this
//     driver plays them and answers their probes) that list N users between
//     them, each of whom the node learns through its contacts.
//
// Network only on 127.0.0.0/8. Every loop is bounded in count and time; the
// processes started here are stopped by pid.
#include "bench_util.hpp"

#include "darkchat/crypto.hpp"
#include "darkchat/wire.hpp"
#include "crypto/wire_signing.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <deque>
#include <map>
#include <memory>

using namespace dc;
using namespace dc::bench;

namespace {

// ---- sockets --------------------------------------------------------------------

struct TcpConn {
    int fd = -1;
    Bytes buf;
};

// A UDP socket and, optionally, a TCP listener on the same address and port.
struct Endpoint {
    int udp = -1;
    int tcp = -1;
    Addr addr;
    std::vector<TcpConn> conns;
};

sockaddr_in to_sin(const Addr& a) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    std::memcpy(&s.sin_addr, a.ip.data(), 4);
    s.sin_port = htons(a.port);
    return s;
}

Addr from_sin(const sockaddr_in& s) {
    Addr a;
    a.family = 4;
    std::memcpy(a.ip.data(), &s.sin_addr, 4);
    a.port = ntohs(s.sin_port);
    return a;
}

std::unique_ptr<Endpoint> open_endpoint(std::uint8_t last_octet, bool with_tcp) {
    for (int attempt = 0; attempt < 32; ++attempt) {
        auto ep = std::make_unique<Endpoint>();
        ep->udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int big = 4 << 20;
        ::setsockopt(ep->udp, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        auto sin = to_sin(Addr::v4(127, 0, 0, last_octet, 0));
        if (::bind(ep->udp, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) die("bind udp");
        socklen_t len = sizeof sin;
        ::getsockname(ep->udp, reinterpret_cast<sockaddr*>(&sin), &len);
        ep->addr = from_sin(sin);
        if (!with_tcp) return ep;
        ep->tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(ep->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(ep->tcp, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0 && ::listen(ep->tcp, 128) == 0)
            return ep;
        ::close(ep->tcp);
        ::close(ep->udp);  // that port is taken for TCP: another one
    }
    die("no port free for both UDP and TCP");
}

void udp_send(const Endpoint& ep, const Addr& to, const Bytes& data) {
    auto sin = to_sin(to);
    for (int attempt = 0; attempt < 100; ++attempt) {
        ssize_t n = ::sendto(ep.udp, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
        if (n >= 0) return;
        if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR) return;
        pollfd p{ep.udp, POLLOUT, 0};
        ::poll(&p, 1, 10);
    }
}

struct Incoming {
    Endpoint* ep = nullptr;
    Addr from;
    Bytes data;
    bool tcp = false;
};

constexpr std::size_t kMaxReadFrame = 64u << 20;  // ours is lenient: we want to see what is sent

// Waits up to timeout_ms for traffic on the endpoints; hands every packet
// (datagram, or complete TCP frame) to on_packet. Returns the number handled.
std::size_t poll_endpoints(const std::vector<Endpoint*>& eps, int timeout_ms,
                           const std::function<void(Incoming&)>& on_packet, int extra_fd = -1,
                           const std::function<void()>& on_extra = {}) {
    std::vector<pollfd> fds;
    struct Slot {
        Endpoint* ep;
        int kind;  // 0 udp, 1 listener, 2 conn
        std::size_t conn;
    };
    std::vector<Slot> slots;
    for (auto* ep : eps) {
        fds.push_back({ep->udp, POLLIN, 0});
        slots.push_back({ep, 0, 0});
        if (ep->tcp >= 0) {
            fds.push_back({ep->tcp, POLLIN, 0});
            slots.push_back({ep, 1, 0});
        }
        for (std::size_t i = 0; i < ep->conns.size(); ++i) {
            fds.push_back({ep->conns[i].fd, POLLIN, 0});
            slots.push_back({ep, 2, i});
        }
    }
    if (extra_fd >= 0) fds.push_back({extra_fd, POLLIN, 0});
    int r = ::poll(fds.data(), fds.size(), timeout_ms);
    if (r <= 0) return 0;
    if (extra_fd >= 0 && fds.back().revents && on_extra) on_extra();
    std::size_t handled = 0;
    static std::vector<std::uint8_t> buf(1 << 20);
    for (std::size_t i = 0; i < slots.size(); ++i) {
        if (!fds[i].revents) continue;
        Endpoint* ep = slots[i].ep;
        if (slots[i].kind == 0) {
            for (int k = 0; k < 4096; ++k) {
                sockaddr_in from{};
                socklen_t fl = sizeof from;
                ssize_t n = ::recvfrom(ep->udp, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
                if (n <= 0) break;
                Incoming in{ep, from_sin(from), Bytes(buf.begin(), buf.begin() + n), false};
                on_packet(in);
                ++handled;
            }
        } else if (slots[i].kind == 1) {
            for (int k = 0; k < 64; ++k) {
                int c = ::accept4(ep->tcp, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (c < 0) break;
                ep->conns.push_back(TcpConn{c, {}});
            }
        } else {
            TcpConn& c = ep->conns[slots[i].conn];
            for (int k = 0; k < 100000; ++k) {
                ssize_t n = ::read(c.fd, buf.data(), buf.size());
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) break;  // EAGAIN: more later
                if (n == 0) {
                    ::close(c.fd);
                    c.fd = -1;
                    break;
                }
                c.buf.insert(c.buf.end(), buf.begin(), buf.begin() + n);
            }
            // Frames: 4-byte big-endian length, then the packet.
            std::size_t off = 0;
            while (c.buf.size() - off >= 4) {
                std::uint32_t len = (std::uint32_t(c.buf[off]) << 24) | (std::uint32_t(c.buf[off + 1]) << 16) |
                                    (std::uint32_t(c.buf[off + 2]) << 8) | std::uint32_t(c.buf[off + 3]);
                if (len == 0 || len > kMaxReadFrame) {
                    c.buf.clear();
                    off = 0;
                    if (c.fd >= 0) ::close(c.fd);
                    c.fd = -1;
                    break;
                }
                if (c.buf.size() - off < 4 + len) break;
                Incoming in{ep, {}, Bytes(c.buf.begin() + off + 4, c.buf.begin() + off + 4 + len), true};
                off += 4 + len;
                on_packet(in);
                ++handled;
            }
            if (off) c.buf.erase(c.buf.begin(), c.buf.begin() + off);
        }
    }
    for (auto* ep : eps)
        std::erase_if(ep->conns, [](const TcpConn& c) { return c.fd < 0; });
    return handled;
}

// ---- identities ---------------------------------------------------------------------

struct Ident {
    std::string user;
    crypto::KeyPair kp;
    SessionId session{};
    std::uint64_t seq = 1;
    KxPublicKey kx{};
    std::vector<std::string> links;
    Endpoint* ep = nullptr;
};

Ident make_ident(const std::string& name, std::uint32_t index, Endpoint* ep) {
    Ident id;
    id.user = name;
    std::array<std::uint8_t, 32> seed{};
    seed[0] = 0xbe;
    std::memcpy(seed.data() + 1, &index, sizeof index);
    id.kp = crypto::identity_from_seed(seed);
    std::memcpy(id.session.data(), &index, sizeof index);
    id.session[7] = 0x5c;
    KxSecretKey kxs{};
    crypto::random_bytes(kxs);
    id.kx = crypto::kx_public(kxs);
    id.ep = ep;
    return id;
}

wire::SignedBlob declaration(const Ident& id) {
    wire::Declaration d;
    d.user = id.user;
    d.key = id.kp.pk;
    d.session = id.session;
    d.seq = id.seq;
    d.online = true;
    d.addr = id.ep->addr;
    d.issued = static_cast<TimeMs>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    d.links = id.links;
    d.kx = id.kx;
    return wire::sign_blob(wire::encode(d), id.kp.sk);
}

Bytes packet(const Ident& id, wire::MsgType type, const Bytes& payload) {
    wire::Header h;
    h.type = type;
    h.from_user = id.user;
    h.from_session = id.session;
    h.from_port = id.ep->addr.port;
    h.from_key = id.kp.pk;
    return wire::encode_packet(h, payload, id.kp.sk);
}

Bytes declare_packet(const Ident& sender, const wire::SignedBlob& decl, std::uint8_t hops, std::uint64_t nonce = 0) {
    wire::Declare p;
    p.decl = decl;
    p.hops = hops;
    p.nonce = nonce;
    return packet(sender, wire::MsgType::declare_online, wire::encode(p));
}

std::vector<Endpoint*> raw(const std::vector<std::unique_ptr<Endpoint>>& v) {
    std::vector<Endpoint*> out;
    for (auto& e : v) out.push_back(e.get());
    return out;
}

// Sends each identity's own declaration to `to`, at most `rate` per second
// (a stranger's declarations are budgeted: 50/s per ip, 500/s in all).
void declare_all(const std::vector<Ident*>& ids, const Addr& to, double rate, const std::vector<Endpoint*>& eps) {
    auto start = now();
    for (std::size_t i = 0; i < ids.size(); ++i) {
        auto due = start + std::chrono::microseconds(static_cast<long long>(1e6 * static_cast<double>(i) / rate));
        for (int guard = 0; guard < 100000 && now() < due; ++guard)
            poll_endpoints(eps, std::max(1, ms_until(due)), [](Incoming&) {});
        udp_send(*ids[i]->ep, to, declare_packet(*ids[i], declaration(*ids[i]), 1));
    }
}

// Which identities the node at `to` knows: it answers a ping only from sessions it knows.
std::vector<bool> known_by(const std::vector<Ident*>& ids, const Addr& to, const std::vector<Endpoint*>& eps) {
    std::vector<bool> known(ids.size(), false);
    constexpr std::uint64_t kBase = 1ull << 40;
    std::size_t next = 0, answered = 0, window = 128;
    auto deadline = after_ms(60000);
    auto last = now();
    for (int guard = 0; guard < 10000000 && now() < deadline; ++guard) {
        while (next < ids.size() && next - answered < window) {
            udp_send(*ids[next]->ep, to, packet(*ids[next], wire::MsgType::ping, wire::encode(wire::Ping{kBase + next})));
            ++next;
        }
        std::size_t got = poll_endpoints(eps, 20, [&](Incoming& in) {
            auto p = wire::parse_packet(in.data);
            if (!p || p->header.type != wire::MsgType::pong) return;
            auto pong = wire::decode_pong(p->payload);
            if (!pong || pong->nonce < kBase || pong->nonce - kBase >= ids.size()) return;
            if (!known[pong->nonce - kBase]) {
                known[pong->nonce - kBase] = true;
                ++answered;
            }
        });
        if (got) last = now();
        if (next == ids.size() && (answered == ids.size() || ms_until(last + std::chrono::milliseconds(500)) == 0))
            break;
        // No answer for a while: count the unanswered as unknown and move on.
        if (!got && ms_until(last + std::chrono::milliseconds(300)) == 0) {
            answered = next;
            last = now();
        }
    }
    return known;
}

// Declares ids until `to` knows them all (a few rounds at most). Returns how many it knows.
std::size_t make_known(std::vector<Ident*> ids, const Addr& to, double rate, const std::vector<Endpoint*>& eps) {
    std::size_t total = ids.size();
    for (int round = 0; round < 4 && !ids.empty(); ++round) {
        declare_all(ids, to, rate, eps);
        auto k = known_by(ids, to, eps);
        std::vector<Ident*> missing;
        for (std::size_t i = 0; i < ids.size(); ++i)
            if (!k[i]) missing.push_back(ids[i]);
        if (!missing.empty())
            std::printf("# round %d: %zu of %zu not known yet, declaring them again\n", round, missing.size(),
                        ids.size());
        ids = std::move(missing);
        // Let the stranger budget refill before the next round.
        if (!ids.empty()) poll_endpoints(eps, 2000, [](Incoming&) {});
    }
    return total - ids.size();
}

// The super-client (or any darkchatd) as a child whose log goes to a file.
struct Daemon {
    Child proc;
    std::string log;
    int port = -1;
};

Daemon start_daemon(const std::string& darkchatd, const std::string& dir) {
    Daemon d;
    d.log = dir + ".log";
    SpawnOptions o;
    o.pipe_in = o.pipe_out = false;
    o.stderr_file = d.log;
    d.proc = spawn({darkchatd, "-s", "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir}, o);
    auto line = wait_for_file_line(d.log, "* ready:", after_ms(20000));
    if (!line) die("darkchatd printed no ready line (see " + d.log + ")");
    d.port = ready_port(*line);
    return d;
}

// From fork until darkchatd's ready line arrives through a pipe.
double daemon_start_us(const std::string& darkchatd, const std::string& dir) {
    auto t0 = now();
    // The ready line is on stderr: both stdout and stderr go into our pipe.
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) die("pipe");
    pid_t pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        int devnull = ::open("/dev/null", O_RDWR);
        ::dup2(devnull, 0);
        ::dup2(p[1], 1);
        ::dup2(p[1], 2);
        std::vector<std::string> a = {darkchatd, "-s", "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir};
        std::vector<char*> args;
        for (auto& s : a) args.push_back(s.data());
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        _exit(127);
    }
    ::close(p[1]);
    LineReader r(p[0]);
    double t = -1;
    auto deadline = after_ms(30000);
    for (int guard = 0; guard < 100000; ++guard) {
        auto l = r.next(deadline);
        if (!l) break;
        if (l->find("* ready:") != std::string::npos) {
            t = us_between(t0, now());
            break;
        }
    }
    Child c;
    c.pid = pid;
    c.out = p[0];
    stop(c);
    if (t < 0) die("darkchatd printed no ready line");
    return t;
}

// ---- list ---------------------------------------------------------------------------

int run_list(const std::map<std::string, std::string>& opt) {
    std::string darkchatd = opt.count("--darkchatd") ? opt.at("--darkchatd") : self_dir() + "/../darkchatd";
    std::size_t n_users = opt.count("--users") ? std::stoul(opt.at("--users")) : 10000;
    std::size_t samples = opt.count("--samples") ? std::stoul(opt.at("--samples")) : 200;
    // Length of the crowd's user names (6 by default: "u00042"; at most 32).
    int name_len = opt.count("--name-len") ? std::clamp(std::stoi(opt.at("--name-len")), 6, 32) : 6;
    if (auto r = crypto::init(); !r) die(r.error());

    TempDir tmp("super");
    std::string dir = tmp.path + "/server";
    Daemon server = start_daemon(darkchatd, dir);
    Addr to = Addr::v4(127, 0, 0, 1, static_cast<std::uint16_t>(server.port));

    // Strangers are budgeted per ip: the crowd declares from 127.0.0.2..13.
    std::vector<std::unique_ptr<Endpoint>> crowd_eps;
    for (std::uint8_t k = 2; k < 14; ++k) crowd_eps.push_back(open_endpoint(k, false));
    // The requesters and pingers each have their own port (answers come back there).
    std::vector<std::unique_ptr<Endpoint>> own_eps;
    std::deque<Ident> ids;  // stable addresses
    std::uint32_t index = 0;
    auto own = [&](const std::string& name) -> Ident& {
        own_eps.push_back(open_endpoint(1, true));
        ids.push_back(make_ident(name, index++, own_eps.back().get()));
        return ids.back();
    };
    Ident& req = own("req");
    std::vector<Ident*> lone, pingers;
    for (int i = 0; i < 4; ++i) lone.push_back(&own("lone" + std::to_string(i)));
    for (int i = 0; i < 4; ++i) pingers.push_back(&own("pinger" + std::to_string(i)));

    // The crowd: 256 contacts of req, and the rest shared out among them.
    std::size_t n_contacts = std::min<std::size_t>(wire::kMaxLinks, n_users > 1 ? n_users - 1 : 0);
    std::vector<Ident*> crowd;
    auto name = [&](char p, std::size_t i) {
        char b[64];
        std::snprintf(b, sizeof b, "%c%0*zu", p, name_len - 1, i);
        return std::string(b);
    };
    for (std::size_t i = 0; i < n_contacts; ++i) {
        ids.push_back(make_ident(name('c', i), index++, crowd_eps[i % crowd_eps.size()].get()));
        ids.back().links.push_back("req");
        req.links.push_back(ids.back().user);
        crowd.push_back(&ids.back());
    }
    std::size_t n_rest = n_users > n_contacts + 1 ? n_users - n_contacts - 1 : 0;
    for (std::size_t i = 0; i < n_rest; ++i) {
        Ident* parent = crowd[i % n_contacts];
        ids.push_back(make_ident(name('u', i), index++, crowd_eps[i % crowd_eps.size()].get()));
        ids.back().links.push_back(parent->user);
        ids.back().links.push_back("req");  // past 65,000 users a parent lists only some: req is listed by all
        if (parent->links.size() < wire::kMaxLinks) parent->links.push_back(ids.back().user);
        crowd.push_back(&ids.back());
    }

    std::vector<Endpoint*> all_eps = raw(crowd_eps);
    for (auto& e : own_eps) all_eps.push_back(e.get());

    // UDP ping/pong round trips, rotating over 4 known sessions (each has its own budget).
    std::uint64_t nonce_seq = 1000000;
    auto ping_round_trips = [&](std::size_t count, std::size_t* lost) {
        std::vector<double> rtt;
        for (std::size_t i = 0; i < count + 20; ++i) {
            Ident& p = *pingers[i % pingers.size()];
            std::uint64_t nonce = ++nonce_seq;
            auto t0 = now();
            udp_send(*p.ep, to, packet(p, wire::MsgType::ping, wire::encode(wire::Ping{nonce})));
            bool got = false;
            auto deadline = after_ms(2000);
            for (int guard = 0; guard < 100000 && !got && now() < deadline; ++guard)
                poll_endpoints({p.ep}, ms_until(deadline), [&](Incoming& in) {
                    auto pk = wire::parse_packet(in.data);
                    if (!pk || pk->header.type != wire::MsgType::pong) return;
                    auto pong = wire::decode_pong(pk->payload);
                    got = pong && pong->nonce == nonce;
                });
            auto t1 = now();
            if (!got) {
                ++*lost;
                continue;
            }
            if (i >= 20) rtt.push_back(us_between(t0, t1));
        }
        return summarize(rtt);
    };

    // requestUserList round trips, sequential, so the per-session budget
    // (200/s, bursts of 400) is never what is measured. An answer in pages is
    // followed to its last page (`next`), as a node does; one round trip is the
    // whole answer, its bytes and sessions those of every page.
    struct ListRun {
        Summary rtt;
        double bytes = 0, pages = 0;
        std::size_t entries = 0, tcp = 0, lost = 0, over_frame = 0, incomplete = 0;
    };
    auto list_round_trips = [&](std::vector<Ident*> who, std::size_t count) {
        ListRun run;
        std::vector<double> rtt;
        double bytes_sum = 0, pages_sum = 0;
        for (std::size_t i = 0; i < count + 5; ++i) {
            Ident& r = *who[i % who.size()];
            auto t0 = now();
            std::string after;
            std::size_t bytes = 0, pages = 0, entries = 0;
            bool via_tcp = false, too_big = false, lost = false, complete = false;
            for (; pages < wire::kMaxListPages && (pages == 0 || !after.empty()); ++pages) {
                std::uint64_t nonce = ++nonce_seq;
                wire::RequestUserList q;
                q.nonce = nonce;
                q.after = after;
                udp_send(*r.ep, to, packet(r, wire::MsgType::request_user_list, wire::encode(q)));
                std::optional<Bytes> answer;
                std::optional<wire::DeliverKnownList> list;
                auto deadline = after_ms(10000);
                for (int guard = 0; guard < 100000 && !answer && now() < deadline; ++guard)
                    poll_endpoints({r.ep}, ms_until(deadline), [&](Incoming& in) {
                        if (in.data.size() > wire::kMaxFrame) {
                            // Every darkchat node refuses this (parse_packet, FrameReader);
                            // we take it only to measure it.
                            answer = std::move(in.data);
                            via_tcp = in.tcp;
                            too_big = true;
                            return;
                        }
                        auto pk = wire::parse_packet(in.data);
                        if (!pk || pk->header.type != wire::MsgType::deliver_known_list) return;
                        auto l = wire::decode_deliver_known_list(pk->payload);
                        if (!l || l->nonce != nonce) return;
                        answer = std::move(in.data);
                        list = std::move(l).value();
                        via_tcp = via_tcp || in.tcp;
                    });
                if (!answer) {
                    lost = true;
                    break;
                }
                bytes += answer->size();
                if (!list) break;  // over the frame: not parsed
                entries += list->sessions.size();
                complete = list->complete;
                after = list->next;
            }
            auto t1 = now();
            if (lost) {
                ++run.lost;
                continue;
            }
            if (i < 5) continue;
            rtt.push_back(us_between(t0, t1));
            bytes_sum += static_cast<double>(bytes);
            pages_sum += static_cast<double>(pages);
            run.tcp += via_tcp;
            run.over_frame += too_big;
            run.incomplete += !complete;
            run.entries = entries;
        }
        run.rtt = summarize(rtt);
        run.bytes = rtt.empty() ? 0 : bytes_sum / static_cast<double>(rtt.size());
        run.pages = rtt.empty() ? 0 : pages_sum / static_cast<double>(rtt.size());
        return run;
    };

    // First the measuring identities alone: the same figures with no one else known.
    std::vector<Ident*> measuring = {&req};
    for (auto* p : lone) measuring.push_back(p);
    for (auto* p : pingers) measuring.push_back(p);
    if (make_known(measuring, to, 450, all_eps) != measuring.size()) die("the super-client did not learn the requesters");
    std::size_t ping0_lost = 0;
    auto ping0 = ping_round_trips(samples, &ping0_lost);
    auto small0 = list_round_trips(lone, samples);

    // Then the crowd, paced under the stranger budget.
    auto t_decl = now();
    std::size_t known = make_known(crowd, to, 450, all_eps);
    double decl_s = s_between(t_decl, now());
    std::printf("# super_bench list: darkchatd -s learnt %zu of %zu users (+ req + 8 measuring identities) in %.1f s, "
                "user names of %d bytes\n",
                known, crowd.size(), decl_s, name_len);
    std::fflush(stdout);
    if (known != crowd.size()) die("the super-client did not learn every user");
    // Let the budgets of the measuring sessions refill.
    poll_endpoints(all_eps, 2000, [](Incoming&) {});

    std::size_t ping_lost = 0;
    auto ping = ping_round_trips(samples, &ping_lost);
    // --soak S [--soak-kind list]: S more seconds of pings (about 500/s, under
    // the budgets) or of requests for the whole neighbourhood, to attach a
    // profiler to the node (perf record -p PID) while it does only that.
    if (opt.count("--soak")) {
        double soak = std::stod(opt.at("--soak"));
        bool soak_lists = opt.count("--soak-kind") && opt.at("--soak-kind") == "list";
        std::printf("# soak: darkchatd (pid %d) for %.0f s\n", static_cast<int>(server.proc.pid), soak);
        std::fflush(stdout);
        auto soak_end = now() + std::chrono::milliseconds(static_cast<long long>(soak * 1000));
        std::size_t soak_lost = 0, rounds = 0;
        for (int guard = 0; guard < 1000000 && now() < soak_end; ++guard) {
            auto t0 = now();
            if (soak_lists) list_round_trips({&req}, 0);  // 5 requests for the whole neighbourhood
            else ping_round_trips(0, &soak_lost);       // 20 pings
            ++rounds;
            auto due = t0 + std::chrono::milliseconds(40);
            if (now() < due) ::usleep(static_cast<useconds_t>(ms_until(due)) * 1000);
        }
        std::printf("# soak: %zu %s, %zu lost\n", rounds * (soak_lists ? 5 : 20), soak_lists ? "lists" : "pings",
                    soak_lost);
    }
    auto big = list_round_trips({&req}, samples);
    auto small = list_round_trips(lone, samples);

    stop(server.proc);

    // Restart with what it learnt, against a fresh start.
    std::vector<double> t_fresh, t_full;
    for (int i = 0; i < 6; ++i) {
        double f = daemon_start_us(darkchatd, tmp.path + "/fresh" + std::to_string(i));
        double k = daemon_start_us(darkchatd, dir);
        if (i == 0) continue;  // warm-up
        t_fresh.push_back(f);
        t_full.push_back(k);
    }
    auto fresh = summarize(t_fresh), full = summarize(t_full);

    auto ping_line = [&](const char* what, const Summary& s, std::size_t lost) {
        std::printf("# ping/pong %s: %zu round trips, median %.1f us, p99 %.1f, mean %.1f (%zu lost)\n", what, s.n,
                    s.median, s.p99, s.mean, lost);
    };
    ping_line("with 9 identities known", ping0, ping0_lost);
    ping_line(("with " + std::to_string(known + 9) + " identities known").c_str(), ping, ping_lost);
    auto list_line = [&](const std::string& what, const ListRun& r) {
        std::printf("# %s: %zu round trips, median %.1f us, p99 %.1f, mean %.1f; %.0f bytes, %.1f pages and %zu "
                    "sessions per answer, %zu over TCP, %zu lost, %zu larger than the 1 MiB frame limit, %zu not "
                    "complete\n",
                    what.c_str(), r.rtt.n, r.rtt.median, r.rtt.p99, r.rtt.mean, r.bytes, r.pages, r.entries, r.tcp,
                    r.lost, r.over_frame, r.incomplete);
    };
    list_line("requestUserList, requester with no links, 9 identities known", small0);
    list_line("requestUserList, two-hop neighbourhood of the whole network", big);
    list_line("requestUserList, requester with no links", small);
    std::printf("# darkchatd -s start-up: fresh median %.1f ms; with %zu users median %.1f ms (p99 %.1f)\n",
                fresh.median / 1000, known + 9, full.median / 1000, full.p99 / 1000);

    auto per_s = [](const Summary& s) { return s.mean > 0 ? 1e6 / s.mean : 0.0; };
    auto ratio = [](double x, double y) { return y > 0 ? fmt(x / y, 1) + "x" : "n/a"; };
    std::string users = std::to_string(known + 9) + " users" +
                        (name_len != 6 ? " with " + std::to_string(name_len) + "-byte names" : "");
    std::string big_what = big.entries ? std::to_string(big.entries) + "-session answers"
                                       : std::string("answers over the 1 MiB frame limit, not parsed");
    row("super-client requestUserList answers/s, " + users + ", " + big_what + " (sequential)",
        fmt(per_s(big.rtt), 0) + "/s", "UDP ping/pong round trips/s, same node", fmt(per_s(ping), 0) + "/s",
        ratio(per_s(ping), per_s(big.rtt)) + " fewer");
    row("  that answer: round trip median / p99", fmt(big.rtt.median / 1000, 2) + " / " + fmt(big.rtt.p99 / 1000, 2) + " ms",
        "ping/pong median / p99", fmt(ping.median / 1000, 3) + " / " + fmt(ping.p99 / 1000, 3) + " ms",
        ratio(big.rtt.median, ping.median));
    row("  bytes per answer (" + std::string(big.tcp ? "TCP" : "UDP") + (big.over_frame ? ", REFUSED by nodes" : "") +
            ")",
        fmt(big.bytes, 0) + " B", "frame limit (kMaxFrame)", std::to_string(wire::kMaxFrame) + " B",
        fmt(big.bytes / wire::kMaxFrame, 2) + "x");
    row("super-client requestUserList answers/s, requester with no links, " + users, fmt(per_s(small.rtt), 0) + "/s",
        "UDP ping/pong round trips/s, same node", fmt(per_s(ping), 0) + "/s",
        ratio(per_s(ping), per_s(small.rtt)) + " fewer");
    row("  bytes per answer (" + std::string(small.tcp ? "TCP" : "UDP") + ")", fmt(small.bytes, 0) + " B", "", "", "");
    row("ping/pong round trip median, super-client knowing " + users, fmt(ping.median, 1) + " us",
        "same, knowing 9 identities", fmt(ping0.median, 1) + " us", ratio(ping.median, ping0.median));
    row("requestUserList (no links) round trip median, " + users, fmt(small.rtt.median, 1) + " us",
        "same, knowing 9 identities", fmt(small0.rtt.median, 1) + " us", ratio(small.rtt.median, small0.rtt.median));
    row("darkchatd -s start-up to ready, " + users + " in its store, median", fmt(full.median / 1000, 1) + " ms",
        "darkchatd -s fresh start-up, median", fmt(fresh.median / 1000, 1) + " ms", ratio(full.median, fresh.median));
    return 0;
}

// ---- idle ---------------------------------------------------------------------------

struct IdleFigures {
    double cpu_pct = 0;        // from schedstat (ns)
    double cpu_ticks_pct = 0;  // from /proc/PID/stat utime+stime
    double rss_kb = 0, rss_max_kb = 0;
    // Proportional set size: shared library pages divided among the processes
    // that map them, so a library every program already has costs little here.
    double pss_kb = 0;
    double wakeups_per_s = 0;  // voluntary + involuntary context switches, all threads
    double epoll_per_s = -1;   // strace -c, when it works
    double packets_in_per_s = 0;  // what the driver received from the node
    double cpu_us_per_wakeup = 0;
    int threads = 0;
};

// Pss of the whole process (smaps_rollup), -1 when the kernel does not give it.
double read_pss_kb(pid_t pid) {
    double v = status_field("/proc/" + std::to_string(pid) + "/smaps_rollup", "Pss");
    return v < 0 ? -1 : v;
}

// Samples the process over `seconds` while serve(ms) keeps the driver's side
// going; then counts epoll_wait calls with strace for a few seconds.
IdleFigures measure_idle(pid_t pid, double seconds, const std::function<std::size_t(int)>& serve,
                         const std::string& strace_out) {
    IdleFigures f;
    auto a = sample_proc(pid);
    if (!a) die("cannot read /proc of the node");
    auto t0 = now();
    double rss_sum = 0, pss_sum = 0;
    int rss_n = 0, pss_n = 0;
    std::size_t packets = 0;
    auto end = t0 + std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    auto next_sample = t0;
    for (int guard = 0; guard < 10000000 && now() < end; ++guard) {
        if (now() >= next_sample) {
            if (auto s = sample_proc(pid)) {
                rss_sum += static_cast<double>(s->rss_kb);
                ++rss_n;
                f.rss_max_kb = std::max(f.rss_max_kb, static_cast<double>(s->rss_kb));
            }
            if (double p = read_pss_kb(pid); p >= 0) {
                pss_sum += p;
                ++pss_n;
            }
            next_sample += std::chrono::seconds(1);
        }
        packets += serve(std::max(1, std::min(ms_until(next_sample), ms_until(end))));
    }
    auto b = sample_proc(pid);
    double el = s_between(t0, now());
    if (!b) die("the node went away while idle");
    f.cpu_pct = 100.0 * (b->cpu_ns - a->cpu_ns) / (el * 1e9);
    f.cpu_ticks_pct = 100.0 * static_cast<double>(b->cpu_ticks - a->cpu_ticks) /
                      (el * static_cast<double>(::sysconf(_SC_CLK_TCK)));
    f.rss_kb = rss_n ? rss_sum / rss_n : static_cast<double>(b->rss_kb);
    f.pss_kb = pss_n ? pss_sum / pss_n : -1;
    f.wakeups_per_s = static_cast<double>((b->voluntary + b->involuntary) - (a->voluntary + a->involuntary)) / el;
    f.packets_in_per_s = static_cast<double>(packets) / el;
    long long switches = (b->voluntary + b->involuntary) - (a->voluntary + a->involuntary);
    f.cpu_us_per_wakeup = switches > 0 ? (b->cpu_ns - a->cpu_ns) / 1000.0 / static_cast<double>(switches) : 0;
    f.threads = b->threads;

    // epoll_wait calls, counted by strace for a few seconds (when it is there and allowed).
    if (::access("/usr/bin/strace", X_OK) == 0) {
        SpawnOptions o;
        o.pipe_in = o.pipe_out = false;
        double window = 10;
        Child st = spawn({"/usr/bin/strace", "-f", "-c", "-e", "trace=epoll_wait,epoll_pwait,epoll_pwait2", "-o",
                          strace_out, "-p", std::to_string(pid)},
                         o);
        // Attaching takes a moment; give it one, then count over the window.
        auto attach_end = after_ms(500);
        for (int guard = 0; guard < 100000 && now() < attach_end; ++guard) serve(std::max(1, ms_until(attach_end)));
        auto s_end = after_ms(static_cast<long>(window * 1000));
        for (int guard = 0; guard < 10000000 && now() < s_end; ++guard) serve(std::max(1, ms_until(s_end)));
        ::kill(st.pid, SIGINT);
        if (!wait_exit(st.pid, after_ms(5000))) {
            ::kill(st.pid, SIGKILL);
            wait_exit(st.pid, after_ms(2000));
        }
        std::istringstream in(read_file(strace_out));
        std::string line;
        double calls = 0;
        bool any = false;
        while (std::getline(in, line)) {
            if (line.find("epoll_") == std::string::npos || line.find("total") != std::string::npos) continue;
            // % time, seconds, usecs/call, calls, [errors,] syscall
            std::istringstream ls(line);
            std::vector<std::string> w;
            std::string x;
            while (ls >> x) w.push_back(x);
            if (w.size() >= 5) {
                calls += std::atof(w[3].c_str());
                any = true;
            }
        }
        if (any) f.epoll_per_s = calls / window;
        else f.epoll_per_s = 0;  // no epoll call at all in the window (or strace could not attach)
    }
    return f;
}

void print_idle(const std::string& what, const IdleFigures& f) {
    std::printf("# %s: CPU %.4f%% (schedstat; %.3f%% from utime+stime ticks), RSS %.0f kB (max %.0f), PSS %.0f kB, "
                "%.2f wakeups/s (%.0f us of CPU each), %s epoll_wait/s, %.2f packets/s to the driver, %d threads\n",
                what.c_str(), f.cpu_pct, f.cpu_ticks_pct, f.rss_kb, f.rss_max_kb, f.pss_kb, f.wakeups_per_s,
                f.cpu_us_per_wakeup,
                f.epoll_per_s < 0 ? "n/a" : fmt(f.epoll_per_s, 2).c_str(), f.packets_in_per_s, f.threads);
    std::fflush(stdout);
}

IdleFigures idle_super(const std::string& darkchatd, std::size_t n_users, double seconds, const std::string& tmp) {
    std::string dir = tmp + "/super" + std::to_string(n_users);
    Daemon server = start_daemon(darkchatd, dir);
    Addr to = Addr::v4(127, 0, 0, 1, static_cast<std::uint16_t>(server.port));
    std::vector<std::unique_ptr<Endpoint>> eps;
    for (std::uint8_t k = 2; k < 14; ++k) eps.push_back(open_endpoint(k, false));
    std::deque<Ident> ids;
    std::vector<Ident*> crowd;
    for (std::size_t i = 0; i < n_users; ++i) {
        char b[32];
        std::snprintf(b, sizeof b, "u%05zu", i);
        ids.push_back(make_ident(b, static_cast<std::uint32_t>(i), eps[i % eps.size()].get()));
        crowd.push_back(&ids.back());
    }
    auto all = raw(eps);
    std::size_t known = make_known(crowd, to, 450, all);
    if (known != n_users) die("darkchatd -s did not learn every user");
    // Settle, then measure. Nobody talks to it any more: idle.
    poll_endpoints(all, 3000, [](Incoming&) {});
    auto f = measure_idle(
        server.proc.pid, seconds, [&](int ms) { return poll_endpoints(all, ms, [](Incoming&) {}); },
        tmp + "/strace-super" + std::to_string(n_users));
    stop(server.proc);
    return f;
}

// A darkchat node with `contacts` contacts played by this driver, which list
// `per_contact` other users each; the node learns those through its contacts.
IdleFigures idle_node(const std::string& darkchat, std::size_t contacts, std::size_t per_contact, double seconds,
                      const std::string& tmp, std::size_t* users_known) {
    std::string tag = std::to_string(contacts) + "x" + std::to_string(per_contact);
    std::string dir = tmp + "/node" + tag;
    SpawnOptions o;
    o.stderr_file = dir + ".stderr";
    Child node = spawn({darkchat, "-u", "node", "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir}, o);
    int port = -1;
    auto deadline = after_ms(10000);
    for (int guard = 0; guard < 1000 && port < 0; ++guard) {
        auto l = node.out_lines.next(deadline);
        if (!l) break;
        if (l->rfind("* ready:", 0) == 0) port = ready_port(*l);
    }
    if (port < 0) die("darkchat printed no ready line");
    Addr to = Addr::v4(127, 0, 0, 1, static_cast<std::uint16_t>(port));

    std::vector<std::unique_ptr<Endpoint>> own_eps, crowd_eps;
    for (std::uint8_t k = 2; k < 6; ++k) crowd_eps.push_back(open_endpoint(k, false));
    std::deque<Ident> ids;
    std::vector<Ident*> cs, crowd;
    std::uint32_t index = 0;
    for (std::size_t c = 0; c < contacts; ++c) {
        own_eps.push_back(open_endpoint(1, false));
        char b[32];
        std::snprintf(b, sizeof b, "c%03zu", c);
        ids.push_back(make_ident(b, index++, own_eps.back().get()));
        Ident& ci = ids.back();
        ci.links.push_back("node");
        cs.push_back(&ci);
    }
    for (std::size_t c = 0; c < contacts; ++c)
        for (std::size_t j = 0; j < per_contact; ++j) {
            char b[64];
            std::snprintf(b, sizeof b, "t%03zu_%04zu", c % 1000, j % 10000);
            ids.push_back(make_ident(b, index++, crowd_eps[j % crowd_eps.size()].get()));
            ids.back().links.push_back(cs[c]->user);
            cs[c]->links.push_back(ids.back().user);
            crowd.push_back(&ids.back());
        }
    std::vector<Endpoint*> eps = raw(own_eps);
    for (auto& e : crowd_eps) eps.push_back(e.get());
    std::map<Endpoint*, Ident*> by_ep;
    for (auto* c : cs) by_ep[c->ep] = c;

    // The contacts answer what a live node answers: pings, requests for a
    // declaration, requests for lists (with nothing more to tell).
    std::size_t lines_seen = 0;
    auto on_packet = [&](Incoming& in) {
        auto it = by_ep.find(in.ep);
        if (it == by_ep.end()) return;
        Ident& me = *it->second;
        auto p = wire::parse_packet(in.data);
        if (!p) return;
        switch (p->header.type) {
            case wire::MsgType::ping:
                if (auto q = wire::decode_ping(p->payload))
                    udp_send(*me.ep, to, packet(me, wire::MsgType::pong, wire::encode(wire::Pong{q->nonce})));
                break;
            case wire::MsgType::request_user_list:
                if (auto q = wire::decode_request_user_list(p->payload)) {
                    wire::DeliverKnownList l;
                    l.nonce = q->nonce;
                    udp_send(*me.ep, to, packet(me, wire::MsgType::deliver_known_list, wire::encode(l)));
                }
                break;
            case wire::MsgType::declare_online:
                if (auto q = wire::decode_declare(p->payload); q && q->reply)
                    udp_send(*me.ep, to, declare_packet(me, declaration(me), 0, q->nonce));
                break;
            case wire::MsgType::request_ping:
                if (auto q = wire::decode_request_ping(p->payload); q && (q->target_user.empty() || q->target_user == me.user))
                    udp_send(*me.ep, to, declare_packet(me, declaration(me), 0, q->nonce));
                break;
            default:
                break;
        }
    };
    std::optional<std::size_t> users_count;  // from the "* N users" line that ends \users
    auto drain_out = [&] {
        node.out_lines.fill();
        while (auto l = node.out_lines.take()) {
            ++lines_seen;
            if (l->rfind("* ", 0) == 0 && l->size() > 2 && std::isdigit(static_cast<unsigned char>((*l)[2])) &&
                l->find(" user") != std::string::npos)
                users_count = std::strtoul(l->c_str() + 2, nullptr, 10);
        }
    };
    auto serve = [&](int ms) {
        return poll_endpoints(eps, ms, on_packet, node.out_lines.eof() ? -1 : node.out, drain_out);
    };

    // The contacts declare themselves (links: the node and their own users) and
    // wait to be linked; then each passes its users' declarations on.
    for (auto* c : cs) udp_send(*c->ep, to, declare_packet(*c, declaration(*c), 1));
    std::size_t linked = 0;
    if (contacts > 0)
        pump_lines({&node.out_lines}, after_ms(10000), [&](std::size_t, const std::string& l) {
            if (l.find(" linked you") != std::string::npos) ++linked;
            return linked >= contacts;
        });
    if (linked < contacts) die("the node did not take every contact");
    auto relay_start = now();
    for (std::size_t i = 0; i < crowd.size(); ++i) {
        Ident* via = cs[i / per_contact];
        auto due = relay_start + std::chrono::microseconds(static_cast<long long>(1e6 * static_cast<double>(i) / 1000));
        for (int guard = 0; guard < 100000 && now() < due; ++guard) serve(std::max(1, ms_until(due)));
        udp_send(*via->ep, to, declare_packet(*via, declaration(*crowd[i]), 0));
    }
    // Let it settle, then ask how many users it knows.
    for (auto end = after_ms(2000); now() < end;) serve(std::max(1, ms_until(end)));
    if (!write_all(node.in, "\\users\n")) die("cannot write to darkchat");
    auto users_deadline = after_ms(10000);
    for (int guard = 0; guard < 1000000 && !users_count && now() < users_deadline; ++guard)
        serve(std::max(1, ms_until(users_deadline)));
    if (!users_count) die("the node did not answer \\users");
    std::size_t count = *users_count;
    *users_known = count;
    for (auto end = after_ms(3000); now() < end;) serve(std::max(1, ms_until(end)));
    auto f = measure_idle(node.pid, seconds, serve, tmp + "/strace-node" + tag);
    stop(node);
    return f;
}

int run_idle(const std::map<std::string, std::string>& opt) {
    std::string darkchat = opt.count("--darkchat") ? opt.at("--darkchat") : self_dir() + "/../darkchat";
    std::string darkchatd = opt.count("--darkchatd") ? opt.at("--darkchatd") : self_dir() + "/../darkchatd";
    std::size_t n_users = opt.count("--users") ? std::stoul(opt.at("--users")) : 1000;
    double seconds = opt.count("--seconds") ? std::stod(opt.at("--seconds")) : 30;
    if (auto r = crypto::init(); !r) die(r.error());
    TempDir tmp("idle");

    auto s0 = idle_super(darkchatd, 0, seconds, tmp.path);
    print_idle("darkchatd -s knowing no one", s0);
    auto s1 = idle_super(darkchatd, n_users, seconds, tmp.path);
    print_idle("darkchatd -s knowing " + std::to_string(n_users) + " users", s1);

    std::size_t k0 = 0, k4 = 0, kn = 0;
    auto n0 = idle_node(darkchat, 0, 0, seconds, tmp.path, &k0);
    print_idle("darkchat knowing no one (" + std::to_string(k0) + " users)", n0);
    auto n4 = idle_node(darkchat, 4, 0, seconds, tmp.path, &k4);
    print_idle("darkchat with 4 contacts (" + std::to_string(k4) + " users)", n4);
    auto nn = idle_node(darkchat, 4, n_users / 4, seconds, tmp.path, &kn);
    print_idle("darkchat with 4 contacts listing " + std::to_string(n_users) + " users (" + std::to_string(kn) +
                   " users)",
               nn);

    auto ratio = [](double x, double y) { return y > 0 ? fmt(x / y, 2) + "x" : "n/a"; };
    auto rows = [&](const std::string& what, const IdleFigures& f, const std::string& base_what, const IdleFigures& b) {
        row("idle CPU, " + what, fmt(f.cpu_pct, 4) + " %", base_what, fmt(b.cpu_pct, 4) + " %",
            ratio(f.cpu_pct, b.cpu_pct));
        row("idle RSS, " + what, fmt(f.rss_kb / 1024, 1) + " MiB", base_what, fmt(b.rss_kb / 1024, 1) + " MiB",
            ratio(f.rss_kb, b.rss_kb));
        if (f.pss_kb >= 0 && b.pss_kb >= 0)
            row("idle PSS, " + what, fmt(f.pss_kb / 1024, 1) + " MiB", base_what, fmt(b.pss_kb / 1024, 1) + " MiB",
                ratio(f.pss_kb, b.pss_kb));
        row("idle wakeups/s (context switches), " + what, fmt(f.wakeups_per_s, 2), base_what,
            fmt(b.wakeups_per_s, 2), ratio(f.wakeups_per_s, b.wakeups_per_s));
        row("idle CPU per wakeup, " + what, fmt(f.cpu_us_per_wakeup, 0) + " us", base_what,
            fmt(b.cpu_us_per_wakeup, 0) + " us", ratio(f.cpu_us_per_wakeup, b.cpu_us_per_wakeup));
        if (f.epoll_per_s >= 0 && b.epoll_per_s >= 0)
            row("idle epoll_wait calls/s (strace, 10 s), " + what, fmt(f.epoll_per_s, 2), base_what,
                fmt(b.epoll_per_s, 2), ratio(f.epoll_per_s, b.epoll_per_s));
    };
    std::string n = std::to_string(n_users);
    rows("darkchatd -s knowing " + n + " users", s1, "darkchatd -s knowing no one", s0);
    rows("darkchat knowing " + std::to_string(kn) + " users (4 contacts + " + n + " two-hop)", nn,
         "darkchat knowing no one", n0);
    rows("darkchat with 4 contacts only (" + std::to_string(k4) + " users)", n4, "darkchat knowing no one", n0);
    rows("darkchat knowing " + std::to_string(kn) + " users (4 contacts + " + n + " two-hop)", nn,
         "darkchat with 4 contacts only", n4);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) die("usage: super_bench list|idle [--option value]...");
    std::string mode = argv[1];
    std::map<std::string, std::string> opt;
    for (int i = 2; i + 1 < argc; i += 2) opt[argv[i]] = argv[i + 1];
    ::signal(SIGPIPE, SIG_IGN);
    if (mode == "list") return run_list(opt);
    if (mode == "idle") return run_idle(opt);
    die("unknown mode " + mode);
}
