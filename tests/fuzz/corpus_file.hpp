// The one way the corpus generators write a seed file: dir/name, whole, or the
// generator (program) stops with a line naming the file.
#pragma once

#include "darkchat/types.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace dc::fuzz {

inline void write_corpus_file(const std::filesystem::path& dir, const std::string& name, ByteView data,
                              const char* program) {
    std::filesystem::create_directories(dir);
    std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    if (!f) {
        std::fprintf(stderr, "%s: cannot write %s\n", program, (dir / name).c_str());
        std::exit(1);
    }
}

// The directory a generator writes its seeds to, OUT_DIR/target from its one argument,
// made; or the usage line and exit status 1.
inline std::filesystem::path corpus_dir(int argc, char** argv, const char* program, const char* target) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR\n", program);
        std::exit(1);
    }
    const auto dir = std::filesystem::path(argv[1]) / target;
    std::filesystem::create_directories(dir);
    return dir;
}

}  // namespace dc::fuzz
