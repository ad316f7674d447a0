// Messages of conversation groups (see groups_wire.hpp), declared once each in the
// tables below (schema.hpp says how). Like every payload: shape-checked before msgpack-c
// sees it, decoded under unpack limits, every field type- and range-checked.

#include "darkchat/groups_wire.hpp"

#include "schema.hpp"

#include <string_view>
#include <tuple>

namespace dc::wire {

namespace schema {

template <>
struct Record<GroupMember> {  // [key, name, kx]
    static constexpr std::string_view name = "member";
    static constexpr auto fields =
        std::tuple{elem(&GroupMember::key), elem(&GroupMember::name, user), elem(&GroupMember::kx)};
};

template <>
struct Record<GroupCount> {  // [epoch, coordinator, count]
    static constexpr std::string_view name = {};
    static constexpr auto fields =
        std::tuple{elem(&GroupCount::epoch), elem(&GroupCount::coordinator), elem(&GroupCount::count)};
};

template <>
struct Record<GroupEpochKey> {  // [epoch, coordinator, key, members]
    static constexpr std::string_view name = {};
    static constexpr auto fields = std::tuple{elem(&GroupEpochKey::epoch), elem(&GroupEpochKey::coordinator),
                                              elem(&GroupEpochKey::key),
                                              elem(&GroupEpochKey::members, max_items(kMaxGroupMembers))};
};

template <>
struct Record<GroupStream> {  // [author, epoch, coordinator, next]
    static constexpr std::string_view name = {};
    static constexpr auto fields = std::tuple{elem(&GroupStream::author), elem(&GroupStream::epoch),
                                              elem(&GroupStream::coordinator), elem(&GroupStream::next)};
};

template <>
struct Message<GroupRecordBody> {
    static constexpr std::string_view name = "groupRecord";
    static constexpr auto fields = std::tuple{
        field(0, "group", &GroupRecordBody::group, required),
        field(1, "kind", &GroupRecordBody::kind, required),
        field(2, "title", &GroupRecordBody::title, max_bytes(kMaxGroupTitle)),
        field(3, "epoch", &GroupRecordBody::epoch, required),
        field(4, "members", &GroupRecordBody::members, max_items(kMaxGroupMembers), required),
        field(5, "change", &GroupRecordBody::change),
        field(6, "subject", &GroupRecordBody::subject),
        field(7, "by", &GroupRecordBody::by),
        field(8, "relay", &GroupRecordBody::relay, if_set(&GroupRecordBody::relay_key)),
        field(9, "relay_key", &GroupRecordBody::relay_key, if_set(&GroupRecordBody::relay_key)),
        field(10, "relay_sig", &GroupRecordBody::relay_sig, if_set(&GroupRecordBody::relay_key)),
    };
};

template <>
struct Message<GroupRequest> {
    static constexpr std::string_view name = "groupRequest";
    static constexpr auto fields = std::tuple{
        field(0, "nonce", &GroupRequest::nonce, required),
        field(1, "kind", &GroupRequest::kind, required),
        field(2, "name", &GroupRequest::name, user, required),
        field(3, "kx", &GroupRequest::kx, required),
        field(4, "invitation", &GroupRequest::invitation),
        field(5, "group", &GroupRequest::group),
        field(6, "title", &GroupRequest::title, max_bytes(kMaxGroupTitle)),
    };
};

template <>
struct Message<GroupAnswer> {
    static constexpr std::string_view name = "groupAnswer";
    static constexpr auto fields = std::tuple{
        field(0, "nonce", &GroupAnswer::nonce, required),
        field(1, "answer", &GroupAnswer::answer, required),
        field(2, "group", &GroupAnswer::group),
        field(3, "epoch", &GroupAnswer::epoch),
        field(4, "coordinator", &GroupAnswer::coordinator),
        field(5, "record", &GroupAnswer::record),
        field(6, "key", &GroupAnswer::key, max_bytes(kMaxGroupSealedKey)),
    };
};

template <>
struct Message<GroupEnter> {
    static constexpr std::string_view name = "groupEnter";
    static constexpr auto fields = std::tuple{
        field(0, "group", &GroupEnter::group, required),
        field(1, "nonce", &GroupEnter::nonce, required),
        field(2, "name", &GroupEnter::name, user, required),
        field(3, "kx", &GroupEnter::kx, required),
        field(4, "proof", &GroupEnter::proof),
    };
};

template <>
struct Message<GroupInvite> {
    static constexpr std::string_view name = "groupInvite";
    static constexpr auto fields = std::tuple{
        field(0, "group", &GroupInvite::group, required),
        field(1, "user", &GroupInvite::user, required),
        field(2, "name", &GroupInvite::name, user, required),
        field(3, "consented", &GroupInvite::consented),
    };
};

template <>
struct Message<GroupUpdate> {
    static constexpr std::string_view name = "groupUpdate";
    static constexpr auto fields = std::tuple{
        field(0, "record", &GroupUpdate::record, required),
        field(1, "key", &GroupUpdate::key, max_bytes(kMaxGroupSealedKey)),
        field(2, "pending", &GroupUpdate::pending),
    };
};

template <>
struct Message<GroupPeerEnter> {
    static constexpr std::string_view name = "groupPeerEnter";
    static constexpr auto fields = std::tuple{
        field(0, "group", &GroupPeerEnter::group, required),
        field(1, "epoch", &GroupPeerEnter::epoch, required),
        field(2, "coordinator", &GroupPeerEnter::coordinator, required),
    };
};

template <>
struct Message<GroupDone> {
    static constexpr std::string_view name = "groupDone";
    static constexpr auto fields = std::tuple{
        field(0, "group", &GroupDone::group, required),
        field(1, "epoch", &GroupDone::epoch, required),
        field(2, "ok", &GroupDone::ok, required),
    };
};

template <>
struct Message<GroupAbort> {
    static constexpr std::string_view name = "groupAbort";
    static constexpr auto fields = std::tuple{
        field(0, "group", &GroupAbort::group, required),
        field(1, "epoch", &GroupAbort::epoch, required),
    };
};

template <>
struct Message<GroupRelease> {
    static constexpr std::string_view name = "groupRelease";
    static constexpr auto fields = std::tuple{field(0, "group", &GroupRelease::group, required)};
};

template <>
struct Message<GroupRename> {
    static constexpr std::string_view name = "groupRename";
    static constexpr auto fields = std::tuple{
        field(0, "group", &GroupRename::group, required),
        field(1, "title", &GroupRename::title, max_bytes(kMaxGroupTitle)),
    };
};

template <>
struct Message<GroupLine> {
    static constexpr std::string_view name = "groupLine";
    static constexpr auto fields = std::tuple{
        field(0, "group", &GroupLine::group, required),
        field(1, "epoch", &GroupLine::epoch, required),
        field(2, "coordinator", &GroupLine::coordinator, required),
        field(3, "author", &GroupLine::author, required),
        field(4, "seq", &GroupLine::seq, required),
        field(5, "ciphertext", &GroupLine::ciphertext, max_bytes(kMaxGroupLine), required),
        field(6, "sig", &GroupLine::sig, required),
    };
};

template <>
struct Message<GroupSync> {
    static constexpr std::string_view name = "groupSync";
    static constexpr auto fields = std::tuple{
        field(0, "group", &GroupSync::group, required),
        field(1, "epoch", &GroupSync::epoch, required),
        field(2, "coordinator", &GroupSync::coordinator, required),
        field(3, "need_key", &GroupSync::need_key),
        field(4, "written", &GroupSync::written, max_items(kMaxGroupCounts)),
    };
};

template <>
struct Message<GroupWant> {
    static constexpr std::string_view name = "groupWant";
    static constexpr auto fields = std::tuple{
        field(0, "group", &GroupWant::group, required),
        field(1, "epoch", &GroupWant::epoch, required),
        field(2, "coordinator", &GroupWant::coordinator, required),
        field(3, "from", &GroupWant::from, required),
    };
};

template <>
struct Message<GroupState> {
    static constexpr std::string_view name = "groupState";
    static constexpr auto fields = std::tuple{
        field(0, "record", &GroupState::record, required),
        field(1, "keys", &GroupState::keys, max_items(kMaxGroupKeys)),
        field(2, "streams", &GroupState::streams, max_items(kMaxGroupStreams)),
        field(3, "lost", &GroupState::lost, max_items(kMaxGroupMembers)),
        field(4, "own_next", &GroupState::own_next),
        field(5, "max_epoch", &GroupState::max_epoch),
    };
};

template <>
struct Record<GroupOutRequest> {  // [nonce, to, kind]
    static constexpr std::string_view name = {};
    static constexpr auto fields =
        std::tuple{elem(&GroupOutRequest::nonce), elem(&GroupOutRequest::to), elem(&GroupOutRequest::kind)};
};

template <>
struct Record<GroupInRequest> {  // [id, from, request]
    static constexpr std::string_view name = {};
    static constexpr auto fields = std::tuple{elem(&GroupInRequest::id), elem(&GroupInRequest::from),
                                              elem(&GroupInRequest::request, max_bytes(kMaxGroupRecord))};
};

template <>
struct Message<GroupRequests> {
    static constexpr std::string_view name = "groupRequests";
    static constexpr auto fields = std::tuple{
        field(0, "out", &GroupRequests::out, max_items(kMaxStoredRequests)),
        field(1, "in", &GroupRequests::in, max_items(kMaxStoredRequests)),
        field(2, "next_id", &GroupRequests::next_id),
    };
};

}  // namespace schema

using schema::decode_message;
using schema::encode_message;

Bytes encode_group(const GroupMessage& m) { return schema::encode_indexed(m); }

Result<GroupMessage> decode_group(ByteView b) { return schema::decode_indexed<GroupMessage>(b, "group message"); }

Bytes encode(const GroupRecordBody& r) { return encode_message(r); }
Result<GroupRecordBody> decode_group_record(ByteView b) {
    if (b.size() > kMaxGroupRecord) return err("groupRecord: too long");
    return decode_message<GroupRecordBody>(b);
}
Bytes encode(const GroupState& s) { return encode_message(s); }
Result<GroupState> decode_group_state(ByteView b) { return decode_message<GroupState>(b); }
Bytes encode(const GroupRequests& r) { return encode_message(r); }
Result<GroupRequests> decode_group_requests(ByteView b) { return decode_message<GroupRequests>(b); }

}  // namespace dc::wire
