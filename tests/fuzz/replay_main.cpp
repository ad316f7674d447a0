// Runs a fuzz target's LLVMFuzzerTestOneInput over every file in the corpus
// directories (or single files) named on the command line, so the committed corpus
// is replayed by `meson test` in every build, with or without clang and libFuzzer.
// Ends with a doctest-style summary line, which scripts/count-tests.py reads: one
// test case per input. An input that fails a check aborts the run; the name of the
// input being replayed is printed first.

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

const char* current = nullptr;  // the input being replayed, for the abort handler

void on_abort(int sig) {
    if (current) {
        const char prefix[] = "replay: crashed on input ";
        (void)!write(STDERR_FILENO, prefix, sizeof prefix - 1);
        (void)!write(STDERR_FILENO, current, std::strlen(current));
        (void)!write(STDERR_FILENO, "\n", 1);
    }
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

}  // namespace

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) {
        const fs::path arg = argv[i];
        std::error_code ec;
        if (fs::is_directory(arg, ec)) {
            for (const auto& e : fs::directory_iterator(arg))
                if (e.is_regular_file()) inputs.push_back(e.path());
        } else if (fs::is_regular_file(arg, ec)) {
            inputs.push_back(arg);
        } else {
            std::fprintf(stderr, "replay: no such corpus: %s\n", argv[i]);
            return 1;
        }
    }
    if (inputs.empty()) {
        std::fprintf(stderr, "replay: the corpus is empty\n");
        return 1;
    }
    std::sort(inputs.begin(), inputs.end());

    std::signal(SIGABRT, on_abort);
    std::size_t bytes = 0;
    for (const auto& path : inputs) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
            return 1;
        }
        const std::vector<char> data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        // A copy of exactly the input's size, so ASan sees reads past its end.
        std::vector<std::uint8_t> copy(data.begin(), data.end());
        const std::string name = path.string();
        current = name.c_str();
        LLVMFuzzerTestOneInput(copy.data(), copy.size());
        current = nullptr;
        bytes += copy.size();
    }
    std::printf("replayed %zu inputs (%zu bytes)\n", inputs.size(), bytes);
    std::printf("[doctest] test cases: %zu | %zu passed | 0 failed | 0 skipped\n", inputs.size(), inputs.size());
    return 0;
}
