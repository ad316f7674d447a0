// The terminal session of darkchat, without I/O: lines typed in, the Host's
// events in, lines to show out. It owns the chat partner and the current room
// and holds what every macro does (parsed and rendered by cli.hpp), commanding
// the parts of a host::Host. What needs I/O (resolving a host name for \ping)
// comes out as a request the driver carries out and answers.
#pragma once

#include "darkchat/cli.hpp"
#include "darkchat/host.hpp"

#include <deque>

namespace dc::cli {

// Longest input line taken; a longer one is refused whole (handle_overlong).
inline constexpr std::size_t kMaxInputLine = 64 * 1024;

// \ping <host name>: resolve host, then answer handle_resolved().
struct ResolveRequest {
    std::string host;
    std::uint16_t port = 0;
};

class Session {
public:
    explicit Session(host::Host& host) : host_(host) {}

    // One line typed (without its newline).
    void handle_line(TimeMs now, std::string_view line);
    // A line longer than kMaxInputLine, skipped whole: bytes is its length.
    void handle_overlong(std::size_t bytes);
    // One event of the Host, in the order it gave them.
    void handle_event(const host::Event& e);
    // The answer to a ResolveRequest: an address, or why not (an empty error:
    // the lookup could not even start).
    void handle_resolved(TimeMs now, const ResolveRequest& request, const Result<Addr>& addr);

    // A plain line typed now would be refused because the outbox for the chat
    // partner is full (core::Config::max_outbox_per_peer). A driver reading a
    // pipe or a file stops reading while this holds and reads on once acks
    // have drained the outbox, so a script loses no line; on a terminal it
    // reads on, and the line is refused in words.
    bool outbox_full() const;
    // line would only hand a message to the node (a plain line to the chat
    // partner): its outcome comes out as the Host's events. Such lines may be
    // handled several in one turn before the Host is drained; any other line
    // may show lines of its own, so what came before it is shown first.
    bool only_sends(std::string_view line) const;

    std::optional<std::string> poll_line();  // one line, no newline
    std::optional<ResolveRequest> poll_resolve();

    const std::string& partner() const { return partner_; }
    const std::optional<roles::RoomId>& room() const { return room_; }

private:
    void say(std::string line) { lines_.push_back(std::move(line)); }
    void follow_room(const roles::RoomEvent& e);
    void say_in_room(TimeMs now, const std::string& text);
    std::optional<roles::RoomView> pick_room(const std::string& prefix);
    void switch_chat(const std::string& user);
    template <typename A>
    void room_action(TimeMs now, const A& a);

    host::Host& host_;
    std::string partner_;
    std::optional<roles::RoomId> room_;  // lines without '\' go to this room (\room)
    std::deque<std::string> lines_;
    std::deque<ResolveRequest> resolves_;
};

}  // namespace dc::cli
