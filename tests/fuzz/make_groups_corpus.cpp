// Writes the seed corpus of fuzz_groups: make_groups_corpus OUT_DIR creates
// OUT_DIR/fuzz_groups with a valid encoding of every group message, a signed record,
// a stored group state, and a few invalid ones.

#include "corpus_file.hpp"

#include "darkchat/groups_wire.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace dc;

namespace {

namespace fs = std::filesystem;
fs::path out;

void put(const std::string& name, ByteView data) { fuzz::write_corpus_file(out, name, data, "make_groups_corpus"); }

}  // namespace

int main(int argc, char** argv) {
    out = fuzz::corpus_dir(argc, argv, "make_groups_corpus", "fuzz_groups");

    wire::GroupRecordBody r;
    r.group[0] = 7;
    r.title = "club";
    r.epoch = 3;
    r.members = {wire::GroupMember{PublicKey{1}, "alice", KxPublicKey{2}},
                 wire::GroupMember{PublicKey{3}, "bob", KxPublicKey{4}}};
    r.change = 1;
    r.subject = PublicKey{3};
    r.by = PublicKey{1};
    const wire::SignedBlob blob{wire::encode(r), Signature{5}};
    put("record", blob.body);
    wire::GroupRecordBody on_relay = r;  // its lines through a relay (darkchat-groups(7), RELAYS)
    on_relay.change = 6;
    on_relay.relay = Addr::v4(127, 0, 0, 1, 7401);
    on_relay.relay_key = PublicKey{8};
    on_relay.relay_sig = Signature{9};
    put("record_relay", wire::encode(on_relay));

    const wire::GroupIdBytes g = r.group;
    const std::pair<const char*, wire::GroupMessage> messages[] = {
        {"request", wire::GroupRequest{1, 0, "alice", KxPublicKey{1}, false, {}, {}}},
        {"invitation", wire::GroupRequest{2, 0, "alice", KxPublicKey{1}, true, g, "club"}},
        {"answer_yes", wire::GroupAnswer{2, 0, g, 3, PublicKey{1}, blob, Bytes(80, 1)}},
        {"answer_derivation", wire::GroupAnswer{2, 3, g, 3, PublicKey{1}, {}, {}}},
        {"enter", wire::GroupEnter{g, 5, "bob", KxPublicKey{2}, blob}},
        {"invite", wire::GroupInvite{g, PublicKey{7}, "carol", true}},
        {"update", wire::GroupUpdate{blob, Bytes(80, 2), false}},
        {"list_updating", wire::GroupUpdate{blob, Bytes(80, 2), true}},
        {"peer_enter", wire::GroupPeerEnter{g, 3, PublicKey{1}}},
        {"done", wire::GroupDone{g, 3, true}},
        {"abort", wire::GroupAbort{g, 3}},
        {"release", wire::GroupRelease{g}},
        {"rename", wire::GroupRename{g, "new"}},
        {"line", wire::GroupLine{g, 3, PublicKey{1}, PublicKey{3}, 0, Bytes(21, 3), Signature{8}}},
        {"sync", wire::GroupSync{g, 3, PublicKey{1}, true, {wire::GroupCount{3, PublicKey{1}, 2}}}},
        {"want", wire::GroupWant{g, 3, PublicKey{1}, 1}},
    };
    for (const auto& [name, m] : messages) put(std::string("msg_") + name, wire::encode_group(m));

    wire::GroupState st;
    st.record = blob;
    st.keys = {wire::GroupEpochKey{3, PublicKey{1}, wire::GroupKeyBytes{4}, {PublicKey{1}, PublicKey{3}}}};
    st.streams = {wire::GroupStream{PublicKey{1}, 3, PublicKey{1}, 5}};
    st.lost = {PublicKey{8}};
    st.own_next = 2;
    st.max_epoch = 3;
    put("state", wire::encode(st));

    put("bad_empty", Bytes{});
    put("bad_type", Bytes{200, 0x80});
    put("bad_release_int", Bytes{8, 0x81, 0x00, 0x01});
    put("bad_huge_array", Bytes{4, 0x81, 0x00, 0xdd, 0xff, 0xff, 0xff, 0xff});
    return 0;
}
