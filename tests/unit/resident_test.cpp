// Giving back what start-up or a burst left resident: the code pages and the
// heap's free memory go, and the process runs on as before.
#include "io/resident.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

// The process's resident set from /proc/self/smaps_rollup, in kB; 0 if unknown.
long resident_kb() {
    std::FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
    if (!f) return 0;
    char line[256];
    long kb = 0;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "Rss: %ld kB", &kb) == 1) break;
    std::fclose(f);
    return kb;
}

std::string work(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += std::to_string(i * 7 % 13);
    return s;
}

}  // namespace

TEST_CASE("released pages come back on use: code runs and freed heap is given back") {
    const std::string before = work(1000);
    {
        // A burst's garbage: many small blocks, freed (not one block malloc
        // would hand back by itself).
        std::vector<std::string> burst;
        for (int i = 0; i < 20000; ++i) burst.emplace_back(200, static_cast<char>('a' + i % 26));
    }
    long held = resident_kb();
    dc::io::release_idle_pages();
    long after = resident_kb();
    if (held == 0 || after == 0) return;  // no /proc here: nothing to compare
    CHECK(after < held);
    // Code that ran before runs again, with the same result.
    CHECK(work(1000) == before);
    dc::io::release_idle_pages();
    CHECK(work(1000) == before);
}
