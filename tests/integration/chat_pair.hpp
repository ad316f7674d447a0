// Two darkchat users on 127.0.0.1 chatting, as the delivery and batching
// tests drive them: alice and bob linked, alice chatting with bob; what bob
// showed of alice's across his runs; bounded waits; what bob's database holds.
#pragma once

#include "harness.hpp"

#include <sqlite3.h>

namespace dc::it {

// alice and bob, linked by \ping and \add, each in its own data directory
// (bob's under bob_dir when given).
inline void linked_pair(Net& net, const std::string& bob_dir = {}) {
    Node& b = net.start("bob", {.server = false, .dir = bob_dir});
    Node& a = net.start("alice", {.server = false});
    a.proc->send("\\ping 127.0.0.1 " + std::to_string(b.port()));
    a.proc->send("\\add bob");
    // bob's answer to the ping may come before alice reads \add (then bob is
    // already known when she adds him) or after it (then his declaration says so).
    const std::string bob_online = "* online bob " + b.addr() + " session " + b.ready.session + " ";
    a.proc->wait_for(re("^" + quote(bob_online) + "\\((declared online|already known)\\)$"));
    b.proc->wait_for(exactly(presence(a, true, "declared online")));
    a.proc->send("\\chat bob");
    a.proc->wait_for(exactly("* chatting with bob (online)"));
}

// The lines bob showed of alice's, across all of bob's runs.
inline std::vector<std::string> from_alice(Net& net) {
    std::vector<std::string> v;
    for (auto& l : net.all_output("bob"))
        if (l.rfind("<alice> ", 0) == 0) v.push_back(l.substr(8));
    return v;
}

// Polls until done() holds (true) or the time is up (false; the checks that follow say why).
template <typename Done>
bool wait_until(Done done, double timeout) {
    auto end = Clock::now() + secs(timeout);
    while (!done()) {
        if (Clock::now() >= end) return false;
        sleep_for(0.05);
    }
    return true;
}

// Waits until bob showed n lines of alice's.
inline void wait_count(Net& net, std::size_t n, double timeout) {
    wait_until([&] { return from_alice(net).size() >= n; }, timeout);
}

// Waits until p showed n lines matching pat since mark.
inline void wait_lines(Proc& p, const Pattern& pat, std::size_t n, double timeout, std::size_t mark) {
    wait_until([&] { return p.count(pat, mark) >= n; }, timeout);
}

inline const Pattern delivered = re("^\\* delivered [0-9a-f]{8} to bob$");

// The texts of the messages from `from` in a darkchat database, in the order stored.
inline std::vector<std::string> history_from(const std::string& db_path, const std::string& from) {
    sqlite3* db = nullptr;
    std::vector<std::string> out;
    REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT text FROM history WHERE from_user = ? ORDER BY stored, rowid", -1, &st,
                               nullptr) == SQLITE_OK);
    sqlite3_bind_text(st, 1, from.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

}  // namespace dc::it
