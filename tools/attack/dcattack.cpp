// dcattack: speaks the darkchat wire format as an attacker would, to test that
// a node stays correct and available under hostile input (tools/attack/README.md).
//
//   dcattack MODE --target IP:PORT [options]
//
// Modes: forged, record, escapes, replay, truncated, oversized, nested, version, random,
// flood. Well-formed but hostile packets are made with darkchat's own encoders
// (dc_wire, dc_crypto); malformed ones by hand. Every mode is bounded in count
// and time, and only loopback targets are accepted (--netns: any target, but
// only from inside a network namespace other than the one of pid 1).
//
// One line per finding on standard output ("dcattack: MODE: ..."), errors as one
// line on standard error with exit status 1.

#include "darkchat/crypto.hpp"
#include "darkchat/wire.hpp"
#include "crypto/wire_signing.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace dc;
using wire::MsgType;

namespace {

// ---- limits -----------------------------------------------------------------------------

constexpr std::uint64_t kMaxCount = 1'000'000;  // packets per mode (flood: in all)
constexpr double kMaxSeconds = 60;              // flood duration, listening
constexpr double kMaxRate = 1'000'000;          // flood packets per second
constexpr std::size_t kMaxUdp = 65507;          // the largest IPv4 UDP payload

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "dcattack: %s\n", why.c_str());
    std::exit(1);
}

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

TimeMs wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::mt19937_64 rng{std::random_device{}()};

Bytes random_bytes(std::size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    return b;
}

template <std::size_t N>
std::array<std::uint8_t, N> random_array() {
    std::array<std::uint8_t, N> a{};
    crypto::random_bytes(a);
    return a;
}

// ---- options ------------------------------------------------------------------------------

struct Options {
    std::string mode;
    Addr target;
    bool netns = false;
    std::uint64_t count = 100;
    double rate = 1000, seconds = 5, listen = 2, delay = 0;
    std::size_t identities = 256, ports = 32;
    std::vector<std::string> as;  // victim names
    std::string to;               // chat recipient (default: the target's user)
    std::string text = "hello from dcattack";
    std::string identity_file, save_file, load_file;
    std::string only;  // replay: only packets of this type (wire::type_name, e.g. chatAck)
    std::optional<Addr> claim_peer;  // flood: also packets under this node's name, key and port
};

void usage() {
    std::puts(
        "usage: dcattack MODE --target IP:PORT [options]   (tools/attack/README.md)\n"
        "modes:\n"
        "  forged     fresh keys claim --as NAME: declareOnline/Offline and chat for NAME\n"
        "  record     as the user of --identity FILE (from darkchat --export-identity), a new\n"
        "             session: declare, chat --text to the target, listen --listen S, ack what\n"
        "             comes; every packet sent and received is saved to --save FILE\n"
        "  escapes    as a made-up user (or the first --as NAME), signed chats holding control\n"
        "             characters, escape sequences, bidi overrides and invalid UTF-8\n"
        "  replay     resend every packet of --load FILE, --count times, from fresh source\n"
        "             ports and over TCP\n"
        "  truncated  valid packets and TCP frames cut short\n"
        "  oversized  datagrams up to 64 KiB, TCP frames at and above the 1 MiB limit\n"
        "  nested     deeply nested msgpack, bare and inside signed packets\n"
        "  version    valid packets with other protocol versions and shapes\n"
        "  random     random datagrams\n"
        "  flood      --rate packets/s for --seconds, mixing all of the above, from\n"
        "             --identities made-up identities and --ports source ports\n"
        "options: --count N (default 100), --rate R (1000), --seconds T (5), --listen S (2),\n"
        "  --delay S (0, before replay), --only TYPE (replay: only packets of that type, e.g.\n"
        "  chatAck), --identities K (256), --ports P (32), --as NAME\n"
        "  (repeatable), --to NAME, --text TEXT, --identity FILE, --save FILE, --load FILE,\n"
        "  --claim-peer IP:PORT (flood: also packets with that node's name, session, key and\n"
        "  port in the header and a bad signature), --netns (allow a target off loopback, only\n"
        "  inside a network namespace of its own)");
}

double number(const std::string& flag, const std::string& v, double lo, double hi) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !(d >= lo && d <= hi))
    {
        char range[64];
        std::snprintf(range, sizeof range, "from %g to %g", lo, hi);
        die("bad value for " + flag + ": " + v + " (" + range + ")");
    }
    return d;
}

// True when this process runs in another network namespace than pid 1.
bool in_own_netns() {
    struct stat a{}, b{};
    if (::stat("/proc/self/ns/net", &a) != 0 || ::stat("/proc/1/ns/net", &b) != 0) return false;
    return a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

Options parse(int argc, char** argv) {
    Options o;
    if (argc < 2) {
        usage();
        std::exit(1);
    }
    o.mode = argv[1];
    if (o.mode == "-h" || o.mode == "--help") {
        usage();
        std::exit(0);
    }
    static const std::vector<std::string> modes = {"forged", "record",  "escapes", "replay", "truncated",
                                                   "oversized", "nested", "version", "random",  "flood"};
    if (std::find(modes.begin(), modes.end(), o.mode) == modes.end()) die("unknown mode " + o.mode + " (--help)");
    std::string target;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) die(a + " needs a value");
            return argv[++i];
        };
        if (a == "--target") target = value();
        else if (a == "--netns") o.netns = true;
        else if (a == "--count") o.count = static_cast<std::uint64_t>(number(a, value(), 1, kMaxCount));
        else if (a == "--rate") o.rate = number(a, value(), 1, kMaxRate);
        else if (a == "--seconds") o.seconds = number(a, value(), 0.001, kMaxSeconds);
        else if (a == "--listen") o.listen = number(a, value(), 0, kMaxSeconds);
        else if (a == "--delay") o.delay = number(a, value(), 0, kMaxSeconds);
        else if (a == "--identities") o.identities = static_cast<std::size_t>(number(a, value(), 1, 100000));
        else if (a == "--ports") o.ports = static_cast<std::size_t>(number(a, value(), 1, 1000));
        else if (a == "--as") o.as.push_back(value());
        else if (a == "--to") o.to = value();
        else if (a == "--text") o.text = value();
        else if (a == "--identity") o.identity_file = value();
        else if (a == "--save") o.save_file = value();
        else if (a == "--load") o.load_file = value();
        else if (a == "--only") o.only = value();
        else if (a == "--claim-peer") {
            std::string v = value();
            o.claim_peer = Addr::parse(v);
            if (!o.claim_peer || o.claim_peer->family != 4 || o.claim_peer->port == 0)
                die("not an IPv4 address with a port: " + v);
        }
        else die("unknown option " + a + " (--help)");
    }
    if (target.empty()) die("--target IP:PORT is required");
    auto t = Addr::parse(target);
    if (!t || t->family != 4 || t->port == 0) die("not an IPv4 address with a port: " + target);
    o.target = *t;
    for (const Addr& a : {o.target, o.claim_peer.value_or(o.target)}) {
        if (a.ip[0] == 127) continue;
        if (!o.netns) die("refusing target " + a.to_string() + ": only 127.0.0.0/8 (see --netns)");
        if (!in_own_netns()) die("--netns: this process is not inside a network namespace of its own");
    }
    for (auto& n : o.as)
        if (!valid_user_name(n)) die("not a user name: " + n);
    if (!o.to.empty() && !valid_user_name(o.to)) die("not a user name: " + o.to);
    if (o.mode == "record" && (o.identity_file.empty() || o.save_file.empty()))
        die("record needs --identity FILE and --save FILE");
    if (o.mode == "replay" && o.load_file.empty()) die("replay needs --load FILE");
    if (o.mode == "forged" && o.as.empty()) die("forged needs --as NAME");
    return o;
}

// ---- identities and packets -------------------------------------------------------------

struct Ident {
    std::string user;
    SessionId session{};
    PublicKey pk{};
    SecretKey sk{};
};

Ident fresh(const std::string& user) {
    auto kp = crypto::generate_identity();
    return Ident{user, random_array<8>(), kp.pk, kp.sk};
}

std::string made_up_name(const char* prefix) {
    static const char digits[] = "0123456789abcdef";
    std::string s = prefix;
    for (int i = 0; i < 8; ++i) s += digits[rng() % 16];
    return s;
}

crypto::KxKeyPair fresh_kx() {
    crypto::KxKeyPair k;
    k.sk = random_array<32>();
    k.pk = crypto::kx_public(k.sk);
    return k;
}

// Where we are, as a declaration says it: an unspecified ip (the receiver uses
// the one it sees) and our port.
Addr here(std::uint16_t port) {
    Addr a;
    a.family = 4;
    a.port = port;
    return a;
}

wire::Header header(const Ident& who, MsgType t, std::uint16_t port) {
    wire::Header h;
    h.type = t;
    h.from_user = who.user;
    h.from_session = who.session;
    h.from_port = port;
    h.from_key = who.pk;
    return h;
}

Bytes packet(const Ident& who, MsgType t, ByteView payload, std::uint16_t port) {
    return wire::encode_packet(header(who, t, port), payload, who.sk);
}

wire::Declaration declaration(const Ident& who, bool online, std::uint16_t port, std::vector<std::string> links,
                              const KxPublicKey& kx) {
    wire::Declaration d;
    d.user = who.user;
    d.key = who.pk;
    d.session = who.session;
    d.seq = static_cast<std::uint64_t>(wall_ms()) * 1000 + rng() % 1000;
    d.online = online;
    d.addr = here(port);
    d.issued = wall_ms();
    d.links = std::move(links);
    d.kx = kx;
    return d;
}

// A declareOnline/Offline payload carrying `d` signed by `signer`.
Bytes declare_payload(const wire::Declaration& d, const Ident& signer, std::uint8_t hops, bool reply) {
    wire::Declare p;
    p.decl = wire::sign_blob(wire::encode(d), signer.sk);
    p.hops = hops;
    p.reply = reply;
    return wire::encode(p);
}

wire::ChatMessage chat_message(const std::string& from, const std::string& to, std::string text) {
    wire::ChatMessage m;
    m.id = random_array<16>();
    m.from = from;
    m.to = to;
    m.sent = wall_ms();
    m.text = std::move(text);
    return m;
}

// A chat payload: m signed by `author` and sealed to kx.
Bytes chat_payload(const wire::ChatMessage& m, const Ident& author, const KxPublicKey& kx) {
    wire::Chat c;
    c.sealed = crypto::seal(wire::encode(wire::sign_blob(wire::encode(m), author.sk)), kx);
    c.kx = kx;
    return wire::encode(c);
}

Bytes ack_payload(const MessageId& id) { return wire::encode(wire::ChatAck{id}); }

// ---- sockets ------------------------------------------------------------------------------

sockaddr_in to_sockaddr(const Addr& a) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_port = htons(a.port);
    std::memcpy(&s.sin_addr, a.ip.data(), 4);
    return s;
}

int udp_socket(bool any_ip, bool nonblocking) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (s < 0) die(std::string("socket: ") + std::strerror(errno));
    sockaddr_in me{};
    me.sin_family = AF_INET;
    me.sin_addr.s_addr = htonl(any_ip ? INADDR_ANY : INADDR_LOOPBACK);
    if (::bind(s, reinterpret_cast<sockaddr*>(&me), sizeof me) != 0) die(std::string("bind: ") + std::strerror(errno));
    int big = 1 << 20;
    ::setsockopt(s, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    return s;
}

std::uint16_t local_port(int s) {
    sockaddr_in me{};
    socklen_t len = sizeof me;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&me), &len);
    return ntohs(me.sin_port);
}

bool send_datagram(int s, const Addr& to, ByteView d) {
    sockaddr_in sa = to_sockaddr(to);
    return ::sendto(s, d.data(), d.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa), sizeof sa) >= 0;
}

// Sends bytes on a new TCP connection. With wait > 0, then waits that long for
// the node to close it; returns true when it did.
bool tcp_send(const Addr& to, ByteView data, double wait) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) die(std::string("socket: ") + std::strerror(errno));
    sockaddr_in sa = to_sockaddr(to);
    if (::connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(s);
        return true;  // refused: nobody to hurt
    }
    timeval tv{5, 0};
    ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    bool closed = false;
    for (std::size_t off = 0; off < data.size();) {
        ssize_t n = ::send(s, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            closed = errno == EPIPE || errno == ECONNRESET;
            break;
        }
        off += static_cast<std::size_t>(n);
    }
    auto start = Clock::now();
    while (!closed && wait > 0 && since(start) < wait) {
        pollfd p{s, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        char buf[4096];
        ssize_t n = ::recv(s, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) closed = true;
    }
    ::close(s);
    return closed;
}

// Our address: a UDP socket and a TCP listener on the same port, because a
// node answers a stranger over TCP when its answer is larger than the request.
class Endpoint {
public:
    explicit Endpoint(bool any_ip) {
        // The kernel picks the UDP port; the TCP port of the same number may be
        // taken by someone else's connection, so try a few UDP ports (bounded).
        for (int attempt = 0; attempt < 32; ++attempt) {
            udp_ = udp_socket(any_ip, false);
            port_ = local_port(udp_);
            tcp_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            sockaddr_in me{};
            me.sin_family = AF_INET;
            me.sin_addr.s_addr = htonl(any_ip ? INADDR_ANY : INADDR_LOOPBACK);
            me.sin_port = htons(port_);
            if (tcp_ >= 0 && ::bind(tcp_, reinterpret_cast<sockaddr*>(&me), sizeof me) == 0 && ::listen(tcp_, 16) == 0)
                return;
            if (tcp_ >= 0) ::close(tcp_);
            tcp_ = -1;
            ::close(udp_);
        }
        udp_ = udp_socket(any_ip, false);
        port_ = local_port(udp_);
        // Answers over TCP are then lost; say so once.
        std::fprintf(stderr, "dcattack: no TCP listener on port %u: answers over TCP are not received\n", port_);
    }
    ~Endpoint() {
        for (auto& c : conns_) ::close(c.fd);
        if (tcp_ >= 0) ::close(tcp_);
        ::close(udp_);
    }
    Endpoint(const Endpoint&) = delete;
    Endpoint& operator=(const Endpoint&) = delete;

    std::uint16_t port() const { return port_; }
    void send(const Addr& to, ByteView d) {
        if (!send_datagram(udp_, to, d)) std::fprintf(stderr, "dcattack: sendto: %s\n", std::strerror(errno));
    }

    // Calls on(packet) for every packet received (UDP datagrams, TCP frames) for
    // up to `secs`, or until on returns true.
    void receive(double secs, const std::function<bool(const Bytes&)>& on) {
        auto start = Clock::now();
        std::vector<std::uint8_t> buf(kMaxUdp + 1);
        while (since(start) < secs) {
            std::vector<pollfd> fds{{udp_, POLLIN, 0}};
            if (tcp_ >= 0) fds.push_back({tcp_, POLLIN, 0});
            for (auto& c : conns_) fds.push_back({c.fd, POLLIN, 0});
            int left = static_cast<int>((secs - since(start)) * 1000) + 1;
            if (::poll(fds.data(), fds.size(), std::min(left, 100)) <= 0) continue;
            if (fds[0].revents & POLLIN) {
                ssize_t n = ::recv(udp_, buf.data(), buf.size(), 0);
                if (n > 0 && on(Bytes(buf.begin(), buf.begin() + n))) return;
            }
            if (tcp_ >= 0 && (fds[1].revents & POLLIN)) {
                int c = ::accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (c >= 0 && conns_.size() < 64) conns_.push_back(Conn{c, {}});
                else if (c >= 0) ::close(c);
            }
            std::size_t first = tcp_ >= 0 ? 2 : 1;
            for (std::size_t i = first; i < fds.size(); ++i) {
                if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                Conn& c = conns_[i - first];
                ssize_t n = ::recv(c.fd, buf.data(), buf.size(), 0);
                if (n <= 0) {
                    c.dead = true;
                    continue;
                }
                c.reader.feed(ByteView(buf.data(), static_cast<std::size_t>(n)));
                while (auto f = c.reader.next())
                    if (on(*f)) return;
                if (c.reader.bad()) c.dead = true;
            }
            for (auto it = conns_.begin(); it != conns_.end();) {
                if (it->dead) {
                    ::close(it->fd);
                    it = conns_.erase(it);
                } else {
                    ++it;
                }
            }
        }
    }

private:
    struct Conn {
        int fd;
        wire::FrameReader reader;
        bool dead = false;
    };
    int udp_ = -1, tcp_ = -1;
    std::uint16_t port_ = 0;
    std::vector<Conn> conns_;
};

// ---- learning about a node -------------------------------------------------------------

// A node's own declaration, as it answers a requestPing.
struct Peer {
    wire::Declaration decl;
    Bytes packet;  // the declareOnline it came in
};

std::optional<Peer> probe(Endpoint& ep, const Addr& target, std::vector<Bytes>* received = nullptr) {
    Ident prober = fresh(made_up_name("probe-"));
    for (int attempt = 0; attempt < 3; ++attempt) {
        wire::RequestPing rp;
        rp.requester_user = prober.user;
        rp.requester_session = prober.session;
        rp.requester_addr = here(ep.port());
        crypto::random_bytes(std::span(reinterpret_cast<std::uint8_t*>(&rp.nonce), sizeof rp.nonce));
        ep.send(target, packet(prober, MsgType::request_ping, wire::encode(rp), ep.port()));
        std::optional<Peer> got;
        ep.receive(2, [&](const Bytes& b) {
            auto p = wire::decode_packet(b);
            if (!p || p->header.type != MsgType::declare_online) return false;
            auto d = wire::decode_declare(p->payload);
            if (!d || d->nonce != rp.nonce) return false;
            auto decl = wire::decode_declaration(d->decl.body);
            if (!decl || !wire::verify_blob(d->decl, decl->key)) return false;
            if (received) received->push_back(b);
            got = Peer{*decl, b};
            return true;
        });
        if (got) {
            if (got->decl.addr.unspecified_ip()) std::copy(target.ip.begin(), target.ip.end(), got->decl.addr.ip.begin());
            got->decl.addr.family = 4;
            return got;
        }
    }
    return std::nullopt;
}

Peer must_probe(Endpoint& ep, const Addr& target) {
    auto p = probe(ep, target);
    if (!p) die("no answer from " + target.to_string() + " to a requestPing (is a darkchat node there?)");
    return *p;
}

// ---- samples of every kind ------------------------------------------------------------------

// Valid packets of every type from a fresh stranger (signed by it).
std::vector<Bytes> valid_samples(const Ident& who, std::uint16_t port, const KxPublicKey& kx,
                                 const std::string& to) {
    std::vector<Bytes> v;
    auto k = fresh_kx();
    v.push_back(packet(who, MsgType::declare_online, declare_payload(declaration(who, true, port, {to}, k.pk), who, 1, true),
                       port));
    v.push_back(packet(who, MsgType::declare_offline,
                       declare_payload(declaration(who, false, port, {}, k.pk), who, 0, false), port));
    v.push_back(packet(who, MsgType::chat, chat_payload(chat_message(who.user, to, "hi"), who, kx), port));
    v.push_back(packet(who, MsgType::chat_ack, ack_payload(random_array<16>()), port));
    wire::RequestPing rp;
    rp.target_user = to;
    rp.requester_user = who.user;
    rp.requester_session = who.session;
    rp.requester_addr = here(port);
    rp.nonce = rng();
    rp.hops = 1;
    v.push_back(packet(who, MsgType::request_ping, wire::encode(rp), port));
    v.push_back(packet(who, MsgType::request_user_list, wire::encode(wire::RequestUserList{rng(), {to}, {}}), port));
    wire::DeliverKnownList l;
    l.nonce = rng();
    l.sessions.push_back(wire::KnownSession{wire::sign_blob(wire::encode(declaration(who, true, port, {}, k.pk)), who.sk),
                                            here(port), true, wall_ms()});
    v.push_back(packet(who, MsgType::deliver_known_list, wire::encode(l), port));
    v.push_back(packet(who, MsgType::ping, wire::encode(wire::Ping{rng()}), port));
    v.push_back(packet(who, MsgType::pong, wire::encode(wire::Pong{rng()}), port));
    return v;
}

// msgpack heads, for hand-made values.
Bytes head(std::uint8_t tag, std::uint64_t n, int width) {
    Bytes o{tag};
    for (int i = width - 1; i >= 0; --i) o.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
    return o;
}
Bytes bin(ByteView b) {
    Bytes o = b.size() < 256 ? head(0xc4, b.size(), 1) : b.size() < 65536 ? head(0xc5, b.size(), 2) : head(0xc6, b.size(), 4);
    o.insert(o.end(), b.begin(), b.end());
    return o;
}
Bytes cat(Bytes a, ByteView b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// Values nested `depth` deep: arrays (0x91), maps ({0: ...}) or a mix.
Bytes nested(std::size_t depth, int kind) {
    Bytes b;
    for (std::size_t i = 0; i < depth; ++i) {
        int k = kind == 2 ? static_cast<int>(i % 2) : kind;
        if (k == 0) b.push_back(0x91);
        else b.insert(b.end(), {0x81, 0x00});
    }
    b.push_back(0xc0);
    return b;
}

std::vector<Bytes> nested_samples(const Ident& who, std::uint16_t port, std::size_t max) {
    std::vector<Bytes> v;
    for (int kind = 0; kind < 3; ++kind) {
        v.push_back(nested(kind == 0 ? max - 1 : (max - 1) / 2, kind));  // the whole datagram
        // A packet whose signed header is nested, and one whose payload is (validly signed).
        Bytes deep = nested((max - 100) / 2, kind);
        v.push_back(cat(cat(Bytes{0x93, 0x01}, bin(deep)), bin(random_bytes(64))));
        for (MsgType t : {MsgType::declare_online, MsgType::chat, MsgType::request_user_list})
            v.push_back(wire::encode_packet(header(who, t, port), nested((max - 200) / 2, kind), who.sk));
        // A valid declare whose declaration body is nested.
        wire::Declare d;
        d.decl = wire::sign_blob(nested((max - 300) / 2, kind), who.sk);
        v.push_back(packet(who, MsgType::declare_online, wire::encode(d), port));
    }
    return v;
}

// Valid packets with another version or shape.
std::vector<Bytes> version_samples(const Bytes& p) {
    std::vector<Bytes> v;
    if (p.size() < 3 || p[0] != 0x93 || p[1] != 0x01) return v;
    ByteView rest = ByteView(p).subspan(2);
    for (std::uint8_t ver : {0x00, 0x02, 0x03, 0x7f, 0xff /* -1 */, 0xc0 /* nil */, 0xc2 /* false */})
        v.push_back(cat(Bytes{0x93, ver}, rest));
    v.push_back(cat(Bytes{0x93, 0xcc, 0x02}, rest));        // 2 as a uint8
    v.push_back(cat(Bytes{0x93, 0xcd, 0x00, 0x01}, rest));  // 1 as a uint16
    v.push_back(cat(Bytes{0x93, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, rest));
    v.push_back(cat(Bytes{0x93, 0xa1, '1'}, rest));          // "1"
    v.push_back(cat(cat(Bytes{0x94, 0x01}, rest), Bytes{0xc0}));  // four elements
    v.push_back(cat(Bytes{0x92, 0x01}, rest));               // two elements (and trailing bytes)
    v.push_back(cat(Bytes{0x83, 0x00, 0x01}, rest));         // a map
    return v;
}

Bytes random_datagram(std::size_t max) {
    std::size_t n = rng() % 20 == 0 ? rng() % (max + 1) : rng() % 1501;
    return random_bytes(std::min(n, max));
}

// A packet of exactly `size` bytes (when size allows): a validly signed chat
// whose sealed bytes are random.
Bytes sized_packet(const Ident& who, std::uint16_t port, std::size_t size) {
    wire::Chat c;
    c.kx = random_array<32>();
    std::size_t guess = size > 200 ? size - 200 : 0;
    for (int i = 0; i < 4; ++i) {
        c.sealed = random_bytes(guess);
        Bytes p = packet(who, MsgType::chat, wire::encode(c), port);
        if (p.size() == size) return p;
        if (p.size() > size && guess == 0) return p;
        guess = guess + size - std::min(size + guess, p.size());
        if (p.size() > size) guess -= std::min(guess, p.size() - size);
    }
    return packet(who, MsgType::chat, wire::encode(c), port);
}

// ---- the record file -----------------------------------------------------------------------

struct Recording {
    std::vector<std::pair<std::string, Bytes>> packets;  // "sent" or "received", the bytes
    void add(const char* what, const Bytes& b) { packets.emplace_back(what, b); }
    void save(const std::string& path) const {
        std::ofstream f(path, std::ios::trunc);
        f << "dcattack-recording 1\n";
        for (auto& [w, b] : packets) f << w << ' ' << to_hex(b) << '\n';
        if (!f) die("cannot write " + path);
    }
    static Recording load(const std::string& path) {
        std::ifstream f(path);
        if (!f) die("cannot read " + path);
        std::string magic;
        std::getline(f, magic);
        if (magic != "dcattack-recording 1") die(path + " is not a dcattack recording");
        Recording r;
        std::string what, hex;
        while (f >> what >> hex) {
            auto b = from_hex(hex);
            if (!b || (what != "sent" && what != "received")) die(path + " is damaged");
            r.packets.emplace_back(what, *b);
        }
        return r;
    }
};

// The identity in a file written by darkchat --export-identity.
Ident read_identity(const std::string& path) {
    std::ifstream in(path);
    if (!in) die("cannot read " + path);
    std::string magic, user_kw, user, secret_kw, secret;
    std::getline(in, magic);
    in >> user_kw >> user >> secret_kw >> secret;
    auto sk = from_hex(secret);
    if (magic != "darkchat-identity 1" || user_kw != "user" || secret_kw != "secret" || !valid_user_name(user) || !sk ||
        sk->size() != 64)
        die(path + " is not a darkchat identity file");
    Ident id;
    id.user = user;
    std::copy(sk->begin(), sk->end(), id.sk.begin());
    std::copy(sk->begin() + 32, sk->end(), id.pk.begin());
    crypto::wipe(*sk);
    id.session = random_array<8>();
    return id;
}

// What came back, by type, for the summary line.
struct Tally {
    std::map<std::string, int> by_type;
    void add(const Bytes& b) {
        auto p = wire::parse_packet(b);
        ++by_type[p ? wire::type_name(p->header.type) : "undecodable"];
    }
    std::string str() const {
        if (by_type.empty()) return "nothing";
        std::string s;
        for (auto& [t, n] : by_type) s += (s.empty() ? "" : ", ") + std::to_string(n) + " " + t;
        return s;
    }
};

// ---- modes -----------------------------------------------------------------------------------

int forged(const Options& o) {
    Endpoint ep(o.netns);
    Peer peer = must_probe(ep, o.target);
    std::string to = o.to.empty() ? peer.decl.user : o.to;
    int sent = 0;
    auto send = [&](const Bytes& b) {
        ep.send(o.target, b);
        ++sent;
    };
    for (std::uint64_t round = 0; round < std::max<std::uint64_t>(1, o.count / 100); ++round) {
        for (auto& name : o.as) {
            Ident fake = fresh(name);  // a fresh key claiming a name that is not its own
            Ident relay = fresh(made_up_name("relay-"));
            auto k = fresh_kx();
            auto on = declaration(fake, true, ep.port(), {peer.decl.user}, k.pk);
            auto off = on;
            off.online = false;
            ++off.seq;
            Bytes on_payload = declare_payload(on, fake, 1, true);
            send(packet(fake, MsgType::declare_online, on_payload, ep.port()));   // direct
            send(packet(relay, MsgType::declare_online, on_payload, ep.port()));  // passed on by a stranger
            send(packet(fake, MsgType::declare_offline, declare_payload(off, fake, 1, false), ep.port()));
            auto m = chat_message(name, to, o.text);
            send(packet(fake, MsgType::chat, chat_payload(m, fake, peer.decl.kx), ep.port()));
            // The same message passed on by a stranger (the author's pinned key must sign it).
            m.id = random_array<16>();
            send(packet(relay, MsgType::chat, chat_payload(m, fake, peer.decl.kx), ep.port()));
            // An ack for a message nobody sent.
            send(packet(fake, MsgType::chat_ack, ack_payload(random_array<16>()), ep.port()));
        }
    }
    Tally back;
    ep.receive(o.listen, [&](const Bytes& b) {
        back.add(b);
        return false;
    });
    std::printf("dcattack: forged: %d packets claiming %zu name(s) sent to %s (%s); answers: %s\n", sent, o.as.size(),
                o.target.to_string().c_str(), peer.decl.user.c_str(), back.str().c_str());
    return 0;
}

int record(const Options& o) {
    Endpoint ep(o.netns);
    Recording rec;
    Ident me = read_identity(o.identity_file);
    std::vector<Bytes> got;
    auto peerp = probe(ep, o.target, &got);
    if (!peerp) die("no answer from " + o.target.to_string() + " to a requestPing (is a darkchat node there?)");
    Peer peer = *peerp;
    for (auto& b : got) rec.add("received", b);
    std::string to = o.to.empty() ? peer.decl.user : o.to;
    auto k = fresh_kx();
    auto send = [&](const Bytes& b) {
        ep.send(o.target, b);
        rec.add("sent", b);
    };
    send(packet(me, MsgType::declare_online,
                declare_payload(declaration(me, true, ep.port(), {peer.decl.user}, k.pk), me, 0, true), ep.port()));
    auto m = chat_message(me.user, to, o.text);
    send(packet(me, MsgType::chat, chat_payload(m, me, peer.decl.kx), ep.port()));
    int acks = 0, chats = 0;
    std::set<MessageId> seen;
    Tally back;
    ep.receive(o.listen, [&](const Bytes& b) {
        back.add(b);
        rec.add("received", b);
        auto p = wire::decode_packet(b);
        if (!p) return false;
        if (p->header.type == MsgType::chat_ack) {
            if (auto a = wire::decode_chat_ack(p->payload); a && a->id == m.id) ++acks;
        } else if (p->header.type == MsgType::ping) {
            if (auto q = wire::decode_ping(p->payload))
                send(packet(me, MsgType::pong, wire::encode(wire::Pong{q->nonce}), ep.port()));
        } else if (p->header.type == MsgType::chat) {
            auto c = wire::decode_chat(p->payload);
            if (!c || c->kx != k.pk) return false;
            auto plain = crypto::open_sealed(c->sealed, k);
            if (!plain) return false;
            auto blob = wire::decode_signed_blob(*plain);
            if (!blob) return false;
            auto cm = wire::decode_chat_message(blob->body);
            if (!cm) return false;
            send(packet(me, MsgType::chat_ack, ack_payload(cm->id), ep.port()));
            if (!seen.insert(cm->id).second) return false;  // again (a retry, or mirrored): acked, not shown
            ++chats;
            std::printf("dcattack: record: chat from %s to %s: %s\n", cm->from.c_str(), cm->to.c_str(), cm->text.c_str());
        }
        return false;
    });
    rec.save(o.save_file);
    std::printf("dcattack: record: as %s session %s to %s (%s): our chat acked %d time(s), %d chat(s) received and "
                "acked; %zu packets saved to %s; received: %s\n",
                me.user.c_str(), to_hex(me.session).c_str(), o.target.to_string().c_str(), peer.decl.user.c_str(),
                acks, chats, rec.packets.size(), o.save_file.c_str(), back.str().c_str());
    std::fflush(stdout);
    return 0;
}

// Text a terminal would take as control, or that is not UTF-8: each is one
// chat line "LABEL: TEXT", so a test can look for how each is shown.
std::vector<std::string> hostile_texts() {
    using namespace std::string_literals;
    return {
        "nul: before\0after"s,                                      // NUL inside the text
        "clear: \x1b[2J\x1b[Hthe screen was cleared",              // ESC[2J, cursor home
        "title: \x1b]0;pwned\x07",                                  // set the window title (OSC ... BEL)
        "color: \x1b[31mred\x1b[0m",                                // SGR
        "bell: \x07\x07\x07",                                       // BEL
        "cr: a line\r<alice> a forged line over it",                // CR: overwrite what was shown
        "lf: one line\n<alice> a forged second line",               // LF: a line of its own
        "backspace: secret\b\b\b\b\b\bpublic",                      // BS: rub out
        "del: x\x7fy",                                              // DEL
        "c1: \xc2\x9b" "2J and \xc2\x9d" "0;pwned\xc2\x9c",         // C1 CSI, OSC, ST as UTF-8
        "csi8: \x9b" "2J",                                          // a raw 8-bit CSI byte (not UTF-8)
        "bidi: invoice_\xe2\x80\xae" "fdp.exe and \xe2\x81\xa6" "isolated\xe2\x81\xa9",  // RLO, LRI, PDI
        "utf8: \xc0\xaf \xe0\x80\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xff \x80 cut \xe4\xb8",  // overlong, surrogate, > U+10FFFF, cut short
        "backslash: \\x1b[2J typed, not an escape",                 // a literal backslash
    };
}

// escapes: as a made-up user (the first --as NAME, or a fresh name), declares
// itself to the target and sends each hostile text as a validly signed chat,
// resending what is not acked once a second while it listens; answers pings.
// Then the same chat under a name that is itself hostile (refused at the wire:
// names are checked there).
int escapes(const Options& o) {
    Endpoint ep(o.netns);
    Peer peer = must_probe(ep, o.target);
    std::string to = o.to.empty() ? peer.decl.user : o.to;
    Ident me = fresh(o.as.empty() ? made_up_name("esc-") : o.as.front());
    auto k = fresh_kx();
    ep.send(o.target, packet(me, MsgType::declare_online,
                             declare_payload(declaration(me, true, ep.port(), {to}, k.pk), me, 0, true), ep.port()));
    std::map<MessageId, Bytes> unacked;
    for (auto& text : hostile_texts()) {
        auto m = chat_message(me.user, to, text);
        unacked[m.id] = packet(me, MsgType::chat, chat_payload(m, me, peer.decl.kx), ep.port());
        ep.send(o.target, unacked[m.id]);
    }
    const std::size_t sent = unacked.size();
    Ident bad = fresh("m\x1b[2J\x07" "allory");
    ep.send(o.target, packet(bad, MsgType::declare_online,
                             declare_payload(declaration(bad, true, ep.port(), {to}, k.pk), bad, 0, true), ep.port()));
    ep.send(o.target, packet(bad, MsgType::chat,
                             chat_payload(chat_message(bad.user, to, "from a hostile name"), bad, peer.decl.kx), ep.port()));
    Tally back;
    auto start = Clock::now();
    double resent_at = 0;
    while (since(start) < o.listen && !unacked.empty()) {
        ep.receive(std::min(0.2, o.listen), [&](const Bytes& b) {
            back.add(b);
            auto p = wire::decode_packet(b);
            if (!p) return false;
            if (p->header.type == MsgType::chat_ack) {
                if (auto a = wire::decode_chat_ack(p->payload)) unacked.erase(a->id);
            } else if (p->header.type == MsgType::ping) {
                if (auto q = wire::decode_ping(p->payload))
                    ep.send(o.target, packet(me, MsgType::pong, wire::encode(wire::Pong{q->nonce}), ep.port()));
            }
            return unacked.empty();
        });
        if (since(start) - resent_at >= 1) {
            resent_at = since(start);
            for (auto& [id, b] : unacked) ep.send(o.target, b);
        }
    }
    std::printf("dcattack: escapes: %zu chats with control characters and invalid UTF-8 sent to %s (%s) as %s, "
                "%zu acked; 1 chat under a hostile name; received: %s\n",
                sent, o.target.to_string().c_str(), peer.decl.user.c_str(), me.user.c_str(), sent - unacked.size(),
                back.str().c_str());
    return 0;
}

int replay(const Options& o) {
    Recording rec = Recording::load(o.load_file);
    if (!o.only.empty())
        std::erase_if(rec.packets, [&](const auto& p) {
            auto pkt = wire::parse_packet(p.second);
            return !pkt || o.only != wire::type_name(pkt->header.type);
        });
    if (o.delay > 0) std::this_thread::sleep_for(std::chrono::duration<double>(o.delay));
    std::vector<int> socks;
    for (std::size_t i = 0; i < std::min<std::size_t>(o.ports, 64); ++i) socks.push_back(udp_socket(o.netns, false));
    std::size_t datagrams = 0, frames = 0;
    std::uint64_t rounds = std::min<std::uint64_t>(o.count, kMaxCount / std::max<std::size_t>(1, rec.packets.size()));
    for (std::uint64_t r = 0; r < rounds; ++r) {
        for (auto& [what, b] : rec.packets) {
            if (b.size() <= kMaxUdp && send_datagram(socks[(r + datagrams) % socks.size()], o.target, b)) ++datagrams;
            if (r == 0) {
                tcp_send(o.target, wire::frame(b), 0);
                ++frames;
            }
        }
        if (r % 16 == 15) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // stay within budgets
    }
    for (int s : socks) ::close(s);
    std::printf("dcattack: replay: %zu recorded packets resent %llu time(s) to %s: %zu datagrams from %zu source ports, "
                "%zu TCP frames\n",
                rec.packets.size(), static_cast<unsigned long long>(rounds), o.target.to_string().c_str(), datagrams,
                socks.size(), frames);
    return 0;
}

// Sends each of `samples` in turn until `count` datagrams have gone out.
std::size_t spray(Endpoint& ep, const Addr& to, const std::vector<Bytes>& samples, std::uint64_t count) {
    std::size_t n = 0;
    for (std::uint64_t i = 0; i < count && !samples.empty(); ++i) {
        const Bytes& b = samples[i % samples.size()];
        if (b.size() > kMaxUdp) continue;
        ep.send(to, b);
        ++n;
        if (i % 64 == 63) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return n;
}

Bytes frame_header(std::uint32_t len) {
    return {static_cast<std::uint8_t>(len >> 24), static_cast<std::uint8_t>(len >> 16), static_cast<std::uint8_t>(len >> 8),
            static_cast<std::uint8_t>(len)};
}

int truncated(const Options& o) {
    Endpoint ep(o.netns);
    Ident who = fresh(made_up_name("cut-"));
    auto valid = valid_samples(who, ep.port(), fresh_kx().pk, made_up_name("to-"));
    std::vector<Bytes> cuts;
    std::size_t total = 0;
    for (auto& v : valid) total += v.size();
    std::size_t step = std::max<std::size_t>(1, total / std::max<std::uint64_t>(1, o.count));
    for (auto& v : valid) {
        for (std::size_t n = 0; n < v.size(); n += step) cuts.emplace_back(v.begin(), v.begin() + n);
        Bytes middle = v;  // one byte taken out of the middle
        middle.erase(middle.begin() + static_cast<std::ptrdiff_t>(v.size() / 2));
        cuts.push_back(middle);
    }
    std::size_t n = spray(ep, o.target, cuts, std::min<std::uint64_t>(o.count, cuts.size()));
    // TCP: frames cut short, and half a length prefix.
    int frames = 0;
    for (auto& v : valid) {
        Bytes f = wire::frame(v);
        f.resize(f.size() / 2);
        tcp_send(o.target, f, 0);
        ++frames;
    }
    tcp_send(o.target, Bytes{0x00, 0x00}, 0);
    ++frames;
    std::printf("dcattack: truncated: %zu datagrams cut from %zu valid packets, %d cut TCP frames sent to %s\n", n,
                valid.size(), frames, o.target.to_string().c_str());
    return 0;
}

int oversized(const Options& o) {
    Endpoint ep(o.netns);
    Ident who = fresh(made_up_name("big-"));
    std::vector<Bytes> big;
    for (std::size_t size : {std::size_t{1201}, std::size_t{1500}, std::size_t{4096}, std::size_t{9000},
                             std::size_t{16384}, std::size_t{32768}, std::size_t{65507}}) {
        big.push_back(random_bytes(size));
        big.push_back(sized_packet(who, ep.port(), size));
        Bytes padded = valid_samples(who, ep.port(), fresh_kx().pk, "nobody")[0];
        padded.resize(size, 0);  // a valid packet and trailing zeros
        big.push_back(padded);
    }
    std::size_t n = spray(ep, o.target, big, std::min<std::uint64_t>(o.count, 3 * big.size()));
    // TCP frames at and above the limit.
    const std::size_t limit = wire::kMaxFrame;
    bool at_limit_closed = tcp_send(o.target, wire::frame(sized_packet(who, ep.port(), limit)), 1);
    bool over_closed = tcp_send(o.target, cat(frame_header(static_cast<std::uint32_t>(limit + 1)), random_bytes(limit + 1)), 3);
    bool huge_closed = tcp_send(o.target, cat(frame_header(0xffffffffu), random_bytes(64)), 3);
    std::printf("dcattack: oversized: %zu datagrams of 1201 to 65507 bytes sent to %s; TCP frame of %zu bytes "
                "(the limit): %s; of %zu bytes: %s; of 4 GiB: %s\n",
                n, o.target.to_string().c_str(), limit, at_limit_closed ? "closed" : "kept open", limit + 1,
                over_closed ? "closed" : "kept open", huge_closed ? "closed" : "kept open");
    return 0;
}

int nested_mode(const Options& o) {
    Endpoint ep(o.netns);
    Ident who = fresh(made_up_name("deep-"));
    auto samples = nested_samples(who, ep.port(), 1200);
    auto bigger = nested_samples(who, ep.port(), kMaxUdp);
    samples.insert(samples.end(), bigger.begin(), bigger.end());
    std::size_t n = spray(ep, o.target, samples, std::min<std::uint64_t>(o.count, samples.size() * 4));
    bool closed = tcp_send(o.target, wire::frame(nested(wire::kMaxFrame - 1, 0)), 1);
    std::printf("dcattack: nested: %zu deeply nested datagrams sent to %s; a TCP frame nested 1 MiB deep: %s\n", n,
                o.target.to_string().c_str(), closed ? "closed" : "kept open");
    return 0;
}

int version(const Options& o) {
    Endpoint ep(o.netns);
    Ident who = fresh(made_up_name("ver-"));
    std::vector<Bytes> samples;
    for (auto& v : valid_samples(who, ep.port(), fresh_kx().pk, made_up_name("to-"))) {
        auto w = version_samples(v);
        samples.insert(samples.end(), w.begin(), w.end());
    }
    std::size_t n = spray(ep, o.target, samples, std::min<std::uint64_t>(o.count, samples.size()));
    std::printf("dcattack: version: %zu packets of other versions and shapes sent to %s\n", n,
                o.target.to_string().c_str());
    return 0;
}

int random_mode(const Options& o) {
    Endpoint ep(o.netns);
    std::vector<Bytes> samples;
    for (std::uint64_t i = 0; i < std::min<std::uint64_t>(o.count, 4096); ++i) samples.push_back(random_datagram(kMaxUdp));
    std::size_t n = spray(ep, o.target, samples, o.count);
    std::printf("dcattack: random: %zu random datagrams sent to %s\n", n, o.target.to_string().c_str());
    return 0;
}

// The flood's packets, made before it starts (signing at the flood's rate
// would measure us, not the node).
std::vector<Bytes> flood_pool(const Options& o, std::uint16_t port, const std::optional<Peer>& target,
                              const std::optional<Peer>& claimed) {
    std::vector<Bytes> pool;
    KxPublicKey kx = target ? target->decl.kx : fresh_kx().pk;
    std::string to = target ? target->decl.user : made_up_name("to-");
    for (std::size_t i = 0; i < o.identities; ++i) {
        Ident who = fresh(made_up_name("m-"));
        auto v = valid_samples(who, port, kx, to);  // made-up identities, every type
        pool.insert(pool.end(), v.begin(), v.end());
        for (auto& name : o.as) {  // fresh keys claiming the victims' names
            Ident fake = fresh(name);
            auto k = fresh_kx();
            pool.push_back(packet(fake, MsgType::declare_online,
                                  declare_payload(declaration(fake, true, port, {to}, k.pk), fake, 1, true), port));
            pool.push_back(packet(fake, MsgType::chat, chat_payload(chat_message(name, to, "forged"), fake, kx), port));
        }
        if (claimed) {  // the victim's own name, session, key and port, and a signature that is not
            Ident victim{claimed->decl.user, claimed->decl.session, claimed->decl.key, {}};
            wire::Header h = header(victim, i % 2 ? MsgType::chat : MsgType::ping, claimed->decl.addr.port);
            Bytes payload = i % 2 ? chat_payload(chat_message(victim.user, to, "x"), who, kx)
                                  : wire::encode(wire::Ping{rng()});
            Signature bad = random_array<64>();
            pool.push_back(wire::assemble_packet(wire::packet_header(h, payload), bad));
        }
        if (i % 4 == 0) {
            auto w = version_samples(v[i % v.size()]);
            pool.insert(pool.end(), w.begin(), w.begin() + std::min<std::size_t>(w.size(), 4));
            Bytes cut = v[i % v.size()];
            cut.resize(rng() % cut.size());
            pool.push_back(cut);
        }
        if (i % 16 == 0) {
            auto n = nested_samples(who, port, 1200);
            pool.push_back(n[i / 16 % n.size()]);
        }
        for (int r = 0; r < 4; ++r) pool.push_back(random_datagram(1500));
        if (i % 64 == 0) pool.push_back(random_bytes(1201 + rng() % (kMaxUdp - 1200)));  // oversized, rarely
    }
    std::shuffle(pool.begin(), pool.end(), rng);
    return pool;
}

int flood(const Options& o) {
    std::optional<Peer> target, claimed;
    {
        Endpoint ep(o.netns);
        target = probe(ep, o.target);  // for chat sealed to its real key; the flood works without
        if (o.claim_peer) {
            claimed = probe(ep, *o.claim_peer);
            if (!claimed) die("no answer from " + o.claim_peer->to_string() + " to a requestPing");
        }
    }
    std::vector<int> socks;
    for (std::size_t i = 0; i < o.ports; ++i) socks.push_back(udp_socket(o.netns, true));
    auto pool = flood_pool(o, local_port(socks[0]), target, claimed);
    std::printf("dcattack: flood: %zu distinct packets made, sending\n", pool.size());
    std::uint64_t limit = std::min<std::uint64_t>(kMaxCount * 10, static_cast<std::uint64_t>(o.rate * o.seconds));
    std::uint64_t sent = 0, failed = 0, bytes = 0;
    sockaddr_in sa = to_sockaddr(o.target);
    auto start = Clock::now();
    std::size_t k = 0;
    while (sent + failed < limit) {
        double t = since(start);
        if (t >= o.seconds) break;
        auto due = std::min<std::uint64_t>(limit, static_cast<std::uint64_t>(t * o.rate) + 1);
        if (sent + failed >= due) {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
            continue;
        }
        // A batch from one source port.
        int s = socks[k++ % socks.size()];
        constexpr std::size_t kBatch = 32;
        mmsghdr msgs[kBatch];
        iovec iov[kBatch];
        std::size_t n = std::min<std::uint64_t>(kBatch, due - sent - failed);
        for (std::size_t j = 0; j < n; ++j) {
            const Bytes& b = pool[(sent + failed + j) % pool.size()];
            iov[j] = iovec{const_cast<std::uint8_t*>(b.data()), b.size()};
            msgs[j] = mmsghdr{};
            msgs[j].msg_hdr.msg_name = &sa;
            msgs[j].msg_hdr.msg_namelen = sizeof sa;
            msgs[j].msg_hdr.msg_iov = &iov[j];
            msgs[j].msg_hdr.msg_iovlen = 1;
        }
        int r = ::sendmmsg(s, msgs, static_cast<unsigned>(n), MSG_DONTWAIT);
        std::size_t ok = r > 0 ? static_cast<std::size_t>(r) : 0;
        for (std::size_t j = 0; j < ok; ++j) bytes += msgs[j].msg_len;
        sent += ok;
        if (ok < n) ++failed;  // the first datagram that did not go; the rest of the batch is retried
        // Answers the node sends us are not read: drop them.
        char sink[2048];
        while (::recv(s, sink, sizeof sink, MSG_DONTWAIT) > 0) {
        }
    }
    double secs = since(start);
    for (int s : socks) ::close(s);
    std::printf("dcattack: flood: %llu datagrams (%.1f MB) sent to %s in %.2f s: %.0f per second (asked for %.0f); "
                "%llu refused by our kernel; %zu distinct packets from %zu made-up identities%s, %zu source ports\n",
                static_cast<unsigned long long>(sent), static_cast<double>(bytes) / 1e6, o.target.to_string().c_str(),
                secs, static_cast<double>(sent) / secs, o.rate, static_cast<unsigned long long>(failed), pool.size(),
                o.identities, claimed ? (", and under " + claimed->decl.user + "'s own header").c_str() : "", socks.size());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);
    Options o = parse(argc, argv);
    if (auto r = crypto::init(); !r) die(r.error());
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    if (o.mode == "forged") return forged(o);
    if (o.mode == "record") return record(o);
    if (o.mode == "escapes") return escapes(o);
    if (o.mode == "replay") return replay(o);
    if (o.mode == "truncated") return truncated(o);
    if (o.mode == "oversized") return oversized(o);
    if (o.mode == "nested") return nested_mode(o);
    if (o.mode == "version") return version(o);
    if (o.mode == "random") return random_mode(o);
    return flood(o);
}
