// The terminal front end of darkchat: parsing one input line into an action and
// rendering one event as one output line. No I/O here.
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/roles.hpp"

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
struct Leave { std::string prefix; };       // \leave [<id-prefix>]; empty: the current room
struct Relays {};                           // \relays
}  // namespace action

using Action = std::variant<action::Node, action::Resolve, action::Help, action::List, action::SwitchChat,
                            action::Say, action::Keys, action::Problem, action::Nothing, action::Room,
                            action::Rooms, action::SwitchRoom, action::Leave, action::Relays>;

// own_port is the default port of \ping (seed 001: "the current instance's incoming").
Action parse_line(std::string_view line, std::uint16_t own_port);

std::string help_text();  // several lines, each ending in '\n'
std::string render(const core::Event& e);  // one line, no newline
std::string render_user(const core::UserView& u, TimeMs now);  // one line, no newline
std::string render_key(const core::KeyView& k);  // one line: name, fingerprint, any other key seen
bool matches(const core::UserView& u, action::Which which);

// Rooms on relays (roles.hpp).
std::string render(const roles::RoomEvent& e);  // one line, no newline
std::string render_room(const roles::RoomView& r, const std::string& self);  // for \rooms
std::string render_relay(const roles::RelayView& r);  // for \relays
// The rooms whose id (hex) starts with prefix; all of them for an empty prefix.
std::vector<roles::RoomView> find_rooms(const std::vector<roles::RoomView>& rooms, std::string_view prefix);
std::string short_id(const MessageId& id);
std::string short_id(const SessionId& id);

}  // namespace dc::cli
