// Inside src/host: what the Host needs from each sans-IO machine it runs on its
// one port (the core::Node, and the directory, relay or room-client roles). The
// Host routes each packet by its wire type to the part that takes it, drains
// every part's outputs in the core contract order (store, events, transmits)
// and keeps one wakeup at the earliest poll_timeout() of all of them.
#pragma once

#include "darkchat/host.hpp"

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dc::host {

class Part {
public:
    virtual ~Part() = default;

    // Whether packets of this wire type (wire::MsgType as a number) are for it.
    virtual bool takes(std::uint8_t type) const = 0;

    // Called once the socket is bound; bound is our listening address.
    virtual void start(TimeMs now, const Addr& bound) = 0;
    virtual void handle_datagram(TimeMs now, const Addr& from, ByteView data) = 0;
    // A packet framed over an inbound TCP connection (from is the peer's
    // ephemeral address). The roles treat both alike.
    virtual void handle_frame(TimeMs now, const Addr& from, ByteView data) { handle_datagram(now, from, data); }
    virtual void handle_timeout(TimeMs now) = 0;
    // The CPU use the driver measured (Host::handle_cpu); only a relay reports it.
    virtual void handle_cpu(const roles::CpuUse&) {}
    virtual std::optional<TimeMs> poll_timeout() const = 0;

    virtual std::optional<StoreOp> poll_store() { return std::nullopt; }
    // The store refused what poll_store() gave since the last drain (one or
    // more inputs: Host::poll_store() in host.hpp). A part
    // that can take back what rested on it does so, leaves in ops what is still
    // worth storing later, and returns true: its other events and transmits go
    // out as usual (liveness does not wait for the disk). false: the Host
    // holds back all its transmits of those inputs.
    virtual bool handle_store_failed(TimeMs, std::vector<StoreOp>&) { return false; }
    // Whether handle_store_failed() now would take back event e (polled already).
    virtual bool takes_back(const Event&) const { return false; }
    virtual std::optional<Event> poll_event() = 0;
    virtual std::optional<core::Transmit> poll_transmit() = 0;
    // The part is done (\quit): the driver exits once transmits are drained.
    virtual bool quitting() const { return false; }
    // Asked to stop: say goodbye through the transmits if there is anything
    // to say, then report quitting().
    virtual void handle_quit(TimeMs now) = 0;
};

// The user's node as a part: every type below the roles' range is its, and so
// is anything that does not parse (the node counts it as malformed).
std::unique_ptr<Part> make_node_part(std::unique_ptr<core::Node> node);

// Conversation groups beside the user's node: a part with no packets of its
// own (its messages ride on the node's chat; the Host carries them both ways,
// Host::settle) whose state is one store record per group. restore: the group
// states stored before; what cannot be read is said in `problems`.
std::unique_ptr<Part> make_groups_part(const Identity& identity, core::Crypto& crypto,
                                       const std::vector<GroupRecord>& restore, groups::Machine*& machine,
                                       std::vector<std::string>& problems);

// File transfers beside the user's node (darkchat-protocol(7), FILES): the part
// takes the file types (wire::kFirstFileType..kLastFileType: chunks straight from
// the other node), and sends what the Host puts in `frames` (chunks to the peer's
// address). Its control messages ride on the node's chat (Host::settle). Its state is
// one store record per transfer and side. restore: the states stored before; what
// cannot be read is said in `problems`.
// The file machine's cryptography on the node's (core::Crypto) for what they share.
std::unique_ptr<files::Crypto> make_files_crypto(core::Crypto& crypto);
std::unique_ptr<Part> make_files_part(const Identity& identity, core::Crypto& crypto, files::Peers* peers,
                                      const std::vector<FileRecord>& restore, files::Machine*& machine,
                                      std::deque<core::Transmit>& frames, std::vector<std::string>& problems);

// The role parts for these options: none for a user node without --dir or
// --relays; the room client beside the node of a user with them; the directory
// or the relay alone. port: our listening port. rooms: what the room client
// stored before (the store's snapshot). client: set to the room client made, if any.
struct RoleWiring {
    std::function<std::optional<PublicKey>(const std::string& user)> pinned;
    std::function<std::vector<Addr>(const std::string& user)> addresses;
};
Result<std::vector<std::unique_ptr<Part>>> make_role_parts(const RoleOptions& opts, const Identity& identity,
                                                           std::uint16_t port, core::Crypto& crypto,
                                                           std::uint64_t seed, RoleWiring wiring, RoomSnapshot rooms,
                                                           roles::RoomClient*& client);

}  // namespace dc::host
