#include "darkchat/cli.hpp"

#include "darkchat/crypto.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>

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

// What follows the first n words of s, trimmed, its inner spaces kept (a
// group's title may have several words).
std::string rest_after(std::string_view s, std::size_t n) {
    std::size_t i = 0;
    for (std::size_t k = 0; k < n; ++k) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    }
    return std::string(trim(s.substr(i)));
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
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

bool id_prefix(std::string_view s) {
    return s.size() <= 32 && s.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    return out;
}

// The macros of conversation groups; none when m is not one of them.
std::optional<Action> parse_group_macro(std::string_view line, const std::vector<std::string>& w) {
    const std::string& m = w[0];
    auto problem = [](std::string text) -> Action { return action::Problem{std::move(text)}; };
    if (m == "\\connect") {
        if (w.size() < 2 || w.size() > 3) return problem("usage: \\connect <username> [private]");
        if (!valid_user_name(w[1])) return problem("not a user name: " + w[1]);
        if (w.size() == 3 && w[2] != "private" && w[2] != "public") return problem("usage: \\connect <username> [private]");
        return action::Connect{w[1], w.size() == 3 && w[2] == "private" ? groups::Kind::pair : groups::Kind::open};
    }
    if (m == "\\yes" || m == "\\no") {
        action::Answer a{m == "\\yes", std::nullopt, {}};
        std::size_t next = 1;
        if (w.size() > 1 && all_digits(w[1])) {
            std::uint64_t n = 0;
            auto [end, ec] = std::from_chars(w[1].data(), w[1].data() + w[1].size(), n);
            if (ec != std::errc() || end != w[1].data() + w[1].size()) return problem("not a request number: " + w[1]);
            a.request = n;
            next = 2;
        }
        a.group = rest_after(line, next);
        if (!a.yes && !a.group.empty()) return problem("usage: \\no [N]");
        return a;
    }
    if (m == "\\invite" || m == "\\remove") {
        const bool invite = m == "\\invite";
        if (w.size() < 2) return problem(invite ? "usage: \\invite <username> [group]" : "usage: \\remove <username> [group]");
        if (!valid_user_name(w[1])) return problem("not a user name: " + w[1]);
        if (invite) return action::Invite{w[1], rest_after(line, 2)};
        return action::Remove{w[1], rest_after(line, 2)};
    }
    if (m == "\\groups") {
        if (w.size() != 1) return problem("usage: \\groups");
        return action::Groups{};
    }
    if (m == "\\members") return action::Members{rest_after(line, 1)};
    if (m == "\\group") return action::SwitchGroup{rest_after(line, 1)};
    if (m == "\\via") {
        if (w.size() < 2 || (w[1] != "relay" && w[1] != "peers")) return problem("usage: \\via relay|peers [group]");
        return action::Via{w[1] == "relay", rest_after(line, 2)};
    }
    if (m == "\\title") {
        std::string title = rest_after(line, 1);
        if (title.empty()) return problem("usage: \\title <text>");
        if (title.size() > wire::kMaxGroupTitle)
            return problem("a group title is at most " + std::to_string(wire::kMaxGroupTitle) + " bytes (this one has " +
                           std::to_string(title.size()) + ")");
        return action::Rename{std::move(title)};
    }
    return std::nullopt;
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

namespace {

// Every macro: parse_line takes no other (any other is refused as unknown),
// and Tab completes these names (macro_names()).
constexpr std::string_view kMacros[] = {
    "\\help", "\\chat", "\\users", "\\online", "\\offline", "\\add", "\\ping", "\\explode", "\\keys", "\\trust",
    "\\request", "\\accept", "\\decline", "\\send", "\\fetch", "\\files", "\\unhold", "\\cancel", "\\rooms", "\\room", "\\relays",
    "\\connect", "\\yes", "\\no",
    "\\groups", "\\group", "\\members", "\\invite", "\\remove", "\\title", "\\via", "\\leave", "\\history", "\\quit",
    "\\exit",
};

}  // namespace

std::span<const std::string_view> macro_names() { return kMacros; }

Action parse_line(std::string_view raw, std::uint16_t own_port) {
    auto line = trim(raw);
    if (line.empty()) return action::Nothing{};
    if (line.front() != '\\') return action::Say{std::string(line)};
    auto w = words(line);
    const std::string& m = w[0];
    if (std::find(std::begin(kMacros), std::end(kMacros), m) == std::end(kMacros))
        return action::Problem{"unknown macro " + m + " (\\help lists them)"};
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
    if (m == "\\send") {
        std::string path = rest_after(line, 1);
        if (path.empty()) return action::Problem{"usage: \\send <path>"};
        return action::SendFile{path};
    }
    if (m == "\\fetch") {
        std::string name = rest_after(line, 1);
        if (name.empty()) return action::Problem{"usage: \\fetch <file name>"};
        return action::Fetch{name};
    }
    if (m == "\\cancel") {
        if (auto p = arity(1, 1, "\\cancel <file id>")) return *p;
        if (!id_prefix(w[1])) return action::Problem{"usage: \\cancel <file id> (hex, as \\files shows it)"};
        return action::CancelFile{w[1]};
    }
    if (m == "\\unhold") {
        if (auto p = arity(1, 1, "\\unhold <file id>")) return *p;
        if (!id_prefix(w[1])) return action::Problem{"usage: \\unhold <file id> (hex, as \\files shows it)"};
        return action::Unhold{w[1]};
    }
    if (m == "\\files") {
        if (auto p = arity(0, 0, "\\files")) return *p;
        return action::Files{};
    }
    if (m == "\\rooms") {
        if (auto p = arity(0, 0, "\\rooms")) return *p;
        return action::Rooms{};
    }
    if (m == "\\room") {
        if (auto p = arity(0, 1, "\\room <id-prefix>")) return *p;
        std::string prefix = w.size() == 2 ? w[1] : std::string();
        if (!id_prefix(prefix)) return action::Problem{"not a room id: " + prefix + " (\\rooms lists them)"};
        return action::SwitchRoom{lower(prefix)};
    }
    // A group's title may be any words: the session tells groups from rooms.
    if (m == "\\leave") return action::Leave{rest_after(line, 1)};
    if (auto a = parse_group_macro(line, w)) return *a;
    if (m == "\\relays") {
        if (auto p = arity(0, 0, "\\relays")) return *p;
        return action::Relays{};
    }
    if (m == "\\history") {
        // The words name a user, a group (title or id prefix) or a room (id
        // prefix); a last word of digits is the count, unless it is the only
        // word and longer than any count: an id of decimal digits alone
        // (\history 20816394) names a room or group.
        const char* usage = "usage: \\history [user|group|room] [n] (n from 1 to 1000, default 20)";
        action::History h;
        std::size_t words = w.size();
        const bool lone_id = words == 2 && w.back().size() > 4;
        if (words > 1 && all_digits(w.back()) && !lone_id) {
            std::size_t n = 0;
            auto [end, ec] = std::from_chars(w.back().data(), w.back().data() + w.back().size(), n);
            if (ec != std::errc() || end != w.back().data() + w.back().size() || n < 1 || n > action::kHistoryMax)
                return action::Problem{usage};
            h.count = n;
            --words;
        }
        std::string which = rest_after(line, 1);
        if (words < w.size()) which = std::string(trim(std::string_view(which).substr(0, which.size() - w.back().size())));
        h.which = which;
        return h;
    }
    return action::Problem{"unknown macro " + m + " (\\help lists them)"};  // in kMacros, but not parsed: a bug
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
           "\\accept [user|id]     accept the chat request of <user> (or the only open one), or the file offer id\n"
           "\\decline [user|id]    decline it\n"
           "\\send <path>          offer the file at <path> to the chat partner, or share it with the current group or room\n"
           "\\fetch <name>         ask the current group's or room's members for the file shared there as <name>\n"
           "\\files                file transfers: id, direction, peer, name, state, percent\n"
           "\\unhold <id>          stop serving the file <id> held for a group or room (the file stays)\n"
           "\\cancel <id>          stop the transfer or offer <id> that \\files lists (its peer is told)\n"
           "\\rooms                our rooms: id, relay, epoch, members\n"
           "\\room <id-prefix>     lines without '\\' go to that room (\\chat <user> switches back)\n"
           "\\relays               the relays we know, with our measured round-trip times\n"
           "\\connect <user> [private]  ask <user> into a new group (private: for the two of you only)\n"
           "\\yes [N] [group]      say yes to request N (or the only one), into a new group or that one\n"
           "\\no [N]               say no to it\n"
           "\\groups               our groups: id, title, kind, epoch, members, coordinator\n"
           "\\group [group]        lines without '\\' go to that group (by id prefix or title)\n"
           "\\members [group]      the members of the group (default: the current one), coordinator first\n"
           "\\invite <user> [grp]  invite <user> into the group (default: the current one)\n"
           "\\remove <user> [grp]  remove <user> from it (the coordinator does)\n"
           "\\title <text>         give the current group a title everyone sees\n"
           "\\via relay|peers [g]  (coordinator) the group's lines through our best relay, or member to member\n"
           "\\leave [group|room]   leave that group or room (default: the current one)\n"
           "\\history [who] [n]    the last n (20) messages with a user, or lines of a group or room\n"
           "\\quit or \\exit        declare ourselves offline and leave\n";
}

namespace {

// "2026-12-07 06:40 ": when a stored message or line was stored here (UTC).
std::string stamp(TimeMs stored) {
    using namespace std::chrono;
    const sys_time<milliseconds> t{milliseconds{stored}};
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{floor<minutes>(t - day)};
    char when[32];
    std::snprintf(when, sizeof when, "%04d-%02u-%02u %02ld:%02ld ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()));
    return when;
}

}  // namespace

std::string render_history(const HistoryRecord& m, const std::string& self) {
    return stamp(m.stored) + render(core::Event{core::ev::Message{m, m.from == self, false}});
}

std::string render_history(const LineRecord& l, const GroupNames& names) {
    if (l.room)
        return stamp(l.stored) +
               render(roles::RoomEvent{roles::room_ev::Line{l.conversation, l.author, l.text, l.sent, {}, l.own}});
    // The name it was shown under, when the key has none here any more.
    GroupNames n = names;
    n.name = [&](const PublicKey& key) {
        std::string name = names.name ? names.name(key) : std::string();
        return name.empty() && key == l.author_key ? l.author : name;
    };
    return stamp(l.stored) + render(groups::Event{groups::ev::Line{l.conversation, 0, l.author_key, l.author, 0, l.text, l.own}}, n);
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
            } else if constexpr (std::is_same_v<T, core::ev::Held>) {
                return "* held " + short_id(x.id) + " for " + printable(x.to) + " by " + printable(x.holder);
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

bool id_starts_with(const std::array<std::uint8_t, 16>& id, std::string_view prefix) {
    return to_hex(id).compare(0, prefix.size(), lower(prefix)) == 0;
}

std::vector<roles::RoomView> find_rooms(const std::vector<roles::RoomView>& rooms, std::string_view prefix) {
    std::vector<roles::RoomView> out;
    for (auto& r : rooms)
        if (id_starts_with(r.room, prefix)) out.push_back(r);
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
