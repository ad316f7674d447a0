// The libuv driver: one event loop that feeds a core::Node and/or the role
// machines of the directory and relays (roles.hpp) with datagrams, TCP frames,
// timers, signals and (for darkchat) lines from standard input, and carries out
// what they ask: store writes, events, packets. All of them share one UDP/TCP
// port; packets are routed by their wire type. Only src/io includes <uv.h>.
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/store.hpp"

#include <functional>

namespace dc::io {

// What a process is: a user's node (darkchat, or darkchatd with or without
// -s), or one of the roles of issue 5, which run without a core::Node.
enum class Role { user, directory, relay };

struct RoleOptions {
    Role role = Role::user;
    // user: the directory to register with (--dir), else client-side
    // round-robin over `relays` (--relays); neither: no rooms, no room client.
    // relay: the directory to register with; none: it admits members with
    // tickets signed by a member (client-side round-robin).
    std::optional<Addr> directory;
    std::vector<Addr> relays;
    // directory only: the selection strategy by name (empty: the default,
    // min-max), the background pass interval and the relay timeout (0: defaults).
    std::string strategy;
    TimeMs pass_interval = 0;
    TimeMs relay_timeout = 0;
    // relay only: rooms hosted at most (0: the default of roles::RelayConfig).
    std::size_t max_rooms = 0;
    // user only: the keys the node pinned, to check room tickets against (none: no check).
    std::function<std::optional<PublicKey>(const std::string& user)> pinned;
    // user only: where the node knows a user's sessions (online ones first).
    std::function<std::vector<Addr>(const std::string& user)> addresses;
};

struct Options {
    core::Config config;         // config.port may be 0: the driver then picks a free port
    Addr bind;                   // where to listen (ip; port comes from config.port)
    bool fallback_port = false;  // if config.port is taken, take any free port instead
    bool front_end = false;      // darkchat: read macros and messages from stdin, events to stdout
    std::string log_name;        // darkchatd: events go to stderr as log lines with this name
    std::vector<std::pair<std::string, std::uint16_t>> resolve_servers;  // -sip given as a host name
    RoleOptions roles;
};

// The UDP socket and the TCP listener of a process, on one port number. They
// are bound before the data directory is touched, so that a port in use is
// refused before anything is written. Closed when destroyed.
class Sockets {
public:
    Sockets() = default;
    Sockets(int udp, int tcp, std::uint16_t port) : udp_(udp), tcp_(tcp), port_(port) {}
    ~Sockets();
    Sockets(Sockets&& o) noexcept;
    Sockets& operator=(Sockets&& o) noexcept;
    Sockets(const Sockets&) = delete;
    Sockets& operator=(const Sockets&) = delete;

    std::uint16_t port() const { return port_; }
    // Hands both descriptors over (udp, tcp); this object then owns none.
    std::pair<int, int> release();

private:
    int udp_ = -1, tcp_ = -1;
    std::uint16_t port_ = 0;
};

// Binds UDP and TCP on opts.bind and opts.config.port (0: any free port; a
// taken port falls back to any free one when opts.fallback_port is set).
Result<Sockets> bind(const Options& opts);

// Runs on the bound sockets until \quit, end of input (front end), SIGINT or
// SIGTERM. Returns the exit status.
int run(const Options& opts, Sockets sockets, store::Store& store, Identity identity);

}  // namespace dc::io
