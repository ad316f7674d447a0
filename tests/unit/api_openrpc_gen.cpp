// Prints the daemon API's OpenRPC document, as man/darkchat-api.openrpc.json holds it.
#include "darkchat/api.hpp"

#include <cstdio>

int main() {
    auto doc = dc::api::openrpc();
    std::fwrite(doc.data(), 1, doc.size(), stdout);
    return 0;
}
