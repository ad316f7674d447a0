// What a node holds for other users (src/core/holding.hpp): its limits, its
// order, its retries and its age limit, on their own.
#include "core/holding.hpp"

#include <doctest/doctest.h>

using namespace dc;
using namespace dc::core;

namespace {

MessageId mid(std::uint8_t n) {
    MessageId m{};
    m[0] = n;
    m[15] = static_cast<std::uint8_t>(255 - n);
    return m;
}

HeldRecord rec(const std::string& to, std::uint8_t n, const std::string& from = "alice", TimeMs kept = 1000,
               std::size_t size = 100) {
    return HeldRecord{to, mid(n), from, kept, 0, Bytes(size, n)};
}

std::vector<MessageId> ids(const std::vector<const HeldRecord*>& v) {
    std::vector<MessageId> out;
    for (auto* r : v) out.push_back(r->id);
    return out;
}

}  // namespace

TEST_CASE("holding keeps one copy per recipient and id, and says yes again to a sender that asks twice") {
    Config cfg;
    Holding h(cfg);
    bool fresh = false;
    CHECK(h.keep(rec("bob", 1), fresh).empty());
    CHECK(fresh);
    CHECK(h.keep(rec("bob", 1), fresh).empty());
    CHECK_FALSE(fresh);
    CHECK(h.size() == 1);
    CHECK(h.bytes() == 100);
    CHECK(h.keep(rec("carol", 1), fresh).empty());  // the same id for another recipient is another thing
    CHECK(fresh);
    CHECK(h.size() == 2);
    CHECK(h.holds_for("bob"));
    CHECK_FALSE(h.holds_for("dave"));
}

TEST_CASE("holding refuses past its limits, in words, and has room again once something is handed over") {
    Config cfg;
    cfg.max_held = 3;
    cfg.max_held_per_sender = 2;
    cfg.max_held_bytes = 1000;
    Holding h(cfg);
    bool fresh = false;
    CHECK(h.keep(rec("bob", 1), fresh).empty());
    CHECK(h.keep(rec("bob", 2), fresh).empty());
    CHECK(h.keep(rec("bob", 3), fresh) == "holding 2 messages from alice already");
    CHECK_FALSE(fresh);
    CHECK(h.keep(rec("bob", 4, "dave"), fresh).empty());
    CHECK(h.keep(rec("bob", 5, "erin"), fresh) == "full");
    CHECK(h.keep(rec("bob", 6, "erin", 1000, 2000), fresh) == "too big to hold");
    CHECK(h.size() == 3);
    CHECK(h.erase("bob", mid(1)));
    CHECK_FALSE(h.erase("bob", mid(1)));
    CHECK(h.keep(rec("bob", 5, "erin"), fresh).empty());
    CHECK(fresh);
    CHECK(h.keep(rec("bob", 7, "frank", 1000, 800), fresh) == "full");  // bytes, not count
}

TEST_CASE("what is due goes in the order it was kept, at most a batch, and again only after the retry time") {
    Config cfg;
    Holding h(cfg);
    bool fresh = false;
    for (std::uint8_t n : {9, 3, 7, 1}) REQUIRE(h.keep(rec("bob", n), fresh).empty());
    REQUIRE(h.keep(rec("carol", 5), fresh).empty());
    CHECK(ids(h.due("bob", 2000, 5000, 3)) == std::vector<MessageId>{mid(9), mid(3), mid(7)});
    CHECK(ids(h.due("bob", 2000, 5000, 3)) == std::vector<MessageId>{mid(1)});
    CHECK(h.due("bob", 6999, 5000, 10).empty());
    CHECK(ids(h.due("bob", 7000, 5000, 10)) == std::vector<MessageId>{mid(9), mid(3), mid(7), mid(1)});
    CHECK(ids(h.due("carol", 7000, 5000, 10)) == std::vector<MessageId>{mid(5)});
    CHECK(h.due("dave", 7000, 5000, 10).empty());
}

TEST_CASE("holding drops what is older than the age limit, and a restart keeps the rest in order") {
    Config cfg;
    cfg.hold_max_age = 10000;
    Holding h(cfg);
    bool fresh = false;
    REQUIRE(h.keep(rec("bob", 1, "alice", 1000), fresh).empty());
    REQUIRE(h.keep(rec("bob", 2, "alice", 5000), fresh).empty());
    CHECK(h.expire(11000).empty());
    auto gone = h.expire(11001);
    REQUIRE(gone.size() == 1);
    CHECK(gone.front().id == mid(1));
    CHECK(h.size() == 1);

    Holding again(cfg);
    again.restore({rec("bob", 4, "alice", 6000), rec("bob", 2, "alice", 7000), rec("bob", 4, "alice", 6000)});
    CHECK(again.size() == 2);
    CHECK(ids(again.due("bob", 8000, 5000, 10)) == std::vector<MessageId>{mid(4), mid(2)});
    CHECK(again.recipients() == std::vector<std::string>{"bob"});
}
