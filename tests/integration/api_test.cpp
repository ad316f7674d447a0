// The daemon API on real processes (darkchat-api(7)): darkchatd -u alice in
// the background driven through its Unix socket, bob on a terminal; events a
// client missed while away and across kill -9 of the node; and what a hostile
// or careless client does: garbage, an oversized line, a crowd, another user.
#include "harness.hpp"
#include "support/api_client.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <filesystem>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

using namespace dc::it;
using json = nlohmann::json;

namespace {

// One connection to a node's API socket (tests/support/api_client.hpp): a call
// with no answer fails the test.
class Client : public dc::support::ApiClient {
public:
    using ApiClient::ApiClient;
    json call(const std::string& method, json params = nullptr) {
        auto m = ApiClient::call(method, std::move(params));
        REQUIRE_MESSAGE(m.has_value(), "no answer to " << method);
        return *m;
    }
};

std::string socket_of(Net& net, const std::string& key) { return net[key].dir + "/api.sock"; }

// alice as darkchatd in the background, bob on darkchat; linked through alice's API.
void pair(Net& net) {
    net.start("alice", Net::Opts{.server = false, .daemon = true});
    net.start("bob", Net::Opts{.server = false});
    Client a(socket_of(net, "alice"));
    REQUIRE(a.ok());
    Proc& bob = net.proc("bob");
    auto mb = bob.mark();
    CHECK(a.call("ping", {{"host", "127.0.0.1"}, {"port", net["bob"].port()}})["result"] == true);
    CHECK(a.call("add", {{"user", "bob"}})["result"] == true);
    bob.wait_for(exactly("* alice linked you"), 5, mb);
    bob.send("\\add alice");
    bob.wait_for(re("^\\* online alice "), 5, mb);
}

// The newest seq of alice's event log, from a client that subscribes and goes.
std::uint64_t last_seen(Net& net) {
    Client a(socket_of(net, "alice"));
    REQUIRE(a.ok());
    return a.call("subscribe", {{"after", 0}})["result"]["last"].get<std::uint64_t>();
}

bool is_message(const json& e, const std::string& text) {
    return e["kind"] == "message" && e["message"]["text"] == text;
}

}  // namespace

TEST_CASE("darkchatd -u alice is driven through its socket: contacts, a message each way, history") {
    Net net;
    pair(net);
    struct stat st {};
    REQUIRE(::lstat(socket_of(net, "alice").c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);

    Client a(socket_of(net, "alice"));
    REQUIRE(a.ok());
    auto users = a.call("users", {{"which", "online"}})["result"];
    REQUIRE(users.size() == 1);
    CHECK(users[0]["name"] == "bob");
    auto sub = a.call("subscribe");
    REQUIRE(sub["result"].contains("next"));

    Proc& bob = net.proc("bob");
    auto mb = bob.mark();
    CHECK(a.call("chat", {{"to", "bob"}, {"text", "from a program"}})["result"] == true);
    bob.wait_for(exactly("<alice> from a program"), 5, mb);
    auto evs = a.events_until([](const json& e) { return e["kind"] == "delivered"; });
    REQUIRE(!evs.empty());
    CHECK(evs.back()["to"] == "bob");

    bob.send("\\chat alice");
    bob.send("and back, \x1b[31mred\x1b[0m");
    evs = a.events_until([](const json& e) { return e["kind"] == "message"; });
    REQUIRE(!evs.empty());
    CHECK(evs.back()["message"]["from"] == "bob");
    CHECK(evs.back()["message"]["text"] == "and back, \x1b[31mred\x1b[0m");
    CHECK(evs.back()["line"] == "<bob> and back, \\x1b[31mred\\x1b[0m");
    for (std::size_t i = 1; i < evs.size(); ++i) CHECK(evs[i]["seq"] == evs[i - 1]["seq"].get<std::uint64_t>() + 1);

    auto h = a.call("history", {{"user", "bob"}})["result"];
    REQUIRE(h.size() == 2);
    CHECK(h[0]["text"] == "from a program");
    CHECK(h[1]["from"] == "bob");

    // quit answers, then the node stops and its socket is gone.
    CHECK(a.call("quit")["result"] == true);
    CHECK(net.proc("alice").expect_exit(5) == 0);
    CHECK(::lstat(socket_of(net, "alice").c_str(), &st) != 0);
}

TEST_CASE("events missed while no client was attached, and across kill -9 of the node, come from the log") {
    Net net;
    pair(net);
    const std::uint64_t seen = last_seen(net);
    REQUIRE(seen > 0);
    // Nobody attached: bob says three things.
    Proc& bob = net.proc("bob");
    auto mb = bob.mark();
    bob.send("\\chat alice");
    for (int i = 0; i < 3; ++i) bob.send("while away " + std::to_string(i));
    for (int i = 0; i < 100; ++i) {
        auto lines = bob.lines();
        std::vector<std::string> since(lines.begin() + static_cast<long>(mb), lines.end());
        if (count_in(since, re("^\\* delivered [0-9a-f]{8} to alice$")) == 3) break;
        sleep_for(0.1);
    }
    net.kill9("alice");
    // And one more while alice's node is down: left with nobody, sent when it is back.
    bob.send("while dead");
    net.start("alice", Net::Opts{.server = false, .daemon = true});

    Client a(socket_of(net, "alice"));
    REQUIRE(a.ok());
    a.call("subscribe", {{"after", seen}});
    auto evs = a.events_until([](const json& e) { return is_message(e, "while dead"); }, 20);
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < evs.size(); ++i) {
        CHECK(evs[i]["seq"] == seen + 1 + i);  // every one, in order, none twice
        if (evs[i]["kind"] == "message") texts.push_back(evs[i]["message"]["text"]);
    }
    CHECK(texts == std::vector<std::string>{"while away 0", "while away 1", "while away 2", "while dead"});
}

TEST_CASE("a message and its event are stored together: when the event cannot be, neither is, and the message comes again") {
    Net net;
    pair(net);
    const std::uint64_t seen = last_seen(net);
    // From now on alice's event log refuses every new event (a trigger through a
    // second connection): the turn that shows bob's message cannot store its
    // event. Stored apart, the message would be kept (and acknowledged) and its
    // event lost for good once alice is killed; stored together, neither is.
    const std::string db = net["alice"].dir + "/darkchat.db";
    auto exec = [&](const char* sql) {
        sqlite3* c = nullptr;
        REQUIRE(sqlite3_open(db.c_str(), &c) == SQLITE_OK);
        sqlite3_busy_timeout(c, 5000);
        CHECK(sqlite3_exec(c, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(c);
    };
    exec("CREATE TRIGGER refuse_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
    Proc &alice = net.proc("alice"), &bob = net.proc("bob");
    auto ma = alice.mark(), mb = bob.mark();
    bob.send("\\chat alice");
    bob.send("while refused");
    alice.wait_for(re("! cannot save state \\(.*refused by the test.*darkchat stops"), 10, ma);
    CHECK(alice.expect_exit(10) == 1);
    CHECK(alice.count(re("<bob> while refused"), ma) == 0);  // not stored, so not shown
    CHECK(bob.count(re("^\\* delivered "), mb) == 0);       // nor acknowledged

    exec("DROP TRIGGER refuse_events");
    net.start("alice", Net::Opts{.server = false, .daemon = true});
    bob.wait_for(re("^\\* delivered [0-9a-f]{8} to alice$"), 20, mb);
    Client a(socket_of(net, "alice"));
    REQUIRE(a.ok());
    a.call("subscribe", {{"after", seen}});
    auto evs = a.events_until([](const json& e) { return is_message(e, "while refused"); }, 20);
    REQUIRE(!evs.empty());
    CHECK(is_message(evs.back(), "while refused"));
    int messages = 0;
    for (auto& e : evs) messages += is_message(e, "while refused") ? 1 : 0;
    CHECK(messages == 1);
}

TEST_CASE("garbage, an oversized line, a crowd of clients and another user: each is answered or closed, the node goes on") {
    Net net;
    net.start("alice", Net::Opts{.server = false, .daemon = true});
    const std::string path = socket_of(net, "alice");

    Client bad(path);
    REQUIRE(bad.ok());
    bad.write("\x01\x02 not json at all\n");
    auto m = bad.read();
    REQUIRE(m);
    CHECK((*m)["error"]["code"] == -32700);
    bad.write(R"({"jsonrpc":"2.0","id":1,"method":"format_disk"})" "\n");
    m = bad.read();
    REQUIRE(m);
    CHECK((*m)["error"]["code"] == -32601);

    Client big(path);
    REQUIRE(big.ok());
    big.write(std::string(2 << 20, 'x'));  // 2 MiB and no newline
    m = big.read();
    REQUIRE(m);
    CHECK((*m)["error"]["code"] == -32600);
    CHECK_FALSE(big.read(3));
    CHECK(big.closed());

    // Two hundred at once: 64 are served, the rest are told and closed.
    std::vector<std::unique_ptr<Client>> crowd;
    for (int i = 0; i < 200; ++i) crowd.push_back(std::make_unique<Client>(path));
    int refused = 0;
    for (auto& c : crowd) {
        c->write(R"({"jsonrpc":"2.0","id":1,"method":"users"})" "\n");
        auto r = c->read(5);
        if (r && r->contains("error") && (*r)["error"]["code"] == -32003) ++refused;
    }
    CHECK(refused >= 200 - 64);
    CHECK(refused < 200);
    crowd.clear();

    // Another user cannot even connect (the socket is the owner's alone).
    if (::geteuid() == 0) {
        pid_t pid = ::fork();
        if (pid == 0) {
            if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
            int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
            sockaddr_un a{};
            a.sun_family = AF_UNIX;
            std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
            ::_exit(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 1 : 0);
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    } else {
        MESSAGE("not root: the other-user check needs root to become nobody");
    }

    Client good(path);
    REQUIRE(good.ok());
    CHECK(good.call("users")["result"].is_array());
    net.quit("alice");
}

TEST_CASE("darkchat -u alice on the data directory of a running node attaches to it, and \\quit leaves it running") {
    Net net;
    pair(net);
    const std::string dir = net["alice"].dir;
    Proc t("darkchat[attached]", {darkchat_bin(), "-u", "alice", "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir},
           net.env());
    t.wait_for(exactly("* attached to the running node of alice: lines go to it; \\quit leaves it running"), 5);
    auto m = t.mark();
    t.send("\\users");
    t.wait_for(re("^  bob online contact"), 5, m);
    t.send("\\chat bob");
    t.send("through the attached terminal");
    Proc& bob = net.proc("bob");
    bob.wait_for(exactly("<alice> through the attached terminal"), 5);
    t.wait_for(re("^\\* delivered [0-9a-f]{8} to bob$"), 5, m);
    m = t.mark();
    bob.send("\\chat alice");
    bob.send("seen on the attached terminal");
    t.wait_for(exactly("<bob> seen on the attached terminal"), 5, m);
    t.send("\\quit");
    t.wait_for(exactly("* detached; the node of alice goes on"), 5);
    CHECK(t.expect_exit(5) == 0);
    // The node still runs, and says so to a new client.
    Client a(socket_of(net, "alice"));
    REQUIRE(a.ok());
    CHECK(a.call("users", {{"which", "online"}})["result"].size() == 1);
}

TEST_CASE("files through the API: send_file offers, accept_file takes an offer, and the events follow each step") {
    Net net;
    pair(net);
    Client a(socket_of(net, "alice"));
    REQUIRE(a.ok());
    a.call("subscribe");
    Proc& bob = net.proc("bob");
    const std::string src = net.tmp.sub("src") + "/notes.txt";
    const std::string data(300000, 'n');
    std::filesystem::create_directories(net.tmp.sub("src"));
    {
        std::ofstream(src, std::ios::binary) << data;
    }
    CHECK(a.call("send_file", {{"to", "bob"}, {"path", "notes.txt"}})["error"]["message"] == "path must be absolute");
    auto missing = a.call("send_file", {{"to", "bob"}, {"path", src + ".nope"}});
    CHECK(missing["error"]["code"] == -32000);
    CHECK(missing["error"]["message"].get<std::string>().find("cannot send") != std::string::npos);

    auto mb = bob.mark();
    auto offered = a.call("send_file", {{"to", "bob"}, {"path", src}});
    CHECK_MESSAGE(offered["result"] == true, offered.dump());
    std::string line = bob.wait_for(re("^\\* file [0-9a-f]{8} offered by alice: notes\\.txt"), 10, mb);
    bob.send("\\accept " + line.substr(7, 8));
    auto evs = a.events_until([](const json& e) { return e["kind"] == "file.delivered"; }, 20);
    REQUIRE(!evs.empty());
    CHECK(evs.back()["kind"] == "file.delivered");

    // And the other way: bob offers, alice's program accepts by the offer's id.
    bob.send("\\chat alice");
    bob.send("\\send " + src);
    evs = a.events_until([](const json& e) { return e["kind"] == "file.offered"; }, 10);
    REQUIRE(!evs.empty());
    const std::string id = evs.back()["id"];
    CHECK(evs.back()["name"] == "notes.txt");
    CHECK(evs.back()["size"] == data.size());
    auto taken = a.call("accept_file", {{"id", id.substr(0, 8)}});
    REQUIRE(taken.contains("result"));
    evs = a.events_until([](const json& e) { return e["kind"] == "file.completed"; }, 20);
    REQUIRE(!evs.empty());
    CHECK(read_file(evs.back()["path"].get<std::string>()) == data);
    CHECK(a.call("accept_file", {{"id", "zz"}})["error"]["code"] == -32602);
}

TEST_CASE("the uploads folder keeps a file only while a transfer reads it") {
    // The web page writes what it uploads to <data dir>/uploads and offers it from there
    // (send_file with that path): here the same, without a browser.
    Net net;
    pair(net);
    Client a(socket_of(net, "alice"));
    REQUIRE(a.ok());
    a.call("subscribe");
    Proc& bob = net.proc("bob");
    namespace fs = std::filesystem;
    const fs::path uploads = fs::path(net["alice"].dir) / "uploads";
    fs::create_directories(uploads);
    const std::string data(200000, 'u');
    {
        std::ofstream(uploads / "photo.jpg", std::ios::binary) << data;
        std::ofstream(uploads / "left over.txt", std::ios::binary) << "from an upload never offered";
    }
    auto mb = bob.mark();
    CHECK(a.call("send_file", {{"to", "bob"}, {"path", (uploads / "photo.jpg").string()}})["result"] == true);
    CHECK(fs::exists(uploads / "photo.jpg"));             // offered, not yet taken: kept
    CHECK_FALSE(fs::exists(uploads / "left over.txt"));  // read by no transfer: gone
    std::string line = bob.wait_for(re("^\\* file [0-9a-f]{8} offered by alice: photo\\.jpg"), 10, mb);
    bob.send("\\accept " + line.substr(7, 8));
    auto evs = a.events_until([](const json& e) { return e["kind"] == "file.delivered"; }, 20);
    REQUIRE(!evs.empty());
    CHECK_FALSE(fs::exists(uploads / "photo.jpg"));  // bob has it: gone
    CHECK(fs::exists(uploads));
}
