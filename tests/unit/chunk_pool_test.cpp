// The driver's pool that opens received chunks (src/io/chunk_pool.cpp): every chunk
// handed over is answered once, in whatever order the threads finish, with what
// files::open_chunk says of it; and the pool ends with chunks still queued.

#include <doctest/doctest.h>

#include "darkchat/crypto.hpp"
#include "files/state.hpp"
#include "io/chunk_pool.hpp"

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>

using namespace dc;
using files::Opened;

namespace {

struct Sealer {
    files::SodiumCrypto crypto;
    files::FileId id{};
    files::FileKey key{};
    Sealer() {
        (void)crypto::init();
        id.fill(7);
        key.fill(9);
    }
    Bytes plain(std::uint32_t index) const {
        Bytes b(64 * 1024 + index);
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(i * 31 + index);
        return b;
    }
    files::io::Open open(std::uint32_t index) {
        const Bytes p = plain(index);
        files::io::Open op{id, index, Bytes(p.size() + wire::kFileChunkTag), key, files::hash_of(crypto, p)};
        crypto.aead_seal(op.sealed.data(), p, files::chunk_ad(id, index), index, key);
        return op;
    }
};

// Wakes counted under a lock; waits are bounded in time.
struct Waker {
    std::mutex mu;
    std::condition_variable cv;
    int wakes = 0;
    void wake() {
        {
            std::lock_guard lock(mu);
            ++wakes;
        }
        cv.notify_all();
    }
    int count() {
        std::lock_guard lock(mu);
        return wakes;
    }
    bool wait_for(int seen) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, std::chrono::seconds(10), [&] { return wakes > seen; });
    }
};

}  // namespace

TEST_CASE("the pool answers every chunk once, with the plaintext of those that open and match") {
    Sealer s;
    Waker w;
    io::ChunkPool pool(3, [&] { w.wake(); });
    constexpr std::uint32_t kChunks = 48;
    for (std::uint32_t i = 0; i < kChunks; ++i) {
        auto op = s.open(i);
        if (i % 8 == 3) op.sealed[5] ^= 0x01;   // changed on its way: does not open
        if (i % 8 == 5) op.hash[0] ^= 0x01;     // not the chunk of the manifest
        if (i % 8 == 6) op.index = i + 1000;    // sealed for another index
        pool.submit(std::move(op));
    }
    std::map<std::uint32_t, io::ChunkPool::Done> got;
    for (int round = 0; round < 1000 && got.size() < kChunks; ++round) {
        const int seen = w.count();
        for (auto& d : pool.take()) {
            CHECK(d.id == s.id);
            CHECK(got.count(d.index) == 0);
            got[d.index] = std::move(d);
        }
        if (got.size() < kChunks) REQUIRE(w.wait_for(seen));
    }
    REQUIRE(got.size() == kChunks);
    for (auto& [index, d] : got) {
        CAPTURE(index);
        const std::uint32_t i = index >= 1000 ? index - 1000 : index;
        if (index >= 1000) CHECK(d.result == Opened::not_opened);
        else if (i % 8 == 3) CHECK(d.result == Opened::not_opened);
        else if (i % 8 == 5) CHECK(d.result == Opened::not_matching);
        else {
            REQUIRE(d.result == Opened::ok);
            CHECK(d.plain == s.plain(i));
        }
    }
}

TEST_CASE("a pool ends at once with chunks still queued, and is sized by the cores") {
    Sealer s;
    {
        io::ChunkPool pool(1, [] {});
        for (std::uint32_t i = 0; i < 64; ++i) pool.submit(s.open(i));
    }  // joins: would hang if a worker kept waiting or working through the queue unbounded
    CHECK(io::ChunkPool::threads_for(0) == 1);
    CHECK(io::ChunkPool::threads_for(2) == 1);
    CHECK(io::ChunkPool::threads_for(4) == 3);
    CHECK(io::ChunkPool::threads_for(64) == 4);
}
