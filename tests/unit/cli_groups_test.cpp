// The macros and output lines of conversation groups (darkchat(1), GROUPS).
// Scripts parse these lines: their shapes are fixed here. Nothing here needs a
// Host: names and titles come from the lookups a test hands in.
#include "darkchat/cli.hpp"
#include "darkchat/crypto.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace dc;
using namespace dc::cli;
using namespace std::string_literals;

namespace {

groups::GroupId group_id(std::uint8_t first = 0x3f) {
    groups::GroupId id{};
    id[0] = first, id[1] = 0x2a, id[2] = 0x91, id[3] = 0xc0, id[4] = 0x55;
    return id;
}

PublicKey key(std::uint8_t b) {
    PublicKey k{};
    k.fill(b);
    return k;
}

groups::Member member(std::uint8_t b, std::string name) { return {key(b), std::move(name), {}}; }

// alice (1), bob (2) and carol (3) are known; key 9 is not. The group of
// group_id() is titled "friends".
struct Names {
    std::map<PublicKey, std::string> users{{key(1), "alice"}, {key(2), "bob"}, {key(3), "carol"}};
    std::map<groups::GroupId, std::string> titles{{group_id(), "friends"}};
    GroupNames lookups() {
        return {[this](const PublicKey& k) { return users.count(k) ? users[k] : ""s; },
                [this](const groups::GroupId& id) { return titles.count(id) ? titles[id] : ""s; }};
    }
};

std::string line(const groups::Event& e) {
    Names n;
    return render(e, n.lookups());
}

groups::GroupView view() {
    groups::GroupView g;
    g.id = group_id();
    g.kind = groups::Kind::open;
    g.title = "friends";
    g.epoch = 4;
    g.members = {member(1, "alice"), member(2, "bob"), member(3, "carol")};
    g.has_key = true;
    return g;
}

}  // namespace

TEST_CASE("the group macros parse into what the session resolves") {
    auto c = std::get<action::Connect>(parse_line("\\connect bob", 1));
    CHECK(c.user == "bob");
    CHECK(c.kind == groups::Kind::open);
    CHECK(std::get<action::Connect>(parse_line("\\connect bob private", 1)).kind == groups::Kind::pair);
    CHECK(std::get<action::Connect>(parse_line("\\connect bob public", 1)).kind == groups::Kind::open);

    auto y = std::get<action::Answer>(parse_line("\\yes", 1));
    CHECK(y.yes);
    CHECK(!y.request);
    CHECK(y.group.empty());
    y = std::get<action::Answer>(parse_line("\\yes 3", 1));
    CHECK(y.request == 3u);
    y = std::get<action::Answer>(parse_line("\\yes 3 old  friends ", 1));
    CHECK(y.request == 3u);
    CHECK(y.group == "old  friends");  // a title keeps its inner spaces
    y = std::get<action::Answer>(parse_line("\\yes 3f2a", 1));  // not a number: a group
    CHECK(!y.request);
    CHECK(y.group == "3f2a");
    auto no = std::get<action::Answer>(parse_line("\\no 7", 1));
    CHECK(!no.yes);
    CHECK(no.request == 7u);
    CHECK(!std::get<action::Answer>(parse_line("\\no", 1)).request);

    auto i = std::get<action::Invite>(parse_line("\\invite carol", 1));
    CHECK(i.user == "carol");
    CHECK(i.group.empty());
    CHECK(std::get<action::Invite>(parse_line("\\invite carol 3f2a", 1)).group == "3f2a");
    auto r = std::get<action::Remove>(parse_line("\\remove carol old friends", 1));
    CHECK(r.user == "carol");
    CHECK(r.group == "old friends");

    CHECK(std::holds_alternative<action::Groups>(parse_line("\\groups", 1)));
    CHECK(std::get<action::Members>(parse_line("\\members", 1)).group.empty());
    CHECK(std::get<action::Members>(parse_line("\\members friends", 1)).group == "friends");
    CHECK(std::get<action::SwitchGroup>(parse_line("\\group", 1)).group.empty());
    CHECK(std::get<action::SwitchGroup>(parse_line("\\group 3F2A", 1)).group == "3F2A");
    CHECK(std::get<action::Rename>(parse_line("\\title  the old gang ", 1)).title == "the old gang");
    // \leave takes a group's title as typed, or a room's id prefix: the session tells them apart.
    CHECK(std::get<action::Leave>(parse_line("\\leave old friends", 1)).prefix == "old friends");
    CHECK(std::get<action::Leave>(parse_line("\\leave", 1)).prefix.empty());
}

TEST_CASE("wrong arguments to the group macros get one clear line") {
    auto problem = [](const char* l) { return std::get<action::Problem>(parse_line(l, 1)).text; };
    CHECK(problem("\\connect") == "usage: \\connect <username> [private]");
    CHECK(problem("\\connect bob secret") == "usage: \\connect <username> [private]");
    CHECK(problem("\\connect b@d") == "not a user name: b@d");
    CHECK(problem("\\yes 99999999999999999999999") == "not a request number: 99999999999999999999999");
    CHECK(problem("\\no 3 friends") == "usage: \\no [N]");
    CHECK(problem("\\invite") == "usage: \\invite <username> [group]");
    CHECK(problem("\\remove") == "usage: \\remove <username> [group]");
    CHECK(problem("\\invite b@d") == "not a user name: b@d");
    CHECK(problem("\\groups all") == "usage: \\groups");
    CHECK(problem("\\title") == "usage: \\title <text>");
    CHECK(problem(("\\title " + std::string(wire::kMaxGroupTitle + 1, 'x')).c_str()) ==
          "a group title is at most 64 bytes (this one has 65)");
    CHECK(std::holds_alternative<action::Rename>(parse_line("\\title " + std::string(wire::kMaxGroupTitle, 'x'), 1)));
    // The rooms' \room is as it was.
    CHECK(problem("\\room xyz") == "not a room id: xyz (\\rooms lists them)");
}

TEST_CASE("help lists the group macros") {
    auto h = help_text();
    for (auto m : {"\\connect", "\\yes", "\\no", "\\invite", "\\remove", "\\groups", "\\members", "\\group ",
                   "\\title", "\\leave [group|room]"})
        CHECK_MESSAGE(h.find(m) != std::string::npos, m);
}

TEST_CASE("requests and answers render with the number to answer by") {
    using namespace groups::ev;
    CHECK(line(RequestArrived{3, key(2), "bob", groups::Kind::open, false, {}, {}}) ==
          "* bob asks you into a new group (public): \\yes 3 or \\no 3");
    CHECK(line(RequestArrived{4, key(2), "bob", groups::Kind::pair, false, {}, {}}) ==
          "* bob asks you into a new group (private): \\yes 4 or \\no 4");
    CHECK(line(RequestArrived{5, key(2), "bob", groups::Kind::open, true, group_id(), "friends"}) ==
          "* bob invites you into group 3f2a91c0 \"friends\": \\yes 5 or \\no 5");
    CHECK(line(Answered{key(2), groups::Answer::yes}) == "* bob said yes to your request");
    CHECK(line(Answered{key(2), groups::Answer::no}) == "* bob said no to your request");
    CHECK(line(Answered{key(2), groups::Answer::answering_machine}) == "* bob is away: your request waits for them");
    CHECK(line(Answered{key(2), groups::Answer::derivation}) ==
          "* bob passed your request to the coordinator of its group");
}

TEST_CASE("membership events render as one line naming the group, who, and the epoch") {
    using namespace groups::ev;
    auto g = group_id();
    CHECK(line(Joined{g, 4, {member(1, "alice"), member(2, "bob")}, "friends"}) ==
          "* joined group 3f2a91c0 \"friends\" at epoch 4 with alice (coordinator), bob");
    CHECK(line(MemberEntered{g, 5, member(3, "carol")}) == "* group 3f2a91c0 \"friends\": carol entered (epoch 5)");
    CHECK(line(MemberLeft{g, 6, member(3, "carol"), false}) == "* group 3f2a91c0 \"friends\": carol left (epoch 6)");
    CHECK(line(MemberLeft{g, 6, member(3, "carol"), true}) == "* group 3f2a91c0 \"friends\": carol was lost (epoch 6)");
    CHECK(line(MemberRemoved{g, 7, member(3, "carol"), member(1, "alice")}) ==
          "* group 3f2a91c0 \"friends\": alice removed carol (epoch 7)");
    CHECK(line(NewEpoch{g, 8, key(2), 3}) == "* group 3f2a91c0 \"friends\": epoch 8, 3 members, coordinator bob");
    CHECK(line(NewEpoch{g, 9, key(2), 1}) == "* group 3f2a91c0 \"friends\": epoch 9, 1 member, coordinator bob");
    CHECK(line(CoordinatorChanged{g, member(2, "bob")}) == "* group 3f2a91c0 \"friends\": bob is the coordinator now");
    CHECK(line(Renamed{g, "old gang", member(2, "bob")}) == "* group 3f2a91c0: bob named it \"old gang\"");
    CHECK(line(EntryFailed{g, "no answer"}) == "! group 3f2a91c0 \"friends\": entry failed (no answer)");
    CHECK(line(WaitingForKey{g, 9}) == "* group 3f2a91c0 \"friends\": waiting for the key of epoch 9");
    CHECK(line(NotMember{g, 2}) == "! group 3f2a91c0 \"friends\": not a member at epoch 2 (its lines cannot be read here)");
    CHECK(line(Refused{g, "not in that group"}) == "! group 3f2a91c0 \"friends\": not in that group");
    CHECK(line(Refused{{}, "cannot ask yourself"}) == "! cannot ask yourself");
    // A group without a title is named by its id alone.
    CHECK(line(MemberEntered{group_id(0x77), 5, member(3, "carol")}) == "* group 772a91c0: carol entered (epoch 5)");
}

TEST_CASE("being out of a group says why") {
    using namespace groups::ev;
    auto g = group_id();
    CHECK(line(Gone{g, groups::Change::left, member(1, "alice"), false, false}) == "* you left group 3f2a91c0 \"friends\"");
    CHECK(line(Gone{g, groups::Change::removed, member(2, "bob"), false, false}) ==
          "* bob removed you from group 3f2a91c0 \"friends\"");
    CHECK(line(Gone{g, groups::Change::lost, member(2, "bob"), true, false}) ==
          "* group 3f2a91c0 \"friends\" lost you: entering again");
    CHECK(line(Gone{g, groups::Change::left, member(2, "bob"), false, true}) ==
          "* group 3f2a91c0 \"friends\" ceased (fewer than two members)");
}

TEST_CASE("group lines show the group and the author; our own say where they went") {
    using namespace groups::ev;
    CHECK(line(Line{group_id(), 4, key(1), "alice", 0, "hello", false}) == "[3f2a91c0 friends] <alice> hello");
    CHECK(line(Line{group_id(), 4, key(2), "bob", 0, "hi", true}) == "* sent to [3f2a91c0 friends]: hi");
    CHECK(line(Line{group_id(0x77), 4, key(1), "alice", 0, "hello", false}) == "[772a91c0] <alice> hello");
}

TEST_CASE("a key nobody named is shown by its fingerprint, never by the name it claims") {
    using namespace groups::ev;
    const std::string fp = crypto::fingerprint(key(9));
    CHECK(line(Line{group_id(), 4, key(9), "alice", 0, "hi", false}) == "[3f2a91c0 friends] <" + fp + "> hi");
    CHECK(line(RequestArrived{3, key(9), "alice", groups::Kind::open, false, {}, {}}) ==
          "* " + fp + " asks you into a new group (public): \\yes 3 or \\no 3");
}

TEST_CASE("every peer-supplied string of a group event reaches the terminal without controls") {
    using namespace groups::ev;
    Names n;
    n.users[key(4)] = "ev\x1b[2Jil";
    n.titles[group_id()] = "ti\ntle";
    auto l = n.lookups();
    CHECK(render(Line{group_id(), 4, key(4), "", 0, "a\x07" "b\\x", false}, l) == "[3f2a91c0 ti\\ntle] <ev\\x1b[2Jil> a\\x07b\\\\x");
    CHECK(render(RequestArrived{1, key(4), "", groups::Kind::open, true, group_id(), "\xe2\x80\xae" "cba"}, l) ==
          "* ev\\x1b[2Jil invites you into group 3f2a91c0 \"\\u202ecba\": \\yes 1 or \\no 1");
    CHECK(render(Refused{{}, "already in a private group with x\ry"}, l) == "! already in a private group with x\\ry");
    CHECK(render(Renamed{group_id(), "new\x1b", member(4, "")}, l) == "* group 3f2a91c0: ev\\x1b[2Jil named it \"new\\x1b\"");
}

TEST_CASE("\\groups and \\members lines") {
    Names n;
    auto g = view();
    CHECK(render_group(g, n.lookups()) == "3f2a91c0 \"friends\" public epoch 4, 3 members, coordinator alice");
    g.kind = groups::Kind::pair;
    g.title.clear();
    g.members.resize(2);
    CHECK(render_group(g, n.lookups()) == "3f2a91c0 private epoch 4, 2 members, coordinator alice");

    g = view();
    CHECK(render_members_header(g) == "* group 3f2a91c0 \"friends\" epoch 4, key held:");
    g.has_key = false;
    CHECK(render_members_header(g) == "* group 3f2a91c0 \"friends\" epoch 4, waiting for its key:");
    CHECK(render_member(g, 0, n.lookups()) == "alice " + crypto::fingerprint(key(1)) + " (coordinator)");
    CHECK(render_member(g, 2, n.lookups()) == "carol " + crypto::fingerprint(key(3)));
    g.members.push_back(member(9, "mallory"));
    CHECK(render_member(g, 3, n.lookups()) == crypto::fingerprint(key(9)));
}

TEST_CASE("a group is found by a prefix of its id in any case, or by its exact title") {
    auto a = view();
    auto b = view();
    b.id = group_id(0x3e);
    b.title = "work";
    std::vector<groups::GroupView> all{a, b};
    auto ids = [&](std::string_view which) {
        std::vector<std::string> out;
        for (auto& g : find_groups(all, which)) out.push_back(short_id(g.id));
        return out;
    };
    CHECK(ids("3f2a") == std::vector<std::string>{"3f2a91c0"});
    CHECK(ids("3F2A91C0") == std::vector<std::string>{"3f2a91c0"});
    CHECK(ids("3") == std::vector<std::string>{"3f2a91c0", "3e2a91c0"});
    CHECK(ids("work") == std::vector<std::string>{"3e2a91c0"});
    CHECK(ids("Work").empty());   // titles are exact
    CHECK(ids("wor").empty());    // and whole
    CHECK(ids("4").empty());
    CHECK(ids("").size() == 2);   // no words: every group (the session picks the current one first)
    // A title that reads as hex names its group as well as the ids it starts.
    all[1].title = "3f";
    CHECK(ids("3f") == std::vector<std::string>{"3f2a91c0", "3e2a91c0"});
}
