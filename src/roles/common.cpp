// Names and log lines shared by the three role machines.

#include "darkchat/roles.hpp"

namespace dc::roles {

namespace {

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v) {
        if (!s.empty()) s += ", ";
        s += x;
    }
    return s;
}

template <class... F>
struct Overload : F... {
    using F::operator()...;
};
template <class... F>
Overload(F...) -> Overload<F...>;

// A permille as a percentage with one decimal: 37 -> "3.7".
std::string tenths(std::uint32_t permille) {
    return std::to_string(permille / 10) + "." + std::to_string(permille % 10);
}

}  // namespace

std::string short_id(const RoomId& id) { return to_hex(ByteView(id).first(4)); }

const char* stage_name(Stage s) {
    switch (s) {
    case Stage::ack_conn: return "ACK_CONN";
    case Stage::user_not_found: return "USER_NOT_FOUND";
    case Stage::req_sent: return "REQ_SENT";
    case Stage::awaiting_req: return "AWAITING_REQ";
    case Stage::req_accepted: return "REQ_ACCEPTED";
    case Stage::declined: return "DECLINED";
    case Stage::timed_out: return "TIMED_OUT";
    case Stage::server_err: return "SERVER_ERR";
    }
    return "UNKNOWN";
}

bool final_stage(Stage s) {
    return s == Stage::user_not_found || s == Stage::req_accepted || s == Stage::declined ||
           s == Stage::timed_out || s == Stage::server_err;
}

const char* move_reason_name(MoveReason r) {
    switch (r) {
    case MoveReason::relay_died: return "relay died";
    case MoveReason::better: return "better";
    case MoveReason::unreachable: return "unreachable for a member";
    }
    return "relay died";
}

MoveReason move_reason_of(std::uint8_t wire_reason) {
    switch (wire_reason) {
    case static_cast<std::uint8_t>(MoveReason::better): return MoveReason::better;
    case static_cast<std::uint8_t>(MoveReason::unreachable): return MoveReason::unreachable;
    default: return MoveReason::relay_died;
    }
}

std::string describe(const DirectoryEvent& e) {
    return std::visit(
        Overload{
            [](const dir_ev::RelayUp& x) { return "relay " + x.addr.to_string() + " up"; },
            [](const dir_ev::RelayDown& x) { return "relay " + x.addr.to_string() + " out of service"; },
            [](const dir_ev::ClientUp& x) { return "client " + x.user + " registered from " + x.addr.to_string(); },
            [](const dir_ev::ClientDown& x) { return "client " + x.user + " gone"; },
            [](const dir_ev::RequestStage& x) {
                return "request " + x.from + " -> " + x.to + ": " + stage_name(x.stage);
            },
            [](const dir_ev::ChatCreated& x) {
                std::string s = "chat " + short_id(x.room) + " on relay " + x.relay.to_string() + " with " + join(x.members);
                if (x.load.cpu.cores > 0)
                    s += " (relay cpu " + tenths(x.load.cpu.self) + "%, machine " + tenths(x.load.cpu.machine) + "% of " +
                         std::to_string(x.load.cpu.cores) + " cores)";
                return s;
            },
            [](const dir_ev::ChatMoved& x) {
                std::string s = "chat " + short_id(x.room) + " moved from " + x.from.to_string() + " to " +
                                x.to.to_string() + " (" + move_reason_name(x.reason);
                if (x.reason == MoveReason::better)
                    s += ": " + std::to_string(x.new_ms) + " ms instead of " + std::to_string(x.old_ms) + " ms";
                return s + ")";
            },
            [](const dir_ev::ChatEnded& x) { return "chat " + short_id(x.room) + " ended"; },
            [](const dir_ev::Notice& x) { return x.text; },
        },
        e);
}

std::string describe(const RelayEvent& e) {
    return std::visit(
        Overload{
            [](const relay_ev::DirectoryUp& x) { return "directory " + x.addr.to_string() + " answers"; },
            [](const relay_ev::DirectoryLost& x) { return "directory " + x.addr.to_string() + " lost"; },
            [](const relay_ev::RoomOpened& x) { return "room " + short_id(x.room) + " opened for " + join(x.members); },
            [](const relay_ev::MemberJoined& x) {
                return "room " + short_id(x.room) + ": " + x.user + " joined from " + x.addr.to_string();
            },
            [](const relay_ev::MemberLeft& x) { return "room " + short_id(x.room) + ": " + x.user + " left"; },
            [](const relay_ev::RoomClosed& x) { return "room " + short_id(x.room) + " closed"; },
            [](const relay_ev::Notice& x) { return x.text; },
        },
        e);
}

}  // namespace dc::roles
