// The daemon API without I/O (api.hpp, darkchat-api(7)): JSON-RPC requests
// against a host on the simulated network, errors for what is not a request,
// and the event log: numbered, stored before it is sent, replayed from the
// store to a client that was away or to a node that restarted, paced to what
// a client reads.
#include "../support/host_net.hpp"
#include "../support/mem_store.hpp"

#include "darkchat/api.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

using namespace dc;
using namespace dc::test;
using json = nlohmann::json;

namespace {

// A host's API as the driver runs it: events in as the host gives them, the
// log applied to its own in-memory store, reads answered from it, output kept
// per client.
struct Api {
    HostNet& net;
    HostPeer& peer;
    api::Config config;
    MemStore log;
    std::unique_ptr<api::Server> server;
    std::map<api::ClientId, std::string> out;
    std::set<api::ClientId> closed;
    bool hold_store = false;  // leave the log's batch unapplied (a slow disk)

    std::vector<std::pair<TimeMs, host::Event>> early;  // given before the server was attached

    Api(HostNet& n, HostPeer& p, api::Config c = {}) : net(n), peer(p), config(c) {
        auto shown = peer.on_event;
        peer.on_event = [this, shown](const host::Event& e) {
            shown(e);
            if (server) server->handle_event(net.now(), e, peer.lines.empty() ? "" : peer.lines.back());
            else early.emplace_back(net.now(), e);
        };
    }

    // After the host started (again): a server over it, from what the log
    // holds, given what the host showed since it started.
    void attach() {
        server = std::make_unique<api::Server>(*peer.host, config, log.snapshot().last_event);
        for (auto& [at, e] : early) server->handle_event(at, e, "");
        early.clear();
    }
    void detach() { server.reset(); }

    void drain() {
        if (!hold_store)
            while (auto* ops = server->poll_store()) {
                for (auto& op : *ops) log.apply(op);
                server->handle_store_applied();
            }
        for (;;) {
            if (auto r = server->poll_read()) {
                if (auto* l = std::get_if<api::LogRead>(&*r)) server->handle_log(*l, log.events_after(l->after, l->limit));
                else if (auto* h = std::get_if<api::HistoryRead>(&*r)) {
                    if (h->conversation) server->handle_lines(*h, peer.store.conversation_lines(*h->conversation, h->count));
                    else server->handle_history(*h, peer.store.peer_history(h->user, h->count));
                }
                continue;
            }
            auto o = server->poll_output();
            if (!o) break;
            out[o->client] += o->bytes;
            if (o->close) closed.insert(o->client);
        }
    }

    void bytes(api::ClientId c, const std::string& b) {
        net.network().input(peer, [&] { server->handle_bytes(net.now(), c, b); });
        drain();
    }

    std::map<api::ClientId, std::vector<json>> unread;  // what call() passed over

    // Every whole line sent to c since the last take, parsed.
    std::vector<json> take(api::ClientId c) {
        std::vector<json> msgs = std::move(unread[c]);
        unread[c].clear();
        std::string& s = out[c];
        std::size_t nl;
        while ((nl = s.find('\n')) != std::string::npos) {
            msgs.push_back(json::parse(s.substr(0, nl)));
            s.erase(0, nl + 1);
        }
        return msgs;
    }

    // The response to one request; what else came is left for take().
    json call(api::ClientId c, const std::string& method, json params = nullptr, json id = 1) {
        json req{{"jsonrpc", "2.0"}, {"method", method}, {"id", id}};
        if (!params.is_null()) req["params"] = params;
        bytes(c, req.dump() + "\n");
        json answer;
        for (auto& m : take(c)) {
            if (answer.is_null() && m.contains("id") && m["id"] == id) answer = m;
            else unread[c].push_back(m);
        }
        return answer;
    }

    // The events among msgs, by seq.
    static std::vector<std::uint64_t> seqs(const std::vector<json>& msgs) {
        std::vector<std::uint64_t> s;
        for (auto& m : msgs)
            if (m.value("method", "") == "event") s.push_back(m["params"]["seq"].get<std::uint64_t>());
        return s;
    }
};

std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t to) {
    std::vector<std::uint64_t> r;
    for (auto i = from; i <= to; ++i) r.push_back(i);
    return r;
}

}  // namespace

TEST_CASE("what is not a request gets the JSON-RPC error for it, and the connection goes on") {
    HostNet net;
    auto& alice = net.started("alice");
    Api api(net, alice);
    api.attach();
    api.server->handle_connect(1);

    api.bytes(1, "{not json\n");
    auto m = api.take(1);
    REQUIRE(m.size() == 1);
    CHECK(m[0]["error"]["code"] == -32700);
    CHECK(m[0]["id"].is_null());

    api.bytes(1, R"([{"jsonrpc":"2.0","method":"users","id":1}])" "\n");
    CHECK(api.take(1).at(0)["error"]["code"] == -32600);
    api.bytes(1, R"({"method":"users","id":2})" "\n");  // no "jsonrpc":"2.0"
    CHECK(api.take(1).at(0)["error"]["code"] == -32600);
    api.bytes(1, R"({"jsonrpc":"2.0","method":"users","id":{"x":1}})" "\n");
    CHECK(api.take(1).at(0)["error"]["code"] == -32600);

    CHECK(api.call(1, "no.such.method")["error"]["code"] == -32601);
    CHECK(api.call(1, "chat", {{"to", "bob"}})["error"]["message"] == "chat needs text");
    CHECK(api.call(1, "chat", {{"to", 5}, {"text", "hi"}})["error"]["message"] == "to must be a string");
    CHECK(api.call(1, "users", {{"colour", "red"}})["error"]["code"] == -32602);
    CHECK(api.call(1, "users", json::array({"all"}))["error"]["message"] == "params must be an object (by name)");
    CHECK(api.call(1, "history", {{"user", "bob"}, {"count", 0}})["error"]["code"] == -32602);
    CHECK(api.call(1, "chat", {{"to", "nobody"}, {"text", "hi"}})["error"]["code"] == -32000);
    CHECK(api.call(1, "members", {{"group", "abc"}})["error"]["message"] == "no group abc");
    CHECK(api.call(1, "rooms")["error"]["code"] == -32001);  // no room client on this node

    // A notification (no id) is answered with nothing, even when it fails or reads first.
    api.bytes(1, R"({"jsonrpc":"2.0","method":"users"})" "\n" R"({"jsonrpc":"2.0","method":"nope"})" "\n"
                 R"({"jsonrpc":"2.0","method":"history","params":{"user":"bob"}})" "\n");
    CHECK(api.take(1).empty());

    // A request in pieces, and a string id, come back whole.
    api.bytes(1, R"({"jsonrpc":"2.0","me)");
    api.bytes(1, R"(thod":"users","id":"abc"})" "\r\n");
    m = api.take(1);
    REQUIRE(m.size() == 1);
    CHECK(m[0]["id"] == "abc");
    CHECK(m[0]["result"].is_array());
    CHECK(api.closed.empty());
}

TEST_CASE("a request longer than the limit is refused and its connection closed; others go on") {
    HostNet net;
    auto& alice = net.started("alice");
    api::Config small;
    small.max_request = 1000;
    Api api(net, alice, small);
    api.attach();
    api.server->handle_connect(1);
    api.server->handle_connect(2);
    api.bytes(1, std::string(600, ' '));
    CHECK(api.closed.empty());
    api.bytes(1, std::string(600, 'x'));  // no newline yet, and already too long
    auto m = api.take(1);
    REQUIRE(m.size() == 1);
    CHECK(m[0]["error"]["code"] == -32600);
    CHECK(api.closed.count(1) == 1);
    api.bytes(1, R"({"jsonrpc":"2.0","method":"users","id":1})" "\n");
    CHECK(api.take(1).empty());  // nothing more is read from a closed client
    CHECK(api.call(2, "users")["result"].is_array());
}

TEST_CASE("methods command the node: ping, add, chat; users, keys and history read it") {
    HostNet net;
    auto& alice = net.started("alice");
    auto& bob = net.started("bob");
    Api api(net, alice);
    api.attach();
    api.server->handle_connect(7);
    CHECK(api.call(7, "ping", {{"host", "127.0.0.2"}, {"port", 7300}})["result"] == true);
    net.run_for(300);
    CHECK(api.call(7, "add", {{"user", "bob"}})["result"] == true);
    net.type(bob, "\\add alice");
    net.run_for(1000);
    auto users = api.call(7, "users", {{"which", "online"}})["result"];
    REQUIRE(users.size() == 1);
    CHECK(users[0]["name"] == "bob");
    CHECK(users[0]["contact"] == true);
    CHECK(users[0]["sessions"][0]["address"] == bob.addr.to_string());
    CHECK(api.call(7, "keys", {{"user", "bob"}})["result"][0]["pinned"] ==
          crypto::fingerprint(bob.id.pk));

    CHECK(api.call(7, "chat", {{"to", "bob"}, {"text", "hello \x1b[2J"}})["result"] == true);
    net.run_for(500);
    CHECK(bob.shown("<alice> hello \\x1b[2J"));
    auto h = api.call(7, "history", {{"user", "bob"}, {"count", 5}})["result"];
    REQUIRE(h.size() == 1);
    CHECK(h[0]["text"] == "hello \x1b[2J");  // the words as sent: JSON escapes them, not the terminal's way
    CHECK(h[0]["from"] == "alice");
    CHECK(api.call(7, "chat", {{"to", "alice"}, {"text", "me"}})["error"]["message"] == "you cannot chat with yourself");

    CHECK_FALSE(api.server->quit_requested());
    CHECK(api.call(7, "quit")["result"] == true);
    CHECK(api.server->quit_requested());
}

TEST_CASE("say puts a line in a room of ours by the start of its id, and names what is wrong") {
    HostNet net;
    auto [relay, alice, bob] = net.pair_on_relay();
    std::string id = net.open_room(alice, bob);
    REQUIRE(!id.empty());
    Api api(net, alice);
    api.attach();
    api.server->handle_connect(7);
    CHECK(api.call(7, "say", {{"room", id}, {"text", "hello room"}})["result"] == true);
    net.run_for(1000);
    CHECK(bob.shown_prefix("[" + id.substr(0, 8) + "] <alice> hello room"));
    CHECK(api.call(7, "say", {{"room", "ffffffffffff"}, {"text", "x"}})["error"]["code"] == -32000);
    CHECK(api.call(7, "say", {{"room", id}, {"group", "g"}, {"text", "x"}})["error"]["code"] == -32602);
    CHECK(api.call(7, "say", {{"text", "x"}})["error"]["code"] == -32602);
    // A node with neither a directory nor relays has no rooms of its own.
    auto& carol = net.started("carol");
    Api other(net, carol);
    other.attach();
    other.server->handle_connect(8);
    CHECK(other.call(8, "say", {{"room", "ab"}, {"text", "x"}})["error"]["code"] == -32001);
}

TEST_CASE("events are numbered, stored before any client sees them, and a subscriber gets each once, in order") {
    HostNet net;
    auto& alice = net.started("alice");
    auto& bob = net.started("bob");
    Api api(net, alice);
    api.attach();
    api.server->handle_connect(1);
    auto sub = api.call(1, "subscribe", {{"after", 0}});
    CHECK(sub["result"]["next"] == 1);
    api.take(1);
    net.link(alice, bob);
    api.drain();
    auto msgs = api.take(1);
    auto seqs = Api::seqs(msgs);
    REQUIRE(!seqs.empty());
    CHECK(seqs == range(1, api.server->last_event()));
    CHECK(api.log.events.size() == seqs.size());
    // Each carries its kind and the line the terminal showed.
    bool linked = false;
    for (auto& m : msgs)
        if (m["params"]["kind"] == "linked") {
            linked = true;
            CHECK(m["params"]["user"] == "bob");
            CHECK(m["params"]["line"] == "* linked bob");
        }
    CHECK(linked);

    // While the log's batch is not on disk, nothing of it is sent.
    api.hold_store = true;
    net.type(bob, "\\chat alice");
    net.type(bob, "hi alice");
    net.run_for(300);
    api.drain();
    CHECK(api.take(1).empty());
    api.hold_store = false;
    api.drain();
    msgs = api.take(1);
    bool message = false;
    for (auto& m : msgs)
        if (m["params"]["kind"] == "message") {
            message = true;
            CHECK(m["params"]["message"]["text"] == "hi alice");
            CHECK(m["params"]["message"]["from"] == "bob");
        }
    CHECK(message);
    CHECK(Api::seqs(msgs).front() == seqs.back() + 1);
}

TEST_CASE("events given back after their turn failed to store are neither stored nor sent, and their seqs are given again") {
    HostNet net;
    auto& alice = net.started("alice");
    auto& bob = net.started("bob");
    Api api(net, alice);
    api.attach();
    api.server->handle_connect(1);
    api.call(1, "subscribe", {{"after", 0}});
    api.take(1);
    net.link(alice, bob);
    api.drain();
    api.take(1);
    const std::uint64_t mark = api.server->last_event();
    const std::size_t stored = api.log.events.size();

    // A turn shows bob's message; its store transaction fails (the driver's
    // store_with_log): the message's event is given back, another stands.
    api.hold_store = true;
    net.type(bob, "\\chat alice");
    net.type(bob, "not stored");
    net.run_for(300);
    api.drain();
    REQUIRE(api.server->last_event() > mark);
    REQUIRE(api.server->poll_store() != nullptr);
    api.server->take_back(mark);
    CHECK(api.server->last_event() == mark);
    CHECK(api.server->poll_store() == nullptr);  // nothing of it left to store
    api.server->handle_event(net.now(), host::Event{host::Line{"* stands"}}, "* stands");
    CHECK(api.server->last_event() == mark + 1);
    api.server->handle_store_failed();
    api.drain();  // the store still held: output only
    auto msgs = api.take(1);
    REQUIRE(msgs.size() == 1);  // the one that stands, under the next seq; sent meanwhile
    CHECK(msgs[0]["params"]["seq"] == mark + 1);
    CHECK(msgs[0]["params"]["line"] == "* stands");

    // Stored at the next try: the log has it once, and nothing given back.
    api.hold_store = false;
    api.drain();
    CHECK(api.log.events.size() == stored + 1);
    CHECK(api.take(1).empty());  // sent once, not again
}

TEST_CASE("a client that was away, and a node that restarted, get every event they missed from the log") {
    HostNet net;
    auto& alice = net.started("alice");
    auto& bob = net.started("bob");
    api::Config small;
    small.recent = 4;  // most of what was missed is read back from the log
    small.page = 3;
    Api api(net, alice, small);
    api.attach();
    net.link(alice, bob);
    net.type(bob, "\\chat alice");
    for (int i = 0; i < 10; ++i) net.type(bob, "line " + std::to_string(i));
    net.run_for(1000);
    api.drain();
    const auto last = api.server->last_event();
    REQUIRE(last > 12);

    // kill -9 of the node: the log is what was stored.
    api.detach();
    net.kill(alice);
    net.start(alice);
    api.attach();
    api.drain();
    CHECK(api.server->last_event() > last);  // the new run's events go on from the old numbers
    api.server->handle_connect(1);
    api.call(1, "subscribe", {{"after", 2}});
    api.drain();
    auto msgs = api.take(1);
    CHECK(Api::seqs(msgs) == range(3, api.server->last_event()));
    int lines = 0;
    for (auto& m : msgs)
        if (m["params"]["kind"] == "message") ++lines;
    CHECK(lines == 10);

    // An after past the log's end (another data directory's numbers): from the start.
    api.server->handle_connect(2);
    CHECK(api.call(2, "subscribe", {{"after", 999999}})["result"]["next"] == 1);
}

TEST_CASE("a client that does not read is sent no more than the window until it has drained") {
    HostNet net;
    auto& alice = net.started("alice");
    auto& bob = net.started("bob");
    api::Config small;
    small.window = 2000;
    small.recent = 8;
    Api api(net, alice, small);
    api.attach();
    api.server->handle_connect(1);
    api.call(1, "subscribe", {{"after", 0}});
    api.take(1);
    net.link(alice, bob);
    net.type(bob, "\\chat alice");
    for (int i = 0; i < 30; ++i) net.type(bob, "a line of some length, number " + std::to_string(i));
    net.run_for(2000);
    api.drain();
    auto first = api.take(1);
    std::size_t bytes = 0;
    for (auto& m : first) bytes += m.dump().size();
    CHECK(bytes < 2 * small.window);
    auto got = Api::seqs(first);
    REQUIRE(!got.empty());
    CHECK(got.back() < api.server->last_event());
    // Drained, it gets the rest, read back from the log where memory no longer has it.
    for (int i = 0; i < 100 && got.back() < api.server->last_event(); ++i) {
        api.server->handle_drained(1);
        api.drain();
        auto more = Api::seqs(api.take(1));
        got.insert(got.end(), more.begin(), more.end());
    }
    CHECK(got == range(1, api.server->last_event()));
}

TEST_CASE("the log is trimmed to what it keeps; a client asking for older events is told of the gap") {
    HostNet net;
    auto& alice = net.started("alice");
    auto& bob = net.started("bob");
    api::Config small;
    small.keep = 10;
    small.recent = 4;
    Api api(net, alice, small);
    api.attach();
    net.link(alice, bob);
    net.type(bob, "\\chat alice");
    for (int i = 0; i < 1100; ++i) {
        net.type(bob, "l" + std::to_string(i));
        if (i % 100 == 99) net.run_for(300);
    }
    net.run_for(5000);
    api.drain();
    REQUIRE(api.server->last_event() >= 1024);
    REQUIRE(api.log.events.size() < api.server->last_event());
    api.server->handle_connect(1);
    api.call(1, "subscribe", {{"after", 0}});
    auto msgs = api.take(1);
    auto last_seen = [&] {
        auto s = Api::seqs(msgs);
        return s.empty() ? std::uint64_t{0} : s.back();
    };
    for (int i = 0; i < 2000 && last_seen() < api.server->last_event(); ++i) {
        api.server->handle_drained(1);
        api.drain();
        auto more = api.take(1);
        msgs.insert(msgs.end(), more.begin(), more.end());
    }
    const json* gap = nullptr;
    for (auto& m : msgs)
        if (m.value("method", "") == "gap") gap = &m;
    REQUIRE(gap);
    CHECK((*gap)["params"]["from"] == 1);
    auto after_gap = (*gap)["params"]["to"].get<std::uint64_t>() + 1;
    CHECK(Api::seqs(msgs) == range(after_gap, api.server->last_event()));
}

TEST_CASE("the OpenRPC document in man/ is the one the server describes, and the man page names every method") {
    std::ifstream f(API_DOC_DIR "/darkchat-api.openrpc.json");
    REQUIRE(f);
    std::stringstream doc;
    doc << f.rdbuf();
    INFO("regenerate with: build/tests/api_openrpc_gen > man/darkchat-api.openrpc.json");
    CHECK(json::parse(doc.str()) == json::parse(api::openrpc()));
    std::ifstream page(API_DOC_DIR "/darkchat-api.7.scd");
    REQUIRE(page);
    std::stringstream text;
    text << page.rdbuf();
    for (auto& m : api::methods()) {
        CAPTURE(m.name);
        CHECK(text.str().find("## " + std::string(m.name) + "\n") != std::string::npos);
        for (auto& p : m.params) {
            CAPTURE(p.name);
            CHECK(text.str().find("_" + std::string(p.name) + "_") != std::string::npos);
        }
    }
    auto discovered = json::parse(api::openrpc());
    CHECK(discovered["methods"].size() == api::methods().size());
}

TEST_CASE("an attached terminal shows each event's line, what its lines said, and errors, in the order they come") {
    api::AttachClient c;
    auto hello = json::parse(c.hello());
    CHECK(hello["method"] == "subscribe");
    auto req = json::parse(c.typed("\\users"));
    CHECK(req["method"] == "type");
    CHECK(req["params"]["line"] == "\\users");
    CHECK(c.waiting() == 2);
    c.handle_bytes(R"({"jsonrpc":"2.0","id":1,"result":{"next":5,"last":4}})" "\n"
                   R"({"jsonrpc":"2.0","method":"event","params":{"seq":5,"kind":"linked","line":"* linked bob"}})" "\n"
                   R"({"jsonrpc":"2.0","method":"event","params":{"seq":6,"kind":"log","line":""}})" "\n"
                   R"({"jsonrpc":"2.0","id":2,"result":{"lines":["  bob online contact","* 1 user"]}})" "\n"
                   R"({"jsonrpc":"2.0","method":"event","params":{"seq":7,"kind":"x","line":"one\ntwo"}})" "\n"
                   R"({"jsonrpc":"2.0","method":"gap","params":{"from":8,"to":9}})" "\n"
                   R"({"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"line longer than 65536 bytes"}})" "\n"
                   R"(not json)" "\n"
                   R"({"jsonrpc":"2.0","method":"event","params":"not an object"})" "\n"
                   R"({"jsonrpc":"2.0","method":"event","params":{"seq":10,"kind":"notice","line":"* half)");
    std::vector<std::string> shown;
    while (auto l = c.poll_line()) shown.push_back(*l);
    CHECK(shown == std::vector<std::string>{"* linked bob", "  bob online contact", "* 1 user", "one", "two",
                                            "! events 8 to 9 are no longer in the node's log",
                                            "! line longer than 65536 bytes"});
    CHECK(c.waiting() == 0);
    c.handle_bytes(R"( done"}})" "\n");
    CHECK(c.poll_line() == std::optional<std::string>("* half done"));
}

TEST_CASE("the web page's HTTP: the token, the node's own Host and Origin, one request per POST, events as a stream") {
    HostNet net;
    auto& alice = net.started("alice");
    Api api(net, alice);
    api.attach();
    const std::string token(64, 'a');
    api::Web web(*api.server, token, 8080);
    api::ClientId next = api::kWebClient;
    // One request on a fresh connection; everything the connection was sent.
    auto ask = [&](const std::string& request) {
        api::ClientId c = ++next;
        web.handle_connect(c);
        net.network().input(alice, [&] { web.handle_bytes(net.now(), c, request); });
        std::string got;
        for (int i = 0; i < 10; ++i) {
            api.drain();  // the server's answers for c stay in its output until taken here
            for (auto& [client, bytes] : api.out)
                if (client == c && !bytes.empty()) {
                    web.handle_output(api::Output{c, bytes, false});
                    bytes.clear();
                }
            while (auto o = web.poll_output()) got += o->bytes;
        }
        return got;
    };
    const std::string host = "Host: 127.0.0.1:8080\r\n";
    CHECK(ask("GET / HTTP/1.1\r\n" + host + "\r\n").rfind("HTTP/1.1 401", 0) == 0);
    CHECK(ask("GET /?token=" + std::string(64, 'b') + " HTTP/1.1\r\n" + host + "\r\n").rfind("HTTP/1.1 401", 0) == 0);
    auto page = ask("GET /?token=" + token + " HTTP/1.1\r\n" + host + "\r\n");
    CHECK(page.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(page.find("Set-Cookie: darkchat_token_8080=" + token + "; HttpOnly; SameSite=Strict") != std::string::npos);
    CHECK(page.find("Content-Security-Policy: default-src 'none'") != std::string::npos);
    CHECK(page.find("<title>darkchat</title>") != std::string::npos);
    // Another site's name for 127.0.0.1, or a post from another origin: refused even with the token.
    CHECK(ask("GET /?token=" + token + " HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n").rfind("HTTP/1.1 403", 0) == 0);
    CHECK(ask("POST /rpc HTTP/1.1\r\n" + host + "Origin: http://evil.example\r\nCookie: darkchat_token_8080=" + token +
              "\r\nContent-Length: 2\r\n\r\n{}")
              .rfind("HTTP/1.1 403", 0) == 0);
    // A method by POST, with the cookie (another node's cookie beside it is not taken for ours).
    const std::string body = R"({"jsonrpc":"2.0","id":7,"method":"users"})";
    auto rpc = ask("POST /rpc HTTP/1.1\r\n" + host + "Cookie: darkchat_token_9090=" + std::string(64, 'c') +
                   "; darkchat_token_8080=" + token + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    REQUIRE(rpc.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(json::parse(rpc.substr(rpc.find("\r\n\r\n") + 4))["id"] == 7);
    CHECK(ask("POST /rpc HTTP/1.1\r\n" + host + "Authorization: Bearer " + token +
              "\r\nContent-Length: 38\r\n\r\n" R"({"jsonrpc":"2.0","method":"users"}    )")
              .rfind("HTTP/1.1 400", 0) == 0);  // a notification would never be answered
    CHECK(ask("POST /rpc HTTP/1.1\r\n" + host + "Content-Length: 99999999\r\n\r\n").rfind("HTTP/1.1 413", 0) == 0);
    CHECK(ask("GET /nothing?token=" + token + " HTTP/1.1\r\n" + host + "\r\n").rfind("HTTP/1.1 404", 0) == 0);
    // An upload: who sends it is checked before its body is read; then it is handed to the driver.
    CHECK(ask("POST /upload?to=bob&name=x HTTP/1.1\r\n" + host + "Content-Length: 99999999\r\n\r\n").rfind("HTTP/1.1 401", 0) == 0);
    CHECK(ask("POST /upload?to=bob&name=x HTTP/1.1\r\n" + host + "Authorization: Bearer " + token +
              "\r\nContent-Length: 99999999\r\n\r\n")
              .rfind("HTTP/1.1 413", 0) == 0);
    CHECK(!web.poll_upload());
    CHECK(ask("POST /upload?to=bob&name=a%20b%2Fc.png HTTP/1.1\r\n" + host + "Authorization: Bearer " + token +
              "\r\nContent-Length: 3\r\n\r\nabc").empty());  // no answer until the driver kept it
    auto up = web.poll_upload();
    REQUIRE(up);
    CHECK(up->to == "bob");
    CHECK(up->name == "a b/c.png");
    CHECK(up->bytes == "abc");
    web.handle_uploaded(net.now(), *up, Result<std::string>(err("disk full")));
    std::string kept;
    while (auto o = web.poll_output()) kept += o->bytes;
    CHECK(kept.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(kept.find("cannot keep the file: disk full") != std::string::npos);
    CHECK(ask("garbage\r\n\r\n").rfind("HTTP/1.1 400", 0) == 0);
    // Events as server-sent events, from the number asked for.
    net.type(alice, "\\ping 127.0.0.9 7300");
    api.drain();
    REQUIRE(api.server->last_event() > 0);
    auto stream = ask("GET /events?after=0 HTTP/1.1\r\n" + host + "Authorization: Bearer " + token + "\r\n\r\n");
    CHECK(stream.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(stream.find("Content-Type: text/event-stream") != std::string::npos);
    CHECK(stream.find("\r\n\r\nid: 1\ndata: {") != std::string::npos);
    CHECK(stream.find("\"id\":0") == std::string::npos);  // the answer to its subscribe is not an event

    // An image received is shown inline: GET /image/ID is read by the driver and answered with its type.
    files::ev::Completed done;
    done.id.fill(0x5a);
    done.path = "/downloads/cat.png";
    done.size = 3;
    done.image = files::Image{"png", 2, 1};
    api.server->handle_event(net.now(), files::Event{done}, "");
    CHECK(ask("GET /image/" + std::string(32, '0') + "?token=" + token + " HTTP/1.1\r\n" + host + "\r\n")
              .rfind("HTTP/1.1 404", 0) == 0);
    api::ClientId c = ++next;
    web.handle_connect(c);
    web.handle_bytes(net.now(), c, "GET /image/5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a?token=" + token + " HTTP/1.1\r\n" + host + "\r\n");
    auto read = web.poll_read();
    REQUIRE(read);
    CHECK(read->path == "/downloads/cat.png");
    web.handle_image(*read, std::string("PNG"));
    auto shown = web.poll_output();
    REQUIRE(shown);
    CHECK(shown->bytes.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(shown->bytes.find("Content-Type: image/png") != std::string::npos);
    CHECK(shown->bytes.substr(shown->bytes.size() - 3) == "PNG");
    CHECK(shown->close);
}

TEST_CASE("a file's progress is an event like the others: numbered, logged, with the bytes on disk") {
    HostNet net;
    auto& alice = net.started("alice");
    Api api(net, alice);
    api.attach();
    api.server->handle_connect(1);
    api.call(1, "subscribe");
    api.take(1);
    files::TransferView t;
    t.id.fill(0xab);
    t.side = files::Side::receiving;
    t.phase = files::Phase::transferring;
    t.name = "report.pdf";
    t.size = 1000;
    t.chunks = 4;
    t.have = 2;
    api.server->handle_progress(net.now(), t, cli::bytes_had(t), "");
    api.drain();
    auto msgs = api.take(1);
    REQUIRE(msgs.size() == 1);
    auto& p = msgs[0]["params"];
    CHECK(p["kind"] == "file.progress");
    CHECK(p["name"] == "report.pdf");
    CHECK(p["have"] == 500);
    CHECK(p["size"] == 1000);
    CHECK(p["id"] == "abababababababababababababababab");
    CHECK(api.log.events.size() == 1);
}

TEST_CASE("history with a group gives the lines kept of it, oldest first; one of user, group and room is needed") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    Api api(net, alice);
    api.attach();
    api.server->handle_connect(7);
    net.type(alice, "\\connect bob");
    net.run_for(500);
    net.type(bob, "\\yes");
    net.run_for(1500);
    REQUIRE(alice.host->groups()->groups().size() == 1);
    net.type(alice, "\\group " + to_hex(alice.host->groups()->groups().front().id).substr(0, 8));
    net.type(alice, "\\title plans");
    net.run_for(500);
    net.type(alice, "eight?");
    net.run_for(500);
    net.type(bob, "or nine \x1b[2J");
    net.run_for(1000);
    auto lines = api.call(7, "history", {{"group", "plans"}})["result"];
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["text"] == "eight?");
    CHECK(lines[0]["own"] == true);
    CHECK(lines[0]["author"] == "alice");
    CHECK(lines[1]["text"] == "or nine \x1b[2J");
    CHECK(lines[1]["author"] == "bob");
    CHECK(lines[1]["key"] == to_hex(bob.id.pk));
    CHECK(lines[1]["group"] == to_hex(alice.host->groups()->groups().front().id));
    CHECK(api.call(7, "history", {{"group", "plans"}, {"count", 1}})["result"].size() == 1);
    CHECK(api.call(7, "history", json::object())["error"]["code"] == -32602);
    CHECK(api.call(7, "history", {{"user", "bob"}, {"group", "plans"}})["error"]["code"] == -32602);
    CHECK(api.call(7, "history", {{"group", "nothing"}})["error"]["code"] == -32000);
    CHECK(api.call(7, "history", {{"room", "ab"}})["error"]["code"] == -32001);  // no rooms on this node
}
