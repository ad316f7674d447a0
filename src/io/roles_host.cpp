// The role machines of issue 5 (directory, relay, room client) as Machines of
// the driver. The directory and a relay log one line per event (their ready
// line first); the room client's events become the lines of darkchat(1).
#include "machine.hpp"

#include "darkchat/cli.hpp"
#include "darkchat/crypto.hpp"
#include "darkchat/wire.hpp"

#include <deque>

namespace dc::io {

namespace {

// What the three adapters share: role packets, the sans-IO calls passed on
// to the role machine R, lines said before its own events, and a quit that
// needs no goodbye.
template <typename R>
class RoleMachine : public Machine {
public:
    template <typename Config, typename... More>
    RoleMachine(const Config& cfg, const Identity& id, std::uint64_t seed, More&&... more)
        : role_(cfg, id, core::real_crypto(), seed, std::forward<More>(more)...) {}

    bool takes(std::uint8_t type) const override { return wire::is_role_type(static_cast<wire::MsgType>(type)); }
    void handle_datagram(TimeMs now, const Addr& from, ByteView data) override { role_.handle_datagram(now, from, data); }
    void handle_timeout(TimeMs now) override { role_.handle_timeout(now); }
    std::optional<TimeMs> poll_timeout() const override { return role_.poll_timeout(); }
    std::optional<core::Transmit> poll_transmit() override { return role_.poll_transmit(); }
    bool quitting() const override { return quitting_; }
    void handle_quit(TimeMs) override { quitting_ = true; }

protected:
    // The ready lines first, then one line per event ("* relay 127.0.0.1:7401 up").
    std::optional<std::string> poll_log_line() {
        if (!lines_.empty()) {
            std::string l = std::move(lines_.front());
            lines_.pop_front();
            return l;
        }
        if (auto e = role_.poll_event()) return "* " + roles::describe(*e);
        return std::nullopt;
    }
    R role_;
    std::deque<std::string> lines_;
    bool quitting_ = false;
};

class DirectoryMachine final : public RoleMachine<roles::Directory> {
public:
    DirectoryMachine(const roles::DirectoryConfig& cfg, const Identity& id, std::uint64_t seed)
        : RoleMachine(cfg, id, seed), cfg_(cfg) {}

    void start(TimeMs, const Addr& bound) override {
        lines_.push_back("* ready: directory at " + bound.to_string());
        lines_.push_back("* key " + crypto::fingerprint(role_.identity().pk) + ", strategy " +
                         roles::strategy_name(cfg_.strategy) + ", pass every " + std::to_string(cfg_.pass_interval) +
                         " ms, relay timeout " + std::to_string(cfg_.relay_timeout) + " ms");
    }
    std::optional<std::string> poll_line() override { return poll_log_line(); }

private:
    roles::DirectoryConfig cfg_;
};

class RelayMachine final : public RoleMachine<roles::Relay> {
public:
    RelayMachine(const roles::RelayConfig& cfg, const Identity& id, std::uint64_t seed)
        : RoleMachine(cfg, id, seed), cfg_(cfg) {}

    void start(TimeMs now, const Addr& bound) override {
        lines_.push_back("* ready: relay at " + bound.to_string());
        lines_.push_back("* key " + crypto::fingerprint(role_.identity().pk) +
                         (cfg_.directory ? ", directory " + cfg_.directory->to_string()
                                         : std::string(", no directory: tickets signed by a member admit")) +
                         ", at most " + std::to_string(cfg_.max_rooms) + " rooms");
        role_.handle_start(now);
    }
    std::optional<std::string> poll_line() override { return poll_log_line(); }

private:
    roles::RelayConfig cfg_;
};

class ClientMachine final : public RoleMachine<roles::RoomClient> {
public:
    ClientMachine(const roles::RoomClientConfig& cfg, const Identity& id, std::uint64_t seed, RoomEventHook& hook,
                  RoomSnapshot rooms)
        : RoleMachine(cfg, id, seed, std::move(rooms)), hook_(hook) {}
    roles::RoomClient& client() { return role_; }

    void start(TimeMs now, const Addr&) override { role_.handle_start(now); }
    std::optional<StoreOp> poll_store() override { return role_.poll_store(); }
    std::optional<std::string> poll_line() override {
        auto e = role_.poll_event();
        if (!e) return std::nullopt;
        if (hook_) hook_(*e);
        return cli::render(*e);
    }
    // Rooms with nothing left to deliver are left (the others see us go at once); the
    // rest are kept for the next start (RoomClient::handle_quit).
    void handle_quit(TimeMs now) override {
        role_.handle_quit(now);
        quitting_ = true;
    }

private:
    RoomEventHook& hook_;
};

}  // namespace

Result<Roles> make_roles(const RoleOptions& opts, const Identity& identity, std::uint16_t port, std::uint64_t seed,
                         RoomEventHook& hook, RoomSnapshot rooms) {
    Roles out;
    switch (opts.role) {
        case Role::directory: {
            roles::DirectoryConfig cfg;
            cfg.port = port;
            if (!opts.strategy.empty()) {
                auto s = roles::parse_strategy(opts.strategy);
                if (!s) return err("unknown strategy '" + opts.strategy + "'");
                cfg.strategy = *s;
            }
            if (opts.pass_interval > 0) cfg.pass_interval = opts.pass_interval;
            if (opts.relay_timeout > 0) cfg.relay_timeout = opts.relay_timeout;
            out.machines.push_back(std::make_unique<DirectoryMachine>(cfg, identity, seed));
            break;
        }
        case Role::relay: {
            roles::RelayConfig cfg;
            cfg.port = port;
            cfg.directory = opts.directory;
            if (opts.max_rooms > 0) cfg.max_rooms = opts.max_rooms;
            out.machines.push_back(std::make_unique<RelayMachine>(cfg, identity, seed));
            break;
        }
        case Role::user: {
            if (!opts.directory && opts.relays.empty()) break;  // no rooms: the node alone
            roles::RoomClientConfig cfg;
            cfg.port = port;
            cfg.directory = opts.directory;
            cfg.relays = opts.relays;
            cfg.pinned = opts.pinned;
            cfg.addresses = opts.addresses;
            auto m = std::make_unique<ClientMachine>(cfg, identity, seed, hook, std::move(rooms));
            out.client = &m->client();
            out.machines.push_back(std::move(m));
            break;
        }
    }
    return out;
}

}  // namespace dc::io
