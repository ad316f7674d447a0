// The libuv driver: one event loop that feeds a host::Host (host.hpp: the
// user's node and room client, or the directory, or a relay, on one UDP/TCP
// port) with datagrams, TCP frames, timers and signals, and a cli::Session
// (session.hpp) with lines from standard input (darkchat); it carries out what
// they ask: store writes, lines out, packets, host name lookups. Only src/io
// includes <uv.h>.
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/host.hpp"
#include "darkchat/store.hpp"

namespace dc::io {

// What a process is and which roles it runs: see host.hpp.
using host::Role;
using host::RoleOptions;

struct Options {
    core::Config config;         // config.port may be 0: the driver then picks a free port
    Addr bind;                   // where to listen (ip; port comes from config.port)
    bool fallback_port = false;  // if config.port is taken, take any free port instead
    bool front_end = false;      // darkchat: read macros and messages from stdin, events to stdout
    // darkchat on a terminal (standard input and output both): where the lines
    // typed are kept for the up arrow, across runs; empty: in memory only.
    std::string input_history;
    std::string log_name;        // darkchatd: events go to stderr as log lines with this name
    std::vector<std::pair<std::string, std::uint16_t>> resolve_servers;  // -sip given as a host name
    RoleOptions roles;
    // File transfers (darkchat(1), FILES): where received files go (made when
    // needed), and offers from contacts taken without asking up to this size.
    std::string downloads;
    std::uint64_t auto_accept = 0;
    // The daemon API's Unix socket (darkchat-api(7)); empty: none. Only a
    // user's node serves it.
    std::string api_socket;
    // The web page (darkchat-api(7), THE WEB PAGE) on 127.0.0.1: its port (-1:
    // none, 0: any free one), and the token that opens it (from web_token in
    // the data directory).
    int web_port = -1;
    std::string web_token;
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

// darkchat when a node already runs on the data directory: attaches to its API
// socket (darkchat-api(7), ATTACHING): typed lines go to that node's terminal
// session, its events come out as the lines a terminal shows. \quit (or end
// of input, once the answers are in) detaches and leaves the node running.
// which names the node in its lines: "of alice", or "in DIR" without -u. On a
// terminal, lines are edited as when darkchat runs its own node (history kept
// in history_path, Tab completes macros).
int attach(const std::string& socket_path, const std::string& which, const std::string& history_path = {});

}  // namespace dc::io
