#include "darkchat/cli.hpp"

#include "darkchat/crypto.hpp"

#include <algorithm>

namespace dc::cli {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::vector<std::string> words(std::string_view s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
        std::size_t j = i;
        while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
        if (j > i) out.emplace_back(s.substr(i, j - i));
        i = j;
    }
    return out;
}

std::string ago(TimeMs now, TimeMs then) {
    if (then <= 0) return "never";
    TimeMs s = std::max<TimeMs>(0, (now - then) / 1000);
    if (s < 60) return std::to_string(s) + "s ago";
    if (s < 3600) return std::to_string(s / 60) + "m ago";
    if (s < 86400) return std::to_string(s / 3600) + "h ago";
    return std::to_string(s / 86400) + "d ago";
}

}  // namespace

std::string printable(std::string_view text, Backslash backslash) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    auto escape = [&](char kind, std::uint32_t v, int digits) {
        out += '\\';
        out += kind;
        for (int d = digits - 1; d >= 0; --d) out += hex[(v >> (4 * d)) & 0xf];
    };
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned char b = s[i];
        if (b < 0x80) {
            ++i;
            if (b == '\\') out += backslash == Backslash::doubled ? "\\\\" : "\\";
            else if (b == '\n') out += "\\n";
            else if (b == '\r') out += "\\r";
            else if (b == '\t') out += "\\t";
            else if (b < 0x20 || b == 0x7f) escape('x', b, 2);
            else out += static_cast<char>(b);
            continue;
        }
        // Well-formed UTF-8 (Unicode table 3-7): the length a lead byte starts
        // and the range of the byte after it; every later byte is 80..BF.
        std::size_t len = 0;
        unsigned char lo = 0x80, hi = 0xbf;
        if (b >= 0xc2 && b <= 0xdf) {
            len = 2;
        } else if (b >= 0xe0 && b <= 0xef) {
            len = 3;
            if (b == 0xe0) lo = 0xa0;  // no overlong forms
            if (b == 0xed) hi = 0x9f;  // no surrogates
        } else if (b >= 0xf0 && b <= 0xf4) {
            len = 4;
            if (b == 0xf0) lo = 0x90;  // no overlong forms
            if (b == 0xf4) hi = 0x8f;  // nothing above U+10FFFF
        }
        std::size_t k = 1;
        while (k < len && i + k < n && s[i + k] >= (k == 1 ? lo : 0x80) && s[i + k] <= (k == 1 ? hi : 0xbf)) ++k;
        if (k < len || len == 0) {
            out += "\xef\xbf\xbd";  // U+FFFD for the maximal subpart s[i, i + k)
            i += k;
            continue;
        }
        std::uint32_t cp = b & (0xffu >> (len + 1));
        for (k = 1; k < len; ++k) cp = (cp << 6) | (s[i + k] & 0x3fu);
        if ((cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
            escape('u', cp, 4);
        else
            out.append(text.substr(i, len));
        i += len;
    }
    return out;
}

std::string short_id(const MessageId& id) { return to_hex(ByteView(id.data(), 4)); }
std::string short_id(const SessionId& id) { return to_hex(ByteView(id.data(), 4)); }

Action parse_line(std::string_view raw, std::uint16_t own_port) {
    auto line = trim(raw);
    if (line.empty()) return action::Nothing{};
    if (line.front() != '\\') return action::Say{std::string(line)};
    auto w = words(line);
    const std::string& m = w[0];
    auto arity = [&](std::size_t lo, std::size_t hi, const char* usage) -> std::optional<Action> {
        if (w.size() - 1 < lo || w.size() - 1 > hi) return action::Problem{std::string("usage: ") + usage};
        return std::nullopt;
    };
    if (m == "\\help") return action::Help{};
    if (m == "\\users" || m == "\\online" || m == "\\offline") {
        if (auto p = arity(0, 0, m == "\\users" ? "\\users" : m == "\\online" ? "\\online" : "\\offline")) return *p;
        return action::List{m == "\\users" ? action::Which::all
                            : m == "\\online" ? action::Which::online
                                              : action::Which::offline};
    }
    if (m == "\\chat") {
        if (auto p = arity(0, 1, "\\chat <username>")) return *p;
        if (w.size() == 1) return action::SwitchChat{};
        if (!valid_user_name(w[1])) return action::Problem{"not a user name: " + w[1]};
        return action::SwitchChat{w[1]};
    }
    if (m == "\\add") {
        if (auto p = arity(1, 1, "\\add <username>")) return *p;
        if (!valid_user_name(w[1])) return action::Problem{"not a user name: " + w[1]};
        return action::Node{core::cmd::Add{w[1]}};
    }
    if (m == "\\ping") {
        if (auto p = arity(1, 2, "\\ping <ip> [port]")) return *p;
        std::uint16_t port = own_port;
        if (w.size() == 3) {
            auto a = Addr::parse("0.0.0.0:" + w[2]);
            if (!a || a->port == 0) return action::Problem{"not a port number: " + w[2]};
            port = a->port;
        }
        if (auto a = Addr::parse(w[1], port)) {
            if (w.size() == 3) a->port = port;
            return action::Node{core::cmd::Ping{*a}};
        }
        // A host name: resolved by the driver.
        if (w[1].size() > 253 || w[1].find_first_of("[]/") != std::string::npos)
            return action::Problem{"not an address or host name: " + w[1]};
        return action::Resolve{w[1], port};
    }
    if (m == "\\explode") {
        if (auto p = arity(0, 0, "\\explode")) return *p;
        return action::Node{core::cmd::Explode{}};
    }
    if (m == "\\quit" || m == "\\exit") return action::Node{core::cmd::Quit{}};
    if (m == "\\keys") {
        if (auto p = arity(0, 1, "\\keys [username]")) return *p;
        return action::Keys{w.size() == 2 ? w[1] : std::string()};
    }
    if (m == "\\trust") {
        if (w.size() < 3) return action::Problem{"usage: \\trust <username> <fingerprint>"};
        if (!valid_user_name(w[1])) return action::Problem{"not a user name: " + w[1]};
        std::string fp;
        for (std::size_t i = 2; i < w.size(); ++i) fp += (i > 2 ? " " : "") + w[i];
        return action::Node{core::cmd::Trust{w[1], fp}};
    }
    if (m == "\\request") {
        if (w.size() < 2) return action::Problem{"usage: \\request <username> [<username>...]"};
        roles::room_cmd::Request r;
        for (std::size_t i = 1; i < w.size(); ++i) {
            if (!valid_user_name(w[i])) return action::Problem{"not a user name: " + w[i]};
            if (std::find(r.users.begin(), r.users.end(), w[i]) == r.users.end()) r.users.push_back(w[i]);
        }
        return action::Room{r};
    }
    if (m == "\\accept" || m == "\\decline") {
        bool accept = m == "\\accept";
        if (auto p = arity(0, 1, accept ? "\\accept [username]" : "\\decline [username]")) return *p;
        std::string from = w.size() == 2 ? w[1] : std::string();
        if (!from.empty() && !valid_user_name(from)) return action::Problem{"not a user name: " + from};
        if (accept) return action::Room{roles::room_cmd::Accept{from}};
        return action::Room{roles::room_cmd::Decline{from}};
    }
    if (m == "\\rooms") {
        if (auto p = arity(0, 0, "\\rooms")) return *p;
        return action::Rooms{};
    }
    if (m == "\\room" || m == "\\leave") {
        bool room = m == "\\room";
        if (auto p = arity(0, 1, room ? "\\room <id-prefix>" : "\\leave [id-prefix]")) return *p;
        std::string prefix = w.size() == 2 ? w[1] : std::string();
        if (prefix.size() > 32 || prefix.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
            return action::Problem{"not a room id: " + prefix + " (\\rooms lists them)"};
        std::transform(prefix.begin(), prefix.end(), prefix.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
        if (room) return action::SwitchRoom{prefix};
        return action::Leave{prefix};
    }
    if (m == "\\relays") {
        if (auto p = arity(0, 0, "\\relays")) return *p;
        return action::Relays{};
    }
    return action::Problem{"unknown macro " + m + " (\\help lists them)"};
}

std::string help_text() {
    return "\\help                 show this list\n"
           "\\chat <username>      talk to <username>: lines without '\\' go to all its online sessions\n"
           "\\users                known users, online or not\n"
           "\\online               known users that are online\n"
           "\\offline              known users that are offline\n"
           "\\add <username>       link to <username> and find where it is\n"
           "\\ping <ip> [port]     ask the node at ip:port (default: our own port) to declare itself\n"
           "\\explode              push our declaration along every path of length 2; all reached answer\n"
           "\\keys [username]      fingerprints of pinned keys, and any other key seen under a name\n"
           "\\trust <user> <fp>    accept the new key with fingerprint <fp> for <user> (check it first)\n"
           "\\request <user>...    ask the directory for a room with these users (the stages follow)\n"
           "\\accept [user]        accept the chat request of <user> (or the only open one)\n"
           "\\decline [user]       decline it\n"
           "\\rooms                our rooms: id, relay, epoch, members\n"
           "\\room <id-prefix>     lines without '\\' go to that room (\\chat <user> switches back)\n"
           "\\leave [id-prefix]    leave that room (default: the current one)\n"
           "\\relays               the relays we know, with our measured round-trip times\n"
           "\\quit or \\exit        declare ourselves offline and leave\n";
}

std::string render(const core::Event& e) {
    return std::visit(
        [](auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, core::ev::Ready>) {
                return "* ready: " + printable(x.user) + " at " + x.addr.to_string() + " (session " + short_id(x.session) + ")";
            } else if constexpr (std::is_same_v<T, core::ev::Presence>) {
                return std::string("* ") + (x.online ? "online " : "offline ") + printable(x.user) + " " +
                       x.addr.to_string() + " session " + short_id(x.session) + " (" +
                       printable(x.why, Backslash::kept) + ")";
            } else if constexpr (std::is_same_v<T, core::ev::Message>) {
                std::string from = printable(x.msg.from), text = printable(x.msg.text);
                if (x.untrusted) return "<" + from + "?> " + text + "   [not " + from + "'s pinned key]";
                if (x.outgoing) return "<" + from + " -> " + printable(x.msg.to) + "> " + text;
                return "<" + from + "> " + text;
            } else if constexpr (std::is_same_v<T, core::ev::KeyWarning>) {
                std::string user = printable(x.user);
                return "! WARNING: a message signed by another key for " + user + " (" + crypto::fingerprint(x.seen) +
                       "; pinned " + crypto::fingerprint(x.pinned) + "). Its messages are marked " + user +
                       "?. Check the fingerprint with " + user + " in person, then \\trust " + user + " <fingerprint>";
            } else if constexpr (std::is_same_v<T, core::ev::Queued>) {
                std::string to = printable(x.to);
                return "* queued " + short_id(x.id) + " to " + to +
                       (x.recipient_online ? "" : " (offline: sent when " + to + " is back)");
            } else if constexpr (std::is_same_v<T, core::ev::Delivered>) {
                return "* delivered " + short_id(x.id) + " to " + printable(x.to);
            } else if constexpr (std::is_same_v<T, core::ev::Linked>) {
                return x.by_them ? "* " + printable(x.user) + " linked you" : "* linked " + printable(x.user);
            } else if constexpr (std::is_same_v<T, core::ev::Explored>) {
                return "* explode: " + std::to_string(x.answers) + (x.answers == 1 ? " answer" : " answers");
            } else if constexpr (std::is_same_v<T, core::ev::Notice>) {
                return "* " + printable(x.text, Backslash::kept);
            } else {
                return "! " + printable(x.text, Backslash::kept);
            }
        },
        e);
}

namespace {

std::string join_names(const std::vector<std::string>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + printable(v[i]);
    return s;
}

}  // namespace

std::string render(const roles::RoomEvent& e) {
    return std::visit(
        [](auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            namespace re = roles::room_ev;
            if constexpr (std::is_same_v<T, re::DirectoryUp>) {
                return "* directory " + x.addr.to_string() + " answers";
            } else if constexpr (std::is_same_v<T, re::DirectoryLost>) {
                return "* directory " + x.addr.to_string() + " lost (rooms go on on their relays)";
            } else if constexpr (std::is_same_v<T, re::RequestStage>) {
                std::string s = "* request " + printable(x.user) + ": " + roles::stage_name(x.stage);
                if (!x.detail.empty()) s += " (" + printable(x.detail) + ")";
                return s;
            } else if constexpr (std::is_same_v<T, re::Invited>) {
                std::string from = printable(x.from);
                std::string s = "* " + from + " asks for a chat";
                if (!x.others.empty()) s += " (with " + join_names(x.others) + ")";
                return s + ": \\accept " + from + " or \\decline " + from;
            } else if constexpr (std::is_same_v<T, re::InviteGone>) {
                return "* the chat request of " + printable(x.from) + " is gone (withdrawn or timed out)";
            } else if constexpr (std::is_same_v<T, re::RoomJoined>) {
                return "* room " + roles::short_id(x.room) + " on relay " + x.relay.to_string() + " with " +
                       join_names(x.members);
            } else if constexpr (std::is_same_v<T, re::RoomMoved>) {
                std::string why = roles::move_reason_name(x.reason);
                if (x.reason == roles::MoveReason::better && x.old_ms && x.new_ms)
                    why += ": " + std::to_string(x.new_ms) + " ms instead of " + std::to_string(x.old_ms) + " ms";
                return "* room " + roles::short_id(x.room) + " moved to relay " + x.to.to_string() + " (" + why + ")";
            } else if constexpr (std::is_same_v<T, re::MemberChange>) {
                return "* room " + roles::short_id(x.room) + ": " + printable(x.user) + (x.joined ? " joined" : " left");
            } else if constexpr (std::is_same_v<T, re::RoomLeft>) {
                return "* left room " + roles::short_id(x.room);
            } else if constexpr (std::is_same_v<T, re::Line>) {
                if (x.outgoing) return "* delivered to room " + roles::short_id(x.room) + ": " + printable(x.text);
                return "[" + roles::short_id(x.room) + "] <" + printable(x.author) + "> " + printable(x.text);
            } else if constexpr (std::is_same_v<T, re::Notice>) {
                return "* " + printable(x.text, Backslash::kept);
            } else {
                return "! " + printable(x.text, Backslash::kept);
            }
        },
        e);
}

std::string render_room(const roles::RoomView& r, const std::string& self) {
    std::vector<std::string> others;
    for (auto& m : r.members)
        if (m != self) others.push_back(m);
    std::string s = roles::short_id(r.room) + " on relay " + r.relay.to_string() + " epoch " +
                    std::to_string(r.epoch) + " with " + join_names(others) + (r.joined ? " (joined" : " (joining");
    if (r.unacked) s += ", " + std::to_string(r.unacked) + " unacked";
    return s + ")";
}

std::string render_relay(const roles::RelayView& r) {
    std::string s = r.addr.to_string() + (r.rtt_ms ? " rtt " + std::to_string(*r.rtt_ms) + " ms" : " no answer");
    bool keyed = std::any_of(r.key.begin(), r.key.end(), [](std::uint8_t b) { return b != 0; });
    if (keyed) s += " key " + crypto::fingerprint(r.key);
    return s;
}

std::vector<roles::RoomView> find_rooms(const std::vector<roles::RoomView>& rooms, std::string_view prefix) {
    std::vector<roles::RoomView> out;
    for (auto& r : rooms)
        if (to_hex(r.room).compare(0, prefix.size(), prefix) == 0) out.push_back(r);
    return out;
}

bool matches(const core::UserView& u, action::Which which) {
    if (which == action::Which::all) return true;
    return u.online() == (which == action::Which::online);
}

std::string render_key(const core::KeyView& k) {
    std::string s = printable(k.user) + " " + (k.pinned ? crypto::fingerprint(*k.pinned) : std::string("(no key yet)"));
    if (k.other) s += " | ANOTHER KEY SEEN: " + crypto::fingerprint(*k.other) + " (not trusted)";
    return s;
}

std::string render_user(const core::UserView& u, TimeMs now) {
    std::string s = printable(u.name) + (u.online() ? " online" : " offline");
    if (u.contact) s += " contact";
    if (u.linked_us) s += " linked-you";
    if (u.two_hop) {
        s += " via";
        for (std::size_t i = 0; i < u.via.size(); ++i) s += (i ? "," : " ") + printable(u.via[i]);
    }
    s += " |";
    if (u.sessions.empty()) s += " no known session";
    for (auto& x : u.sessions) {
        s += " " + x.addr.to_string() + (x.online ? " online" : " offline") + " seen " + ago(now, x.last_seen);
        if (x.super_client) s += " super-client";
        s += ";";
    }
    if (s.back() == ';') s.pop_back();
    return s;
}

}  // namespace dc::cli
