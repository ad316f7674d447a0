// Inside src/io: what the driver needs from each sans-IO machine it runs on its
// one UDP/TCP port (the core::Node, and the directory, relay or room-client
// role machines). The driver routes each datagram or TCP frame by its wire
// type to the machine that takes it, drains every machine's outputs in the
// core contract order (store, events, transmits) after each input, and keeps
// one timer at the earliest poll_timeout() of all of them.
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/io.hpp"
#include "darkchat/roles.hpp"

#include <functional>

#include <memory>
#include <vector>

#include <optional>
#include <string>

namespace dc::io {

class Machine {
public:
    virtual ~Machine() = default;

    // Whether packets of this wire type (wire::MsgType as a number) are for it.
    virtual bool takes(std::uint8_t type) const = 0;

    // Called once the socket is bound; bound is our listening address.
    virtual void start(TimeMs now, const Addr& bound) = 0;
    virtual void handle_datagram(TimeMs now, const Addr& from, ByteView data) = 0;
    // A packet framed over an inbound TCP connection (from is the peer's
    // ephemeral address). The roles treat both alike.
    virtual void handle_frame(TimeMs now, const Addr& from, ByteView data) { handle_datagram(now, from, data); }
    virtual void handle_timeout(TimeMs now) = 0;
    virtual std::optional<TimeMs> poll_timeout() const = 0;

    virtual std::optional<StoreOp> poll_store() { return std::nullopt; }
    // The store refused what poll_store() gave after the last input. A machine
    // that can take back what rested on it does so, leaves in ops what is still
    // worth storing later, and returns true: its other events and transmits go
    // out as usual (liveness does not wait for the disk). false: the driver
    // holds back all its transmits of this input.
    virtual bool handle_store_failed(TimeMs, std::vector<StoreOp>&) { return false; }
    // The next event, rendered as one line (no newline).
    virtual std::optional<std::string> poll_line() = 0;
    virtual std::optional<core::Transmit> poll_transmit() = 0;
    // The machine is done (\quit): the driver exits once transmits are drained.
    virtual bool quitting() const { return false; }
    // Asked to stop (SIGINT, SIGTERM, end of input): say goodbye through the
    // transmits if there is anything to say, then report quitting().
    virtual void handle_quit(TimeMs now) = 0;
};

// The role machines for these options: none for a user node without --dir or
// --relays; the room client beside the node of a user with them; the directory
// or the relay alone. port: our listening port. The driver sees each room
// event through hook before it is rendered (to follow the current room).
using RoomEventHook = std::function<void(const roles::RoomEvent&)>;
struct Roles {
    std::vector<std::unique_ptr<Machine>> machines;
    roles::RoomClient* client = nullptr;  // a user's room client, when there is one
};
// rooms: what the room client stored before (the store's snapshot).
Result<Roles> make_roles(const RoleOptions& opts, const Identity& identity, std::uint16_t port, std::uint64_t seed,
                         RoomEventHook& hook, RoomSnapshot rooms);

}  // namespace dc::io
