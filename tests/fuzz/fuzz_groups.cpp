// Fuzz target: the decoders of the group messages (groups_wire.hpp) and the group
// machine behind them. Every decode that succeeds must respect the limits of
// groups_wire.hpp and survive decode, encode, decode again with an equal value, and
// encode again to the same bytes; the signed records inside messages and the stored
// group state too. Then the same bytes go to a member of a group of three, as if from
// another member and from a stranger, and the world runs on: nothing may crash, and
// the group must stay within its limits.

#include "fuzz_common.hpp"

#include "darkchat/groups_wire.hpp"
#include "support/groups_net.hpp"

#include <cstddef>
#include <cstdint>

using namespace dc;

namespace {

void members_ok(const std::vector<wire::GroupMember>& v, std::string_view what) {
    fuzz::expect(v.size() <= wire::kMaxGroupMembers, what, "too many members");
    for (const auto& m : v) fuzz::expect(valid_user_name(m.name), what, "invalid member name");
}

void check_record(ByteView in, std::string_view name) {
    auto r = wire::decode_group_record(in);
    if (!r) return;
    members_ok(r->members, name);
    fuzz::expect(r->title.size() <= wire::kMaxGroupTitle, name, "title too long");
    fuzz::round_trip_eq(*r, [](const auto& v) { return wire::encode(v); }, wire::decode_group_record, name);
}

void limits(const wire::GroupMessage& m) {
    std::visit(
        [](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, wire::GroupRequest>) {
                fuzz::expect(valid_user_name(v.name) && v.title.size() <= wire::kMaxGroupTitle, "groupRequest", "bad");
            } else if constexpr (std::is_same_v<T, wire::GroupAnswer>) {
                fuzz::expect(v.key.size() <= wire::kMaxGroupSealedKey, "groupAnswer", "key too long");
                check_record(v.record.body, "record in groupAnswer");
            } else if constexpr (std::is_same_v<T, wire::GroupEnter>) {
                fuzz::expect(valid_user_name(v.name), "groupEnter", "bad name");
                check_record(v.proof.body, "proof in groupEnter");
            } else if constexpr (std::is_same_v<T, wire::GroupInvite>) {
                fuzz::expect(valid_user_name(v.name), "groupInvite", "bad name");
            } else if constexpr (std::is_same_v<T, wire::GroupUpdate>) {
                fuzz::expect(v.key.size() <= wire::kMaxGroupSealedKey, "groupUpdate", "key too long");
                check_record(v.record.body, "record in groupUpdate");
            } else if constexpr (std::is_same_v<T, wire::GroupRename>) {
                fuzz::expect(v.title.size() <= wire::kMaxGroupTitle, "groupRename", "title too long");
            } else if constexpr (std::is_same_v<T, wire::GroupLine>) {
                fuzz::expect(v.ciphertext.size() <= wire::kMaxGroupLine, "groupLine", "too long");
            } else if constexpr (std::is_same_v<T, wire::GroupSync>) {
                fuzz::expect(v.written.size() <= wire::kMaxGroupCounts, "groupSync", "too many counts");
            }
        },
        m);
}

void check_message(ByteView in) {
    auto v = wire::decode_group(in);
    if (!v) return;
    limits(*v);
    fuzz::round_trip_eq(*v, wire::encode_group, wire::decode_group, "group message");
}

void check_state(ByteView in) {
    auto s = wire::decode_group_state(in);
    if (!s) return;
    fuzz::expect(s->keys.size() <= wire::kMaxGroupKeys && s->streams.size() <= wire::kMaxGroupStreams &&
                     s->lost.size() <= wire::kMaxGroupMembers,
                 "groupState", "too long");
    check_record(s->record.body, "record in groupState");
    fuzz::round_trip_eq(*s, [](const auto& v) { return wire::encode(v); }, wire::decode_group_state, "groupState");
}

// u1 asks u0, u0 makes a group and invites u2: three members, u0 coordinating.
void machine(ByteView in) {
    groups::test::GroupsNet net(4, 1);
    net.command(1, groups::cmd::Request{net.pk(0), groups::Kind::open});
    net.run_for(200);
    std::uint64_t id = 0;
    for (const auto& e : net.at(0).events)
        if (auto* r = std::get_if<groups::ev::RequestArrived>(&e)) id = r->id;
    net.command(0, groups::cmd::Reply{id, true, std::nullopt, "fuzz"});
    net.run_for(500);
    const auto views = net.m(0).groups();
    fuzz::expect(views.size() == 1, "machine", "the group was not made");
    const groups::GroupId g = views.front().id;
    net.command(1, groups::cmd::Invite{g, net.pk(2), "u2"});
    net.run_for(300);
    for (const auto& e : net.at(2).events)
        if (auto* r = std::get_if<groups::ev::RequestArrived>(&e)) id = r->id;
    net.command(2, groups::cmd::Reply{id, true, std::nullopt, {}});
    net.run_for(1000);

    const Bytes bytes(in.begin(), in.end());
    net.inject(0, net.pk(1), bytes);  // from a member, to the coordinator
    net.inject(2, net.pk(1), bytes);  // from a member, to a member
    net.inject(2, net.pk(3), bytes);  // from a stranger
    net.run_for(5000);
    for (std::size_t i = 0; i < 3; ++i)
        for (const auto& v : net.m(i).groups())
            fuzz::expect(v.members.size() >= 2 && v.members.size() <= wire::kMaxGroupMembers, "machine",
                         "a group outside its limits");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool ready = fuzz::init();
    (void)ready;
    const ByteView in(data, size);
    check_message(in);
    check_record(in, "groupRecord");
    check_state(in);
    machine(in);
    return 0;
}
