// Writes the seed corpus of fuzz_files: make_files_corpus OUT_DIR creates
// OUT_DIR/fuzz_files with a valid encoding of every file message, a manifest, a stored
// state, image headers, hostile names, and a few invalid ones. A message seed starts
// with a byte the machine part reads as a step count; the decoders see it whole.

#include "corpus_file.hpp"

#include "darkchat/files_wire.hpp"

#include <cstdio>
#include <filesystem>
#include <string>

using namespace dc;

namespace {

namespace fs = std::filesystem;
fs::path out;

void put(const std::string& name, ByteView data) { fuzz::write_corpus_file(out, name, data, "make_files_corpus"); }

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

}  // namespace

int main(int argc, char** argv) {
    out = fuzz::corpus_dir(argc, argv, "make_files_corpus", "fuzz_files");

    wire::FileManifest m;
    m.id[0] = 3;
    m.name = "photo.jpg";
    m.size = 5000;
    m.media_type = "image/jpeg";
    m.chunk_size = 1024;
    m.chunk_hashes.assign(5 * 32, 0x5a);
    m.sender = PublicKey{2};
    put("manifest", wire::encode(m));
    const wire::SignedBlob blob{wire::encode(m), Signature{6}};

    const wire::FileIdBytes id = m.id;
    const std::pair<const char*, wire::FileMessage> messages[] = {
        {"offer", wire::FileOffer{blob, Bytes(80, 1)}},
        {"accept", wire::FileAnswer{id, true}},
        {"decline", wire::FileAnswer{id, false}},
        {"want", wire::FileWant{id, {0, 3, 8, 9, 4000000000u}}},
        {"chunk", wire::FileChunk{id, 2, Bytes(1040, 4)}},
        {"done", wire::FileDone{id, true}},
        {"cancel", wire::FileCancel{id}},
        {"cancel_unreadable", wire::FileCancel{id, static_cast<std::uint8_t>(wire::CancelReason::unreadable)}},
        {"share", wire::FileShare{wire::FileGroupBytes{9}, blob}},
        {"ask", wire::FileAsk{wire::FileGroupBytes{9}, id, {}}},
        {"ask_name", wire::FileAsk{wire::FileGroupBytes{9}, {}, "photo.jpg"}},
        {"group_offer", wire::FileOffer{blob, Bytes(80, 1), wire::FileGroupBytes{9}}},
    };
    for (const auto& [name, msg] : messages) {
        put(std::string("msg_") + name, wire::encode_file(msg));
        for (std::uint8_t steps : {std::uint8_t{5}, std::uint8_t{60}}) {
            Bytes late = wire::encode_file(msg);
            late.insert(late.begin(), steps);
            put(std::string("msg_") + name + "_after_" + std::to_string(steps), late);
        }
    }

    wire::FileState st;
    st.manifest = blob;
    st.side = 1;
    st.phase = 1;
    st.path = "dl/photo.jpg.part";
    st.final_path = "dl/photo.jpg";
    st.have = Bytes{0x05};
    put("state", wire::encode(st));
    st.side = 2;  // held for a group's members
    st.group = wire::FileGroupBytes{9};
    st.path = "dl/photo.jpg";
    put("state_held", wire::encode(st));
    st.side = 1;
    st.phase = 3;  // asking the group's members
    st.path = "dl/photo.jpg.part";
    put("state_asking", wire::encode(st));
    st.side = 0;  // sending to one session of a contact
    st.phase = 1;
    st.group = {};
    st.have = {};
    st.path = "photo.jpg";
    st.session = SessionId{3, 1, 4, 1, 5, 9, 2, 6};
    put("state_session", wire::encode(st));
    st.session = {};
    st.phase = 0;  // the offer, answered by a session
    st.answered = true;
    put("state_answered", wire::encode(st));
    st.replies = {{SessionId{3, 1, 4}, static_cast<std::uint8_t>(wire::Reply::received)},
                  {SessionId{2, 7, 1}, static_cast<std::uint8_t>(wire::Reply::waiting)}};
    put("state_replies", wire::encode(st));

    put("png", Bytes{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 1, 0, 0, 0,
                     0, 200});
    put("jpeg", Bytes{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x10, 0x00,
                      0x20, 0x03});
    put("gif", Bytes{'G', 'I', 'F', '8', '9', 'a', 0x10, 0x00, 0x20, 0x00});
    put("webp", Bytes{'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X', 10, 0, 0, 0,
                      0, 0, 0, 0, 9, 0, 0, 7, 0, 0});
    put("name_traversal", text("../../etc/passwd"));
    put("name_device", text("CON.txt"));
    put("name_bidi", text("invoice\xe2\x80\xae" "fdp.exe"));

    put("bad_empty", Bytes{});
    put("bad_type", Bytes{200, 0x80});
    put("bad_cancel_int", Bytes{5, 0x81, 0x00, 0x01});
    put("bad_huge_want", Bytes{2, 0x82, 0x00, 0xc4, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                               0x01, 0xdd, 0xff, 0xff, 0xff, 0xff});
    return 0;
}
