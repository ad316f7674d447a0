// Relay selection (src/roles/select.cpp): every strategy, ties, fairness, hysteresis.
#include "roles/select.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <map>

using namespace dc;
using namespace dc::roles;

namespace {

PublicKey key(std::uint8_t n) {
    PublicKey k{};
    k[0] = n;
    return k;
}

std::vector<Candidate> relays(std::size_t n) {
    std::vector<Candidate> v;
    for (std::size_t i = 0; i < n; ++i)
        v.push_back({key(static_cast<std::uint8_t>(i + 1)), Addr::v4(127, 0, 0, 1, static_cast<std::uint16_t>(7401 + i)), {}});
    return v;
}

// Delay vector from a list of rtts, relay i+1 -> rtt[i]; negative: not measured.
DelayVector delays(std::initializer_list<int> rtts) {
    DelayVector d;
    std::uint8_t i = 1;
    for (int r : rtts) {
        if (r >= 0) d[key(i)] = static_cast<std::uint32_t>(r);
        ++i;
    }
    return d;
}

}  // namespace

TEST_CASE("strategy names round-trip and unknown names are refused") {
    for (auto s : {Strategy::min_max, Strategy::round_robin, Strategy::random, Strategy::least_loaded,
                   Strategy::client_round_robin, Strategy::cpu}) {
        auto back = parse_strategy(strategy_name(s));
        REQUIRE(back);
        CHECK(*back == s);
    }
    CHECK(parse_strategy("min-max") == Strategy::min_max);
    CHECK_FALSE(parse_strategy("minmax"));
    CHECK_FALSE(parse_strategy(""));
}

TEST_CASE("score is the max and sum over participants, none if one has not measured the relay") {
    std::vector<DelayVector> parts{delays({10, 30}), delays({20, -1})};
    auto s1 = score(key(1), parts);
    REQUIRE(s1);
    CHECK(s1->max == 20);
    CHECK(s1->sum == 30);
    CHECK_FALSE(score(key(2), parts));
    CHECK_FALSE(score(key(1), {}));
}

TEST_CASE("min-max picks the relay with the smallest largest delay") {
    auto c = relays(3);
    Selector sel(7);
    // relay 1: max 50; relay 2: max 30 (sum 40); relay 3: max 35
    std::vector<DelayVector> parts{delays({5, 10, 35}), delays({50, 30, 1})};
    for (int i = 0; i < 20; ++i) CHECK(select_relay(Strategy::min_max, c, parts, sel) == 1u);
}

TEST_CASE("min-max: equal maxima (within 1 ms) are broken by the smallest sum") {
    auto c = relays(3);
    Selector sel(7);
    // relay 1: max 30 sum 60; relay 2: max 31 sum 40 (tie on max within 1 ms, smaller sum);
    // relay 3: max 33 sum 34 (not a tie on max)
    std::vector<DelayVector> parts{delays({30, 31, 33}), delays({30, 9, 1})};
    for (int i = 0; i < 20; ++i) CHECK(select_relay(Strategy::min_max, c, parts, sel) == 1u);
}

TEST_CASE("min-max: relays not measured by every participant are not eligible; none measured: no choice") {
    auto c = relays(3);
    Selector sel(1);
    std::vector<DelayVector> parts{delays({1, 50, -1}), delays({-1, 60, 2})};
    CHECK(select_relay(Strategy::min_max, c, parts, sel) == 1u);
    std::vector<DelayVector> none{delays({1, -1, -1}), delays({-1, 5, -1})};
    CHECK_FALSE(select_relay(Strategy::min_max, c, none, sel));
    CHECK_FALSE(select_relay(Strategy::min_max, {}, parts, sel));
}

TEST_CASE("min-max: a tie on max and sum is broken uniformly at random (fair over many draws)") {
    auto c = relays(4);
    Selector sel(12345);  // deterministic
    // relays 1, 2, 3 tie exactly (max 20, sum 30); relay 4 is worse.
    std::vector<DelayVector> parts{delays({10, 20, 10, 40}), delays({20, 10, 20, 40})};
    std::map<std::size_t, int> count;
    const int draws = 30000;
    for (int i = 0; i < draws; ++i) {
        auto pick = select_relay(Strategy::min_max, c, parts, sel);
        REQUIRE(pick);
        ++count[*pick];
    }
    CHECK(count.count(3) == 0);
    // Each of the three should get a third. The standard deviation of one count is
    // sqrt(n p (1-p)) ~ 82; allow 6 of them (a false failure is ~1e-9, and the seed is fixed).
    const double expect = draws / 3.0, sd = std::sqrt(draws * (1.0 / 3) * (2.0 / 3));
    for (std::size_t i = 0; i < 3; ++i) {
        INFO("relay " << i << " chosen " << count[i] << " times");
        CHECK(std::abs(count[i] - expect) < 6 * sd);
    }
    // Chi-square with 2 degrees of freedom, loose bound (p ~ 1e-6 at 27.6).
    double chi = 0;
    for (std::size_t i = 0; i < 3; ++i) chi += (count[i] - expect) * (count[i] - expect) / expect;
    CHECK(chi < 27.6);
}

TEST_CASE("round-robin cycles through the candidates in order, and client-round-robin too") {
    auto c = relays(3);
    for (auto s : {Strategy::round_robin, Strategy::client_round_robin}) {
        Selector sel(1);
        std::vector<std::size_t> got;
        for (int i = 0; i < 7; ++i) got.push_back(*select_relay(s, c, {}, sel));
        CHECK(got == std::vector<std::size_t>{0, 1, 2, 0, 1, 2, 0});
    }
    // A shrinking list does not break the cursor.
    Selector sel(1);
    sel.cursor = 10;
    CHECK(select_relay(Strategy::round_robin, c, {}, sel) == 1u);
}

TEST_CASE("random picks every candidate about equally often, deterministically from the seed") {
    auto c = relays(5);
    Selector a(99), b(99);
    std::map<std::size_t, int> count;
    const int draws = 50000;
    for (int i = 0; i < draws; ++i) {
        auto x = select_relay(Strategy::random, c, {}, a);
        CHECK(x == select_relay(Strategy::random, c, {}, b));
        ++count[*x];
    }
    REQUIRE(count.size() == 5);
    const double expect = draws / 5.0, sd = std::sqrt(draws * 0.2 * 0.8);
    for (auto& [i, n] : count) CHECK(std::abs(n - expect) < 6 * sd);
}

TEST_CASE("least-loaded picks the lowest load score, ties at random") {
    auto c = relays(3);
    c[0].load = Load{1, 10, 5, {}};  // 15
    c[1].load = Load{3, 2, 1, {}};   // 3
    c[2].load = Load{0, 0, 40, {}};  // 40
    Selector sel(3);
    for (int i = 0; i < 10; ++i) CHECK(select_relay(Strategy::least_loaded, c, {}, sel) == 1u);
    c[2].load = Load{9, 3, 0, {}};  // 3: tie with relay 1
    std::map<std::size_t, int> count;
    for (int i = 0; i < 4000; ++i) ++count[*select_relay(Strategy::least_loaded, c, {}, sel)];
    CHECK(count[0] == 0);
    CHECK(count[1] > 1600);
    CHECK(count[2] > 1600);
}

TEST_CASE("the strategy names a directory accepts leave out the client's own") {
    CHECK(directory_strategy_names() == "min-max, round-robin, random, least-loaded, cpu");
}

TEST_CASE("cpu: the least busy relay among those every participant measured") {
    auto c = relays(3);
    const auto busy = [](std::uint32_t self, std::uint32_t machine = 300) { return Load{0, 0, 0, {self, machine, 4}}; };
    c[0].load = busy(700);
    c[1].load = busy(100);
    c[2].load = busy(20);
    std::vector<DelayVector> parts{delays({10, 10, -1}), delays({12, 40, 5})};
    Selector sel(4);
    // relay 3 is the idlest, but the first participant never measured it (cannot reach it)
    for (int i = 0; i < 10; ++i) CHECK(select_relay(Strategy::cpu, c, parts, sel) == 1u);
    parts[0] = delays({10, 10, 9});
    for (int i = 0; i < 10; ++i) CHECK(select_relay(Strategy::cpu, c, parts, sel) == 2u);
    // nobody reaches any: none (the directory says SERVER_ERR, or moves a dead relay's chat round robin)
    CHECK_FALSE(select_relay(Strategy::cpu, c, std::vector<DelayVector>{delays({-1, -1, -1})}, sel));
}

TEST_CASE("cpu: uses within 50 permille tie; then the machine, the fewest members, min-max, at random") {
    auto c = relays(3);
    c[0].load = Load{0, 8, 0, {100, 300, 4}};
    c[1].load = Load{0, 2, 0, {140, 300, 4}};  // within 50 of relay 1: tied, fewer members
    c[2].load = Load{0, 0, 0, {191, 300, 4}};  // 51 above relay 2, the busiest tied: busier
    std::vector<DelayVector> parts{delays({10, 40, 1})};
    Selector sel(5);
    CHECK(select_relay(Strategy::cpu, c, parts, sel) == 1u);
    c[0].load.cpu.machine = 200;  // on a machine that is clearly less busy
    CHECK(select_relay(Strategy::cpu, c, parts, sel) == 0u);
    c[0].load = c[1].load;  // the same figures: the lower min-max delay
    CHECK(select_relay(Strategy::cpu, c, parts, sel) == 0u);
    parts = {delays({10, 10, 1})};  // and the same delays: at random
    std::map<std::size_t, int> count;
    for (int i = 0; i < 2000; ++i) ++count[*select_relay(Strategy::cpu, c, parts, sel)];
    CHECK(count[0] > 800);
    CHECK(count[1] > 800);
    CHECK(count[2] == 0);
}

TEST_CASE("cpu: relays that report no CPU use come after those that do") {
    auto c = relays(2);
    c[0].load = Load{};                         // an older relay: no figure (cores 0)
    c[1].load = Load{0, 0, 0, {900, 950, 2}};  // busy, but measured
    std::vector<DelayVector> parts{delays({10, 10})};
    Selector sel(6);
    CHECK(select_relay(Strategy::cpu, c, parts, sel) == 1u);
    parts = {delays({10, -1})};  // the measured one is out of reach: the other still serves
    CHECK(select_relay(Strategy::cpu, c, parts, sel) == 0u);
}

TEST_CASE("hysteresis: better by at least 5 ms AND 20%") {
    Hysteresis h;
    CHECK(clearly_better(31, 12, h));
    CHECK_FALSE(clearly_better(31, 31, h));
    CHECK_FALSE(clearly_better(12, 31, h));
    CHECK_FALSE(clearly_better(100, 82, h));  // 18%: within the margin
    CHECK(clearly_better(100, 80, h));         // 20%
    CHECK_FALSE(clearly_better(10, 6, h));     // 40% but only 4 ms
    CHECK(clearly_better(10, 5, h));
    CHECK_FALSE(clearly_better(0, 0, h));
}

TEST_CASE("stage names are the seed's") {
    CHECK(std::string(stage_name(Stage::ack_conn)) == "ACK_CONN");
    CHECK(std::string(stage_name(Stage::user_not_found)) == "USER_NOT_FOUND");
    CHECK(std::string(stage_name(Stage::awaiting_req)) == "AWAITING_REQ");
    CHECK(std::string(stage_name(Stage::server_err)) == "SERVER_ERR");
    CHECK(final_stage(Stage::declined));
    CHECK_FALSE(final_stage(Stage::req_sent));
    RoomId id{};
    id[0] = 0x3f;
    id[1] = 0xa2;
    CHECK(short_id(id) == "3fa20000");
}
