// Writes the golden wire records (see wire_golden_cases.hpp) with the encoders and
// decoders it is linked with:
//   wire_golden_gen OUT_DIR CORPUS_DIR
// Run it only when the wire format changes on purpose, and say so in the commit.

#include "wire_golden_cases.hpp"

#include <cstdio>

namespace {

bool write(const std::filesystem::path& p, const std::vector<std::string>& lines) {
    std::ofstream out(p, std::ios::binary);
    for (const auto& l : lines) out << l << '\n';
    return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: wire_golden_gen OUT_DIR CORPUS_DIR\n");
        return 2;
    }
    using namespace dc::wire::golden;
    const std::filesystem::path out = argv[1];
    std::filesystem::create_directories(out);
    if (!write(out / "messages.hex", message_lines()) || !write(out / "mutations.txt", mutation_lines()) ||
        !write(out / "corpus.txt", corpus_lines(argv[2])) || !write(out / "channel.hex", message_lines(true)) ||
        !write(out / "channel_mutations.txt", mutation_lines(true)) ||
        !write(out / "channel_corpus.txt", corpus_lines(argv[2], true))) {
        std::fprintf(stderr, "wire_golden_gen: cannot write %s\n", argv[1]);
        return 1;
    }
    return 0;
}
