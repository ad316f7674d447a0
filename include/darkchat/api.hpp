// The daemon API of a user's node, without I/O (darkchat-api(7)): JSON-RPC 2.0,
// one request or notification per line, over a stream the driver keeps for each
// client (a Unix socket in the data directory). Methods command the parts of a
// host::Host as the terminal's macros do; every event the Host gives is
// numbered, kept in the store's event log (store_op::PutEvent) and sent as an
// "event" notification to the clients that subscribed, from the number each
// asked for: a client that was away, or a node that restarted, loses nothing.
//
// The driver
//   - hands in what each client sent (handle_bytes), every Host event
//     (handle_event, in the order the Host gave them), and the answers to
//     the reads it was asked for (handle_log, handle_history, handle_resolved);
//   - applies poll_store() (the log's new events) before anything else of
//     the turn is sent, in the transaction of the turn's Host batch when
//     there is one (what a turn stores and the events it shows are on disk
//     together, or neither is), and answers it;
//   - writes poll_output() to the clients, closing those marked so, and calls
//     handle_drained() when a client's queued output has been written.
#pragma once

#include "darkchat/host.hpp"

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dc::api {

using ClientId = std::uint64_t;

struct Config {
    std::size_t max_request = 1 << 20;    // bytes of one request line; longer: an error, then closed
    std::size_t recent = 1024;            // newest events kept in memory (older ones are read from the log)
    std::uint64_t keep = 100000;          // events kept in the log; older ones are deleted
    std::size_t page = 256;               // events read from the log at once for a client catching up
    std::size_t window = 256 * 1024;      // bytes of events sent to a client before it must have drained
};

// A read of the store the server needs, carried out by the driver.
struct LogRead {
    ClientId client = 0;
    std::uint64_t after = 0;  // events with a seq above this
    std::size_t limit = 0;
};
struct HistoryRead {
    ClientId client = 0;
    std::string id;  // the request's id, as JSON text; empty for a notification (nothing is answered)
    std::string user;
    std::size_t count = 0;
    // Set: the lines of this group or room (Store::lines), answered with handle_lines.
    std::optional<GroupKeyId> conversation;
};
struct Resolve {  // ping: a host name to look up
    ClientId client = 0;
    std::string id;
    std::string host;
    std::uint16_t port = 0;
};
// type: a line for the node's terminal session (darkchat attached to a running
// node), answered with handle_typed and the lines the session said.
struct Typed {
    ClientId client = 0;
    std::string id;
    std::string line;
};
// send_file: the driver reads the file for its manifest and offers it to a
// contact or shares it with a group; fetch_file: asks a group's members for a
// file by name (what it says, when it cannot, comes back through handle_file_offered).
struct FileSend {
    ClientId client = 0;
    std::string id;
    std::string to;
    std::string path;  // absolute
    std::optional<GroupKeyId> group;  // shared with this group (to is empty), or fetched from it
    std::string fetch;                // fetch_file: the name asked for
};
using Read = std::variant<LogRead, HistoryRead, Resolve, Typed, FileSend>;

// Bytes for a client; close: after them, close the connection.
struct Output {
    ClientId client = 0;
    std::string bytes;
    bool close = false;
};

// One method of the API: its name, its parameters (name, JSON type, required)
// and what it does. The table is what rpc.discover describes (OpenRPC).
struct Param {
    std::string_view name;
    std::string_view type;  // "string", "integer", "boolean"
    bool required = false;
    std::string_view summary;
};
struct MethodInfo {
    std::string_view name;
    std::string_view summary;
    std::vector<Param> params;
    std::string_view result;  // what the result is, in words
};
const std::vector<MethodInfo>& methods();
// The OpenRPC document of the API (rpc.discover answers with it), as JSON text.
std::string openrpc();

class Server {
public:
    // last_event: the newest seq in the store's event log (Snapshot::last_event).
    Server(host::Host& host, Config config, std::uint64_t last_event);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void handle_connect(ClientId client);
    void handle_disconnect(ClientId client);
    void handle_bytes(TimeMs now, ClientId client, std::string_view bytes);
    // What the client was sent has been written: it may be sent more.
    void handle_drained(ClientId client);

    // Every event of the Host, in its order, with the line the terminal showed
    // for it (empty when it showed none).
    void handle_event(TimeMs now, const host::Event& e, std::string_view text);
    // How far a file being received has come (every few seconds while one is):
    // an event file.progress, numbered and logged like the others.
    void handle_progress(TimeMs now, const files::TransferView& t, std::uint64_t bytes, std::string_view text);

    // The log's new events to store, in one transaction; null when none.
    const std::vector<StoreOp>* poll_store();
    void handle_store_applied();
    // Kept for the next try; the events are sent meanwhile.
    void handle_store_failed();
    // The events logged after seq `after` are given back (not stored, not
    // sent, their seqs given again): the turn they were logged in failed to
    // store, and its driver logs again those of them that still stand.
    void take_back(std::uint64_t after);

    std::optional<Read> poll_read();
    void handle_log(const LogRead& read, const Result<std::vector<EventRecord>>& events);
    void handle_history(const HistoryRead& read, const Result<std::vector<HistoryRecord>>& found);
    void handle_lines(const HistoryRead& read, const Result<std::vector<LineRecord>>& found);
    void handle_resolved(TimeMs now, const Resolve& r, const Result<Addr>& addr);
    void handle_typed(const Typed& t, const std::vector<std::string>& said);
    // said: the lines the terminal would have shown; a line starting "!" is the error.
    void handle_file_offered(const FileSend& f, const std::vector<std::string>& said);

    std::optional<Output> poll_output();
    // The quit method was called: the driver quits the Host.
    bool quit_requested() const { return quit_; }

    std::uint64_t last_event() const { return last_; }
    // An image received, by its file id in hex (the newest 256 kept): its path and type.
    std::optional<std::pair<std::string, std::string>> image(const std::string& id) const;

    struct Client;
    struct Pending;

private:
    void request(TimeMs now, ClientId client, std::string_view line);
    void send(ClientId client, std::string bytes, bool close = false);
    void deliver(ClientId client);
    void deliver_all();
    struct Json;  // an event's JSON object (server.cpp)
    void log_event(TimeMs now, Json&& event, std::string_view line);

    host::Host& host_;
    Config config_;
    std::map<ClientId, std::unique_ptr<Client>> clients_;
    std::uint64_t last_ = 0;     // the newest seq given out
    std::uint64_t stored_ = 0;   // the newest seq the log holds (or that failed to be stored)
    std::uint64_t trimmed_ = 0;  // the log holds nothing at or below this
    std::deque<EventRecord> recent_;  // the newest events, seq consecutive
    std::vector<StoreOp> batch_, unsaved_;
    std::deque<Read> reads_;
    std::deque<Output> out_;
    bool quit_ = false;
    std::deque<std::pair<std::string, std::pair<std::string, std::string>>> images_;  // id -> (path, type)
};

// The web page (darkchat-api(7), THE WEB PAGE), without I/O: HTTP/1.1 on a
// listener of 127.0.0.1, each connection a client of the Server. GET / is the
// page; POST /rpc takes one JSON-RPC request and answers it; GET /events is the
// event stream (server-sent events, from ?after=N or Last-Event-ID). Every
// request needs the token (query token=, the cookie the page sets, or
// Authorization: Bearer), a Host of 127.0.0.1 or localhost at our port, and no
// Origin but ours. Connection ids given to it must have kWebClient set.
inline constexpr ClientId kWebClient = ClientId{1} << 63;

class Web {
public:
    Web(Server& server, std::string token, std::uint16_t port);
    ~Web();
    Web(const Web&) = delete;
    Web& operator=(const Web&) = delete;
    void handle_connect(ClientId conn);
    void handle_disconnect(ClientId conn);
    void handle_bytes(TimeMs now, ClientId conn, std::string_view bytes);
    // An output of the Server for one of our connections (kWebClient set).
    void handle_output(Output o);
    // Bytes for our connections.
    std::optional<Output> poll_output();

    // GET /image/ID: an image received (event file.completed with an image) to
    // show inline; the driver reads it (at most kMaxImage bytes) and answers.
    static constexpr std::uint64_t kMaxImage = 32 << 20;
    struct ImageRead {
        ClientId conn = 0;
        std::string path;
        std::string type;  // "png", "jpeg", "gif", "webp"
    };
    std::optional<ImageRead> poll_read();
    void handle_image(const ImageRead& r, const Result<std::string>& bytes);

    // POST /upload?to=USER&name=NAME: a file chosen on the page, its bytes as the
    // body (at most kMaxUpload; the token, Host and Origin checked before the
    // body is read). The driver writes it under a safe name in the uploads
    // folder and answers handle_uploaded with its path, or why not; it is then
    // offered to USER as send_file does, and answered as POST /rpc is.
    static constexpr std::size_t kMaxUpload = 32 << 20;
    struct Upload {
        ClientId conn = 0;
        std::string to;     // the contact, or
        std::string name;
        std::string bytes;
        std::string group;  // the group it is shared with (its id in hex)
    };
    std::optional<Upload> poll_upload();
    void handle_uploaded(TimeMs now, const Upload& u, const Result<std::string>& path);

    struct Conn;

private:
    void respond(ClientId conn, int status, std::string_view type, const std::string& body,
                 const std::string& extra_headers = {});
    void request(TimeMs now, ClientId conn, Conn& c);
    bool admitted(ClientId conn, const Conn& c);

    Server& server_;
    std::string token_;
    std::uint16_t port_;
    std::map<ClientId, std::unique_ptr<Conn>> conns_;
    std::deque<Output> out_;
    std::deque<ImageRead> reads_;
    std::deque<Upload> uploads_;
};

// The page itself (src/api/page.cpp): HTML, its style and script inline, nothing from elsewhere.
std::string_view page();

// darkchat attached to a running node (darkchat-api(7), ATTACHING), without
// I/O: typed lines become calls of "type", and what comes back becomes lines
// to show: the line of every event, the lines each call said, and errors.
class AttachClient {
public:
    // The first request: subscribe to new events.
    std::string hello();
    // A typed line (without its newline), as a request.
    std::string typed(std::string_view line);
    // Bytes from the node.
    void handle_bytes(std::string_view bytes);
    std::optional<std::string> poll_line();
    // Calls not answered yet.
    std::size_t waiting() const { return waiting_; }

private:
    std::string in_;
    std::deque<std::string> lines_;
    std::uint64_t next_id_ = 0;
    std::size_t waiting_ = 0;
};

}  // namespace dc::api
