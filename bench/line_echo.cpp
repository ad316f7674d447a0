// Baseline: the cheapest line-oriented process, to measure what the pipes cost.
// Reads standard input line by line and writes each line back at once (flushed),
// as darkchat writes its events. Ends at end of input.
#include <cstdio>

int main() {
    static char line[65536];
    // Bounded: at most this many lines, then it stops like at end of input.
    for (long i = 0; i < 100000000L && std::fgets(line, sizeof line, stdin); ++i) {
        std::fputs(line, stdout);
        std::fflush(stdout);
    }
    return 0;
}
