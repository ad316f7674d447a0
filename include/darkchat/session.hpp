// The terminal session of darkchat, without I/O: lines typed in, the Host's
// events in, lines to show out. It owns the current conversation (a chat
// partner, a room or a group), the group requests waiting for an answer, and
// holds what every macro does (parsed and rendered by cli.hpp), commanding
// the parts of a host::Host. What needs I/O (resolving a host name for \ping,
// reading stored messages for \history) comes out as a request the driver
// carries out and answers.
#pragma once

#include "darkchat/cli.hpp"
#include "darkchat/host.hpp"

#include <deque>
#include <map>

namespace dc::cli {

// Longest input line taken; a longer one is refused whole (handle_overlong).
inline constexpr std::size_t kMaxInputLine = 64 * 1024;

// \ping <host name>: resolve host, then answer handle_resolved().
struct ResolveRequest {
    std::string host;
    std::uint16_t port = 0;
};

// \history: the newest count stored messages with user, oldest first,
// answered with handle_history(); or, with conversation set, the newest count
// lines of that group or room (Store::lines), answered with handle_lines().
struct HistoryRequest {
    std::string user;  // the chat's peer; for a group or room, how it is named in lines
    std::size_t count = 0;
    std::optional<GroupKeyId> conversation;
    bool room = false;
};

// File transfers (darkchat-protocol(7), FILES) need the file system: \send reads
// the file to make its manifest, \accept picks a free name in the download folder.
// The driver does it and calls the Host (offer_file, handle_file_command), saying
// what went wrong through Session::note.
struct FileRequest {
    enum class Kind { send, accept, fetch } kind = Kind::send;
    std::string path;    // send: the file to offer
    std::string to;      // send: the chat partner
    files::FileId id{};  // accept
    std::string name;    // accept, fetch: the name as offered or asked for (made safe by the driver)
    std::optional<groups::GroupId> group;  // send: shared with this group; fetch: asked of its members
};

struct FileSettings {
    std::uint64_t auto_accept = 0;  // offers from contacts up to this many bytes are taken at once (0: none)
};

// Bytes received of a transfer: whole chunks, the last one possibly short.
std::uint64_t bytes_had(const files::TransferView& t);

// A file to a contact as \files folds it, from the sender's transfers of one id (the
// offer, which keeps its sessions' answers, and each session's own): "offered" while no
// session is known, else "R of N sessions received" and, for each other state some are
// in, ", K receiving|waiting|declined|cancelled|failed" (darkchat(1), FILES).
std::string sessions_state(const std::vector<files::TransferView>& same_file);

struct Picking;  // session.cpp: how a room or group that the user's words name is picked

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
    // The answer to a HistoryRequest: the messages (oldest first), or why not.
    void handle_history(const HistoryRequest& request, const Result<std::vector<HistoryRecord>>& found);
    void handle_lines(const HistoryRequest& request, const Result<std::vector<LineRecord>>& found);

    // A plain line typed now would be refused because the outbox for the chat
    // partner is full (core::Config::max_outbox_per_peer), or the current room has
    // max_outbox_per_room own lines not yet acked by everyone. A driver reading a
    // pipe or a file stops reading while this holds and reads on once acks
    // have drained the outbox, so a script loses no line; on a terminal it
    // reads on, and the line is refused in words.
    bool outbox_full() const;
    // line would only hand a message to the node or the room client (a plain line
    // to the chat partner or the current room): its outcome comes out as the Host's events. Such lines may be
    // handled several in one turn before the Host is drained; any other line
    // may show lines of its own, so what came before it is shown first.
    bool only_sends(std::string_view line) const;

    // Tab on a terminal: the words that may complete the last word of line
    // (what was typed before the cursor), sorted: macro names for a first word
    // that starts with '\\', user names we know for any word after a macro;
    // nothing in a plain line.
    std::vector<std::string> complete(std::string_view line) const;

    std::optional<std::string> poll_line();  // one line, no newline
    std::optional<ResolveRequest> poll_resolve();
    std::optional<HistoryRequest> poll_history();
    std::optional<FileRequest> poll_file_request();
    // A line the driver says about a file request (why it could not be done).
    void note(std::string line) { say(std::move(line)); }
    void set_file_settings(FileSettings s) { file_settings_ = s; }
    // Lines of progress of the transfers under way, in the fixed form of
    // darkchat(1): "~ file ID NAME HAVE/TOTAL PERCENT% RATE/s ETA" (bytes, bytes per second,
    // seconds left, - when unknown). The driver calls it every few seconds.
    void show_progress(TimeMs now);
    // The same lines, returned rather than said: on a terminal the driver shows them
    // in place, one line per transfer, rewritten at every call.
    std::vector<std::string> progress_lines(TimeMs now);

    const std::string& partner() const { return partner_; }
    const std::optional<roles::RoomId>& room() const { return room_; }
    const std::optional<groups::GroupId>& group() const { return group_; }

private:
    void say(std::string line) { lines_.push_back(std::move(line)); }
    void follow_room(const roles::RoomEvent& e);
    void say_in_room(TimeMs now, const std::string& text);
    std::optional<roles::RoomView> pick_room(const std::string& prefix);
    template <typename V>
    std::optional<V> only_one(std::vector<V> found, const std::string& which, const Picking& p);
    void switch_chat(const std::string& user);
    template <typename A>
    void room_action(TimeMs now, const A& a);

    // Conversation groups (groups.hpp).
    template <typename A>
    void group_action(TimeMs now, groups::Machine& machine, const A& a);
    void leave(TimeMs now, const std::string& which);
    void follow_group(const groups::Event& e);
    void remember(const groups::Event& e);
    void say_in_group(TimeMs now, const std::string& text);
    void show_conversation();
    void history(const action::History& a);
    std::optional<groups::GroupView> pick_group(const std::string& which);
    std::optional<std::uint64_t> pick_request(const std::optional<std::uint64_t>& n);
    std::optional<PublicKey> key_of(const std::string& user);
    std::string name_of(const PublicKey& key) const;
    std::string title_of(const groups::GroupId& id);
    GroupNames group_names();

    // File transfers (files.cpp).
    void file_event(const files::Event& e);
    // "room 3fa2c1d0" for one of our rooms, else "group 3f2a91c0 \"title\"".
    std::string shared_in(const files::GroupId& id);
    void offered(const files::ev::Offered& x);
    template <typename A>
    void file_action(TimeMs now, const A& a);
    bool file_answer(TimeMs now, bool accept, const std::string& prefix);

    host::Host& host_;
    std::string partner_;
    FileSettings file_settings_;
    std::map<files::FileId, files::ev::Offered> offers_;  // waiting for \accept or \decline
    struct Progress { std::uint64_t bytes = 0; TimeMs at = 0; };
    std::map<files::FileId, Progress> progress_;  // per transfer received: what the last progress line saw
    std::deque<FileRequest> file_requests_;
    // At most one of these: lines without '\' go to this room (\room) or this group (\group).
    std::optional<roles::RoomId> room_;
    std::optional<groups::GroupId> group_;
    std::deque<groups::ev::RequestArrived> requests_;  // waiting for \yes or \no, oldest first
    // Titles of groups seen, for the lines about a group the machine has just
    // forgotten (left, removed, ceased).
    std::map<groups::GroupId, std::string> titles_;
    std::deque<std::string> lines_;
    std::deque<ResolveRequest> resolves_;
    std::deque<HistoryRequest> histories_;
};

}  // namespace dc::cli
