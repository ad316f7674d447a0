// Fuzz target: the daemon API's request decoder (darkchat-api(7)) and every
// method behind it. The input is what a client writes to the socket, cut into
// the pieces the first bytes pick, handed to an api::Server over a user's host
// that has a contact; whatever comes back must be whole lines, each a JSON-RPC
// 2.0 response or notification, and a connection told to close sends nothing
// more. Nothing may crash, hang or throw.

#include "fuzz_common.hpp"

#include "darkchat/api.hpp"
#include "darkchat/crypto.hpp"
#include "darkchat/session.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>

using namespace dc;
using json = nlohmann::json;

namespace {

struct World {
    std::unique_ptr<host::Host> host;
    std::unique_ptr<cli::Session> session;  // what "type" hands its line to
    World() {
        (void)crypto::init();
        host::Config cfg;
        cfg.node.port = 7400;
        cfg.node.bind_addr = *Addr::parse("127.0.0.1");
        auto h = host::Host::create(cfg, fuzz::kSelf.identity(), {}, core::real_crypto(), 1);
        if (!h) fuzz::die("host", h.error());
        host = std::move(h).value();
        session = std::make_unique<cli::Session>(*host);
        host->handle_start(1000, cfg.node.bind_addr);
        host->node()->handle_command(1000, core::cmd::Ping{*Addr::parse("127.0.0.2:7400")});
        drain();
    }
    void drain() {
        while (host->poll_store()) host->handle_store_applied(1000);
        while (auto e = host->poll_event()) session->handle_event(*e);
        while (session->poll_line()) {}
        while (host->poll_transmit()) {}
    }
};

void check_output(const api::Output& o, bool& closed) {
    fuzz::expect(!closed, "api", "output after close");
    if (o.close) closed = true;
    std::size_t start = 0;
    while (start < o.bytes.size()) {
        auto nl = o.bytes.find('\n', start);
        fuzz::expect(nl != std::string::npos, "api", "output not a whole line");
        auto m = json::parse(o.bytes.substr(start, nl - start), nullptr, false);
        fuzz::expect(!m.is_discarded() && m.is_object(), "api", "output not a JSON object");
        fuzz::expect(m.value("jsonrpc", "") == "2.0", "api", "output not JSON-RPC 2.0");
        fuzz::expect(m.contains("result") || m.contains("error") || m.contains("method"), "api", "neither answer nor notification");
        start = nl + 1;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static World world;
    api::Config cfg;
    cfg.max_request = 4096;
    cfg.window = 1024;
    api::Server server(*world.host, cfg, 0);
    server.handle_connect(1);
    bool closed = false;
    std::size_t at = 0, i = 0;
    TimeMs now = 2000;
    while (at < size) {
        std::size_t piece = 1 + data[i++ % size] % 200;  // pieces of 1 to 200 bytes
        piece = std::min(piece, size - at);
        server.handle_bytes(now, 1, std::string_view(reinterpret_cast<const char*>(data) + at, piece));
        at += piece;
        world.drain();
        while (auto r = server.poll_read()) {
            if (auto* l = std::get_if<api::LogRead>(&*r)) server.handle_log(*l, std::vector<EventRecord>{});
            else if (auto* h = std::get_if<api::HistoryRead>(&*r)) server.handle_history(*h, std::vector<HistoryRecord>{});
            else if (auto* t = std::get_if<api::Typed>(&*r)) {
                world.session->handle_line(now, t->line);
                std::vector<std::string> said;
                while (auto l = world.session->poll_line()) said.push_back(std::move(*l));
                while (world.session->poll_resolve()) {}
                while (world.session->poll_history()) {}
                while (world.session->poll_file_request()) {}
                server.handle_typed(*t, said);
            } else {
                server.handle_resolved(now, std::get<api::Resolve>(*r), err("no lookups here"));
            }
        }
        while (auto o = server.poll_output()) check_output(*o, closed);
        server.handle_drained(1);
        ++now;
    }
    // The same bytes as an HTTP request to the web page (darkchat-api(7)): an
    // answer that starts as HTTP does, or nothing yet; no crash.
    api::Server web_server(*world.host, cfg, 0);
    api::Web web(web_server, std::string(64, 'a'), 8080);
    web.handle_connect(api::kWebClient | 1);
    web.handle_bytes(now, api::kWebClient | 1, std::string_view(reinterpret_cast<const char*>(data), size));
    world.drain();
    for (int round = 0; round < 4; ++round) {
        while (web_server.poll_read()) {}
        while (auto o = web_server.poll_output()) web.handle_output(std::move(*o));
    }
    bool first = true;
    while (auto o = web.poll_output()) {
        if (first && !o->bytes.empty()) fuzz::expect(o->bytes.rfind("HTTP/1.1 ", 0) == 0, "web", "not an HTTP answer");
        first = false;
    }
    return 0;
}
