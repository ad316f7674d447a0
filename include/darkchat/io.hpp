// The libuv driver: one event loop that feeds a core::Node with datagrams, TCP
// frames, timers, signals and (for darkchat) lines from standard input, and
// carries out what the node asks: store writes, events, packets.
// Only src/io includes <uv.h>.
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/store.hpp"

#include <functional>

namespace dc::io {

struct Options {
    core::Config config;         // config.port may be 0: the driver then picks a free port
    Addr bind;                   // where to listen (ip; port comes from config.port)
    bool fallback_port = false;  // if config.port is taken, take any free port instead
    bool front_end = false;      // darkchat: read macros and messages from stdin, events to stdout
    std::string log_name;        // darkchatd: events go to stderr as log lines with this name
    std::vector<std::pair<std::string, std::uint16_t>> resolve_servers;  // -sip given as a host name
};

// Runs until \quit, end of input (front end), SIGINT or SIGTERM. Returns the exit status.
int run(const Options& opts, store::Store& store, Identity identity);

}  // namespace dc::io
