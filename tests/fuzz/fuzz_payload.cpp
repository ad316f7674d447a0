// Fuzz target: every payload decoder, fed the same bytes directly (no packet and so
// no signature in the way). Each decode that succeeds must survive decode, encode,
// decode again with equal fields (fuzz_common.hpp). Also fed to the decoders of
// signed bodies: declarations and chat messages, which the store keeps
// (SessionRecord::decl, OutboxRecord::msg) and the core decodes again at start-up,
// so this target covers stored rows too; and signed blobs, what a sealed chat opens to.

#include "fuzz_common.hpp"

#include <cstddef>
#include <cstdint>

using namespace dc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool ready = fuzz::init();
    (void)ready;
    const ByteView in(data, size);
    for (auto t : fuzz::kAllTypes) (void)fuzz::check_payload(t, in);
    fuzz::check_declaration_body(in);
    fuzz::check_chat_message_body(in);
    fuzz::check_signed_blob(in);
    return 0;
}
