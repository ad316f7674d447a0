// A directory, relays and users registered with it, for the integration tests of
// rooms (rooms_test.cpp) and of files shared in rooms (files_rooms_test.cpp).
#pragma once

#include "harness.hpp"

namespace dc::it {

inline std::string at(const Node& n) { return "127.0.0.1:" + std::to_string(n.port()); }

// A directory, `relays` relays registered with it, and users alice and bob
// registered with it (with downloads, each downloads files to <tmp>/<user>-dl).
struct Rooms {
    Net net;
    std::vector<std::string> relay_keys;

    explicit Rooms(int relays, std::vector<std::string> dir_flags = {},
                   std::vector<std::string> users = {"alice", "bob"}, bool downloads = false, Loc loc = Loc::current()) {
        net.start_role("dir", "directory", dir_flags, loc);
        for (int i = 1; i <= relays; ++i) {
            std::string key = "R" + std::to_string(i);
            net.start_role(key, "relay", {"--dir", at(net["dir"])}, loc);
            relay_keys.push_back(key);
        }
        for (auto& u : users) {
            std::vector<std::string> extra{"--dir", at(net["dir"])};
            if (downloads) extra.insert(extra.end(), {"--downloads", net.tmp.sub(u + "-dl")});
            net.start(u, Net::Opts{.extra = extra}, loc);
        }
        for (auto& u : users) wait_relays(net.proc(u), relays, loc);
        // The delay vectors reach the directory with the next heartbeat (each second).
        sleep_for(1.5);
    }

    // Which relay (key in net) listens at addr.
    std::string relay_at(const std::string& addr) {
        for (auto& k : relay_keys)
            if (at(net[k]) == addr) return k;
        return {};
    }

    // Waits until \relays lists n relays with a measured rtt.
    static void wait_relays(Proc& p, int n, Loc loc = Loc::current()) {
        auto deadline = Clock::now() + secs(10);
        for (;;) {
            std::size_t m = p.mark();
            p.send("\\relays", loc);
            auto end = p.wait_index(re(R"(^\* \d+ relays?)"), 5, m);
            if (end && p.count(re(R"(^  127\.0\.0\.1:\d+ rtt \d+ ms)"), m) == static_cast<std::size_t>(n)) return;
            if (Clock::now() > deadline) {
                ADD_FAIL_AT(loc.file_name(), loc.line(), "relays not measured within 10 s:\n" << p.tail());
                return;
            }
            sleep_for(0.3);
        }
    }
};

struct Room {
    std::string id;     // 8 hex digits
    std::string relay;  // 127.0.0.1:PORT
};

inline const char* kRoomLine = R"(^\* room ([0-9a-f]{8}) on relay (127\.0\.0\.1:\d+) with )";

inline Room parse_room(const std::string& line) {
    std::smatch m;
    static const std::regex rx(kRoomLine);
    if (!std::regex_search(line, m, rx)) return {};
    return Room{m[1], m[2]};
}

// alice (a) asks for a room with bob (b) and carol (c), and bob accepts; carol's
// answer is left to the caller. A SERVER_ERR (the delay vectors not at the directory
// yet) is tried again. am, bm, cm: the marks before the request that worked.
inline void request_of_three(Proc& a, Proc& b, Proc& c, std::size_t& am, std::size_t& bm, std::size_t& cm) {
    std::string invite = "* alice asks for a chat (with ";
    for (int attempt = 0;; ++attempt) {
        am = a.mark(), bm = b.mark(), cm = c.mark();
        a.send("\\request bob carol");
        b.wait_for(exactly(invite + "carol): \\accept alice or \\decline alice"), 5, bm);
        c.wait_for(exactly(invite + "bob): \\accept alice or \\decline alice"), 5, cm);
        b.send("\\accept alice");
        auto i = a.wait_index(re("^\\* request bob: (REQ_ACCEPTED|SERVER_ERR)"), 5, am);
        REQUIRE_MESSAGE(i.has_value(), "no answer for bob:\n" << a.tail());
        if (a.line(*i).find("REQ_ACCEPTED") != std::string::npos) break;
        REQUIRE_MESSAGE(attempt < 4, "SERVER_ERR five times:\n" << a.tail());
        c.send("\\decline alice");
        sleep_for(1);
    }
}

}  // namespace dc::it
