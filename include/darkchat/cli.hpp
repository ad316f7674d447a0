// The terminal front end of darkchat: parsing one input line into an action and
// rendering one event as one output line. No I/O here.
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/groups.hpp"
#include "darkchat/roles.hpp"

#include <functional>
#include <span>
#include <string_view>

namespace dc::cli {

namespace action {
struct Node { core::Command command; };    // for the node
struct Resolve { std::string host; std::uint16_t port = 0; };  // \ping <hostname>: resolve, then ping
struct Help {};
enum class Which { all, online, offline };
struct List { Which which = Which::all; };  // \users \online \offline
struct SwitchChat { std::string user; };    // \chat <user>; empty: show the current partner
struct Say { std::string text; };           // a line without '\': to the current partner
struct Keys { std::string user; };          // \keys [user]; empty: everyone
struct Problem { std::string text; };       // the line was wrong; say why
struct Nothing {};
// Directory and relays (roles.hpp): for the room client. A Request's peers are
// filled in by the driver from what the node knows.
struct Room { roles::RoomCommand command; };  // \request \accept \decline
struct Rooms {};                            // \rooms
struct SwitchRoom { std::string prefix; };  // \room <id-prefix>; empty: show the current room
// \leave [<group or id-prefix>]: a group (id prefix or title) or a room (id
// prefix), as typed; empty: the current group, else the current room. Only
// the session knows which of them the words name.
struct Leave { std::string prefix; };
struct Relays {};                           // \relays
// Conversation groups (groups.hpp, darkchat-groups(7)). A group is named by a
// prefix of its id in hex or by its title (group below; empty: the current
// group), resolved by the session with find_groups().
struct Connect { std::string user; groups::Kind kind = groups::Kind::open; };  // \connect <user> [private]
struct Answer {                             // \yes [N] [group], \no [N]
    bool yes = false;
    std::optional<std::uint64_t> request;   // none: the only request waiting
    std::string group;                      // take the asker into this group; empty: a new one
};
struct Invite { std::string user; std::string group; };  // \invite <user> [group]
struct Remove { std::string user; std::string group; };  // \remove <user> [group]
struct Groups {};                                       // \groups
struct Members { std::string group; };                  // \members [group]
struct SwitchGroup { std::string group; };              // \group [group]; empty: show the conversation
struct Rename { std::string title; };                   // \title <text>: the current group
struct Via { bool relay = false; std::string group; };  // \via relay|peers [group]
// \history [user|group|room] [n]: the newest n stored messages with a user, or
// lines of a group (title or id prefix) or a room (id prefix), as typed; empty:
// the current conversation. Only the session knows which of them the words name.
inline constexpr std::size_t kHistoryDefault = 20, kHistoryMax = 1000;
struct History { std::string which; std::size_t count = kHistoryDefault; };
// File transfers (files.hpp, darkchat-protocol(7), FILES). \accept and \decline take a
// file's id prefix too: the session tells an offer from a room request.
struct SendFile { std::string path; };  // \send <path>: to the chat partner, or shared with the current group
struct Fetch { std::string name; };     // \fetch <name>: a file shared in the current group, asked for by name
struct Files {};                        // \files
struct Unhold { std::string id; };      // \unhold <id>: stop serving a file held for its group or room
struct CancelFile { std::string id; };  // \cancel <id>: stop a transfer or an offer, sending or receiving
}  // namespace action

using Action = std::variant<action::Node, action::Resolve, action::Help, action::List, action::SwitchChat,
                            action::Say, action::Keys, action::Problem, action::Nothing, action::Room,
                            action::Rooms, action::SwitchRoom, action::Leave, action::Relays, action::Connect,
                            action::Answer, action::Invite, action::Remove, action::Groups, action::Members,
                            action::SwitchGroup, action::Rename, action::Via, action::History,
                            action::SendFile, action::Fetch, action::Files, action::Unhold, action::CancelFile>;

// Every macro name parse_line takes, with its backslash (\chat ...), in the
// order \help lists them.
std::span<const std::string_view> macro_names();

// own_port is the default port of \ping (seed 001: "the current instance's incoming").
Action parse_line(std::string_view line, std::uint16_t own_port);

// Text from a peer (a message, a name, a relay's or directory's words) as it
// is shown: one line in which nothing reaches the terminal as control. Every
// render_* and render() passes each peer-supplied field through it.
// - A backslash is doubled, so a peer cannot fake the escapes below: read
//   from the left, \\ is a backslash the peer sent and any other backslash
//   starts one of them.
// - \n \r \t for newline, carriage return and tab; \xHH (lower-case hex) for
//   the other C0 controls (NUL, ESC, BEL, backspace, ...) and DEL.
// - \uHHHH for the C1 controls U+0080-U+009F and the bidirectional embeddings,
//   overrides and isolates U+202A-U+202E, U+2066-U+2069 (they reorder what
//   follows them on screen).
// - Bytes that are not UTF-8 (overlong forms, surrogates, above U+10FFFF,
//   cut-off sequences, stray continuation bytes) become U+FFFD, one for each
//   maximal subpart (Unicode, chapter 3.9).
// - All else, non-ASCII letters and emoji included, is unchanged.
// Backslash::kept is for lines darkchat writes itself that may quote a peer
// (notices, problems): controls are escaped, but backslashes stay as they
// are, since those lines name macros such as \trust.
enum class Backslash { doubled, kept };
std::string printable(std::string_view text, Backslash backslash = Backslash::doubled);

std::string help_text();  // several lines, each ending in '\n'
std::string render(const core::Event& e);  // one line, no newline
// A stored message for \history: its time (UTC, when it was stored here),
// then the line as it was shown live; self is our user name.
std::string render_history(const HistoryRecord& m, const std::string& self);
std::string render_user(const core::UserView& u, TimeMs now);  // one line, no newline
std::string render_key(const core::KeyView& k);  // one line: name, fingerprint, any other key seen
bool matches(const core::UserView& u, action::Which which);

// Rooms on relays (roles.hpp).
std::string render(const roles::RoomEvent& e);  // one line, no newline
std::string render_room(const roles::RoomView& r, const std::string& self);  // for \rooms
std::string render_relay(const roles::RelayView& r);  // for \relays
// The start of a room's or a group's id as typed: at most 32 hex digits, any case.
bool id_prefix(std::string_view s);
// Whether id, in lower-case hex, starts with prefix (any case).
bool id_starts_with(const std::array<std::uint8_t, 16>& id, std::string_view prefix);
// The rooms whose id (hex, any case) starts with prefix; all of them for an empty prefix.
std::vector<roles::RoomView> find_rooms(const std::vector<roles::RoomView>& rooms, std::string_view prefix);
std::string short_id(const MessageId& id);  // also a group id (the same type): its first 8 hex digits
std::string short_id(const SessionId& id);

// Conversation groups (groups.hpp). What a group event or list names by key or
// by id is looked up through these: name(key) is the user name (empty when
// unknown: the key's fingerprint is shown), title(id) the group's title as far
// as it is known (empty: none).
struct GroupNames {
    std::function<std::string(const PublicKey&)> name;
    std::function<std::string(const groups::GroupId&)> title;
};
std::string render(const groups::Event& e, const GroupNames& names);  // one line, no newline
std::string group_label(const groups::GroupId& id, const GroupNames& names);  // 3f2a91c0 "title"
std::string render_group(const groups::GroupView& g, const GroupNames& names);  // for \groups
std::string render_members_header(const groups::GroupView& g);  // for \members, before one line per member
std::string render_member(const groups::GroupView& g, std::size_t i, const GroupNames& names);
// A stored line of a group or a room for \history: its time (UTC, when it was
// stored here), then the line as it was shown live.
std::string render_history(const LineRecord& l, const GroupNames& names);
// The groups that which names: those whose title is exactly which, and those
// whose id (hex, any case) starts with it; all of them for an empty which.
std::vector<groups::GroupView> find_groups(const std::vector<groups::GroupView>& all, std::string_view which);

}  // namespace dc::cli
