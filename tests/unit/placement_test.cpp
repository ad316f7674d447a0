// The directory's placement alone: choosing a relay for a chat and deciding when a
// chat moves, over tables built by hand, with time passed in.
#include "roles/placement.hpp"

#include <doctest/doctest.h>

using namespace dc;
using namespace dc::roles;
using namespace dc::roles::detail;

namespace {

PublicKey key(std::uint8_t n) {
    PublicKey k{};
    k[0] = n;
    return k;
}

Addr addr(std::uint8_t n) { return Addr::v4(127, 0, 0, n, 7400); }

RelayTable relays(std::initializer_list<std::uint8_t> alive, std::initializer_list<std::uint8_t> dead = {}) {
    RelayTable t;
    for (auto n : alive) t[key(n)] = RelayRec{key(n), addr(n), 0, {}, true};
    for (auto n : dead) t[key(n)] = RelayRec{key(n), addr(n), 0, {}, false};
    return t;
}

Chat chat_on(std::uint8_t relay, TimeMs moved, std::vector<std::string> members = {"alice", "bob"}) {
    Chat ch;
    ch.relay_key = key(relay);
    ch.relay = addr(relay);
    ch.moved = moved;
    ch.members = std::move(members);
    return ch;
}

// Two members' delay vectors: relay n -> {alice's rtt, bob's rtt}.
std::vector<DelayVector> delays(std::initializer_list<std::tuple<std::uint8_t, std::uint32_t, std::uint32_t>> rtts) {
    std::vector<DelayVector> v(2);
    for (auto [n, a, b] : rtts) {
        v[0][key(n)] = a;
        v[1][key(n)] = b;
    }
    return v;
}

}  // namespace

TEST_CASE("min-max chooses the relay whose slowest participant is fastest, among relays everyone measured") {
    DirectoryConfig cfg;
    Placement p(cfg, 1);
    auto t = relays({1, 2, 3});
    auto parts = delays({{1, 10, 50}, {2, 30, 30}});  // relay 3 unmeasured
    auto c = p.choose(t, parts, {});
    REQUIRE(c.has_value());
    CHECK(c->key == key(2));
    CHECK_FALSE(p.choose(t, delays({}), {}).has_value());
}

TEST_CASE("round robin cycles over the relays in service, and client-round-robin is round robin to a directory") {
    DirectoryConfig cfg;
    cfg.strategy = Strategy::client_round_robin;
    Placement p(cfg, 1);
    CHECK(p.strategy() == Strategy::round_robin);
    auto t = relays({1, 2}, {3});
    std::vector<PublicKey> picked;
    for (int i = 0; i < 3; ++i) picked.push_back(p.choose(t, {}, {})->key);
    CHECK(picked == std::vector<PublicKey>{key(1), key(2), key(1)});
}

TEST_CASE("what is placed raises a relay's reported load, so least-loaded spreads the chats it places") {
    ChatTable chats;
    chats[RoomId{1}] = chat_on(1, 0, {"a", "b", "c"});
    chats[RoomId{2}] = chat_on(1, 0, {"d", "e"});
    Placed pl = placed(chats);
    CHECK(pl[key(1)] == Load{2, 5, 0, {}});
    auto cands = candidates(relays({1, 2}), &pl);
    REQUIRE(cands.size() == 2);
    CHECK(cands[0].load == Load{2, 5, 0, {}});
    place(pl, chats[RoomId{2}], -1);
    CHECK(pl[key(1)] == Load{1, 3, 0, {}});

    DirectoryConfig cfg;
    cfg.strategy = Strategy::least_loaded;
    Placement p(cfg, 1);
    CHECK(p.choose(relays({1, 2}), {}, pl)->key == key(2));
}

TEST_CASE("a chat on a relay out of service moves at once; with nothing measured, round robin") {
    DirectoryConfig cfg;
    Placement p(cfg, 1);
    auto t = relays({2, 3}, {1});
    auto cands = candidates(t);
    auto m = p.relocation(0, t, cands, chat_on(1, 0), delays({{2, 40, 40}, {3, 10, 20}}), {});
    REQUIRE(m.has_value());
    CHECK(m->reason == MoveReason::relay_died);
    CHECK(m->to.key == key(3));

    auto rr = p.relocation(0, t, cands, chat_on(1, 0), {}, {});
    REQUIRE(rr.has_value());
    CHECK(rr->reason == MoveReason::relay_died);
    CHECK(rr->to.key == key(2));
    CHECK_FALSE(p.relocation(0, relays({}, {1}), {}, chat_on(1, 0), {}, {}).has_value());  // nowhere to go
}

TEST_CASE("a live chat moves to a clearly better relay only after min_dwell, and when a member cannot reach its relay") {
    DirectoryConfig cfg;
    Placement p(cfg, 1);
    auto t = relays({1, 2});
    auto cands = candidates(t);
    auto better = delays({{1, 31, 31}, {2, 12, 10}});
    CHECK_FALSE(p.relocation(cfg.min_dwell - 1, t, cands, chat_on(1, 0), better, {}).has_value());
    auto m = p.relocation(cfg.min_dwell, t, cands, chat_on(1, 0), better, {});
    REQUIRE(m.has_value());
    CHECK(m->reason == MoveReason::better);
    CHECK(m->to.key == key(2));
    CHECK(m->old_ms == 31u);
    CHECK(m->new_ms == 12u);

    // Better by less than the hysteresis: stays.
    CHECK_FALSE(p.relocation(cfg.min_dwell, t, cands, chat_on(1, 0), delays({{1, 31, 31}, {2, 28, 28}}), {}).has_value());

    // Bob no longer measures relay 1.
    auto parts = delays({{2, 20, 25}});
    parts[0][key(1)] = 5;
    auto u = p.relocation(cfg.min_dwell, t, cands, chat_on(1, 0), parts, {});
    REQUIRE(u.has_value());
    CHECK(u->reason == MoveReason::unreachable);
    CHECK(u->new_ms == 25u);

    // Other strategies never move a live chat.
    DirectoryConfig rr_cfg;
    rr_cfg.strategy = Strategy::round_robin;
    Placement rr(rr_cfg, 1);
    CHECK_FALSE(rr.relocation(cfg.min_dwell, t, cands, chat_on(1, 0), better, {}).has_value());
}
