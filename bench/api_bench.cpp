// The daemon API (darkchat-api(7)) on real processes: darkchatd -u alice and
// darkchatd -u bob on loopback, driven only through their API sockets.
//   - round trip of a small method (users) against a raw Unix-socket round
//     trip of a line of the same size, measured in the same run;
//   - event latency: from calling chat on alice to the notification queued on
//     alice, to bob's subscriber seeing the message, to delivered on alice;
//   - events per second a subscriber follows: a burst of messages live, and
//     the whole log replayed from seq 0;
//   - resident memory of an idle daemon, without and with a subscribed client.
// Usage: api_bench [--darkchatd PATH] [--calls N] [--paced N] [--burst N]
#include "bench_util.hpp"
#include "support/api_client.hpp"

#include <nlohmann/json.hpp>

#include <sys/un.h>

#include <thread>

using namespace dc::bench;
using json = nlohmann::json;

namespace {

// One connection to an API socket (tests/support/api_client.hpp); what fails stops the bench.
class Client : public dc::support::ApiClient {
public:
    explicit Client(const std::string& path) : ApiClient(path) {
        if (!ok()) die("connect " + path);
    }
    explicit Client(int fd) : ApiClient(fd) {}
    void write(const std::string& s) {
        if (!ApiClient::write(s)) die("write to the API");
    }
    // The next line, within ms; none on timeout.
    std::optional<std::string> line(int ms = 10000) {
        auto l = ApiClient::line(ms / 1000.0);
        if (!l && closed()) die("the API closed");
        return l;
    }
    json call(const std::string& method, json params = nullptr) {
        auto m = ApiClient::call(method, std::move(params));
        if (!m) die("no answer to " + method);
        return *m;
    }
};

struct Daemon {
    Child child;
    std::string dir;
    int port = 0;
    std::string sock() const { return dir + "/api.sock"; }
};

Daemon start(const std::string& bin, const std::string& name, const std::string& root) {
    Daemon d;
    d.dir = root + "/" + name;
    std::string log = root + "/" + name + ".log";
    d.child = spawn_tracked({bin, "-u", name, "-p", "0", "--bind", "127.0.0.1", "--data-dir", d.dir},
                            {.pipe_in = false, .pipe_out = false, .stdout_file = {}, .stderr_file = log});
    auto ready = wait_for_file_line(log, "* ready: " + name + " at ", after_ms(10000));
    if (!ready) die(name + " did not start");
    d.port = ready_port(*ready);
    for (int i = 0; i < 200 && !std::filesystem::exists(d.sock()); ++i) ::usleep(10000);
    return d;
}

std::string us(double v) { return fmt(v, 1) + " us"; }

}  // namespace

int main(int argc, char** argv) {
    std::string bin = self_dir() + "/../darkchatd";
    int calls = 3000, paced = 300, burst = 900;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--darkchatd") bin = argv[i + 1];
        else if (a == "--calls") calls = std::atoi(argv[i + 1]);
        else if (a == "--paced") paced = std::atoi(argv[i + 1]);
        else if (a == "--burst") burst = std::atoi(argv[i + 1]);
        else die("unknown flag " + a);
    }
    std::atexit(kill_tracked);
    ::signal(SIGPIPE, SIG_IGN);
    TempDir tmp("api");
    Daemon alice = start(bin, "alice", tmp.path);
    Daemon bob = start(bin, "bob", tmp.path);

    // Memory of an idle daemon, before any client.
    ::usleep(1500000);
    long long idle_kb = sample_proc(alice.child.pid)->rss_kb;

    Client a(alice.sock()), b(bob.sock());
    const std::string probe = R"({"jsonrpc":"2.0","id":1,"method":"users","params":{"which":"online"}})";

    // Baseline: the same line there and back over a Unix socket, echoed by a thread.
    std::vector<double> raw;
    {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
        std::thread echo([fd = sv[1], calls] {
            Client e(fd);
            for (int i = 0; i < calls; ++i) {
                auto l = e.line();
                if (!l) return;
                e.write(*l + "\n");
            }
        });
        Client c(sv[0]);
        for (int i = 0; i < calls; ++i) {
            auto t0 = now();
            c.write(probe + "\n");
            if (!c.line()) die("echo");
            raw.push_back(us_between(t0, now()));
        }
        echo.join();
    }

    // The API: a small method, there and back.
    std::vector<double> rtt;
    for (int i = 0; i < calls; ++i) {
        auto t0 = now();
        a.call("users", {{"which", "online"}});
        rtt.push_back(us_between(t0, now()));
    }

    // Link them through the API.
    a.call("ping", {{"host", "127.0.0.1"}, {"port", bob.port}});
    a.call("add", {{"user", "bob"}});
    b.call("add", {{"user", "alice"}});
    for (int i = 0; i < 100; ++i) {
        if (a.call("users", {{"which", "online"}})["result"].size() == 1 &&
            b.call("users", {{"which", "online"}})["result"].size() == 1)
            break;
        ::usleep(50000);
    }
    a.call("subscribe");
    b.call("subscribe");

    // Event latency, one message at a time.
    std::vector<double> to_queued, to_message, to_delivered;
    for (int i = 0; i < paced; ++i) {
        std::string text = "paced " + std::to_string(i);
        auto t0 = now();
        json req{{"jsonrpc", "2.0"}, {"id", 1000000 + i}, {"method", "chat"}, {"params", {{"to", "bob"}, {"text", text}}}};
        a.write(req.dump() + "\n");
        bool queued = false, delivered = false, message = false;
        auto deadline = after_ms(10000);
        while ((!queued || !delivered || !message) && now() < deadline) {
            if (!message) {
                pollfd p[2] = {{a.fd(), POLLIN, 0}, {b.fd(), POLLIN, 0}};
                ::poll(p, 2, 100);
                if (p[1].revents & POLLIN)
                    while (auto l = b.line(0)) {
                        auto m = json::parse(*l);
                        if (m.value("method", "") == "event" && m["params"]["kind"] == "message" &&
                            m["params"]["message"]["text"] == text) {
                            to_message.push_back(us_between(t0, now()));
                            message = true;
                            break;
                        }
                    }
                if (!(p[0].revents & POLLIN)) continue;
            }
            auto l = a.line(message ? ms_until(deadline) : 0);
            if (!l) continue;
            auto m = json::parse(*l);
            if (m.value("method", "") != "event") continue;
            auto kind = m["params"]["kind"];
            if (kind == "queued" && !queued) {
                to_queued.push_back(us_between(t0, now()));
                queued = true;
            } else if (kind == "delivered" && queued) {
                to_delivered.push_back(us_between(t0, now()));
                delivered = true;
            }
        }
        if (!queued || !delivered || !message) die("message " + std::to_string(i) + " not seen through");
    }

    // Events per second: a burst of messages, bob's subscriber following.
    auto t0 = now();
    std::string many;
    for (int i = 0; i < burst; ++i) {
        json req{{"jsonrpc", "2.0"}, {"id", 2000000 + i}, {"method", "chat"},
                 {"params", {{"to", "bob"}, {"text", "burst " + std::to_string(i)}}}};
        many += req.dump() + "\n";
    }
    a.write(many);
    int got = 0;
    auto deadline = after_ms(60000);
    while (got < burst && now() < deadline) {
        auto l = b.line(ms_until(deadline));
        if (!l) break;
        if (l->find(R"("kind":"message")") != std::string::npos) ++got;
    }
    double live_s = s_between(t0, now());
    if (got < burst) die("burst: bob saw " + std::to_string(got) + " of " + std::to_string(burst));

    // The whole of bob's log, replayed to a new client.
    Client r(bob.sock());
    auto sub = r.call("subscribe", {{"after", 0}});
    auto last = sub["result"]["last"].get<long long>();
    auto t1 = now();
    long long replayed = 0;
    while (replayed < last) {
        auto l = r.line();
        if (!l) die("replay stalled");
        if (l->find(R"("method":"event")") != std::string::npos) ++replayed;
    }
    double replay_s = s_between(t1, now());

    // Memory with a subscribed client, idle again: after the quiet spell in
    // which the driver gives back what work left resident (5 s quiet, src/io/loop.cpp).
    ::usleep(12000000);
    long long sub_kb = sample_proc(alice.child.pid)->rss_kb;

    auto R = summarize(raw), A = summarize(rtt), Q = summarize(to_queued), M = summarize(to_message),
         D = summarize(to_delivered);
    std::printf("| figure | value | baseline | baseline value | ratio |\n|---|---|---|---|---|\n");
    row("API round trip (users), p50", us(A.median), "raw Unix-socket round trip, p50", us(R.median),
        fmt(A.median / R.median, 1) + "x");
    row("API round trip (users), p99", us(A.p99), "raw Unix-socket round trip, p99", us(R.p99),
        fmt(A.p99 / R.p99, 1) + "x");
    row("chat call to its queued event, p50 / p99", us(Q.median) + " / " + us(Q.p99), "API round trip, p50",
        us(A.median), fmt(Q.median / A.median, 1) + "x");
    row("chat call to bob's message event, p50 / p99", us(M.median) + " / " + us(M.p99), "API round trip, p50",
        us(A.median), fmt(M.median / A.median, 1) + "x");
    row("chat call to delivered, p50 / p99", us(D.median) + " / " + us(D.p99), "API round trip, p50", us(A.median),
        fmt(D.median / A.median, 1) + "x");
    row("message events followed live (" + std::to_string(burst) + " sent at once)",
        fmt(burst / live_s, 0) + " /s", "-", "-", "-");
    row("events replayed from the log (" + std::to_string(last) + ")", fmt(static_cast<double>(last) / replay_s, 0) + " /s",
        "-", "-", "-");
    row("resident memory, idle daemon", std::to_string(idle_kb) + " KiB", "-", "-", "-");
    row("resident memory, idle with a subscribed client", std::to_string(sub_kb) + " KiB", "idle daemon",
        std::to_string(idle_kb) + " KiB", fmt(static_cast<double>(sub_kb) / static_cast<double>(idle_kb), 2) + "x");
    std::printf("(%d round trips each; %d paced messages; %s)\n", calls, paced, bin.c_str());
    stop_tracked(alice.child);
    stop_tracked(bob.child);
    return 0;
}
