// Received chunks opened and checked (files::open_chunk: ChaCha20-Poly1305, then the
// manifest's BLAKE2b) on a few threads beside the loop's, which only moves bytes: the
// loop hands a chunk over (submit), a worker opens it and wakes the loop, which takes
// what is done (take) and gives it to the file part in the order it finished. The file
// part bounds how many chunks are handed out at once (files::Config::max_opening), so
// the queue's memory is bounded too.
#pragma once

#include "darkchat/files.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dc::io {

class ChunkPool {
public:
    struct Done {
        files::FileId id{};
        std::uint32_t index = 0;
        files::Opened result = files::Opened::not_opened;
        Bytes plain;
    };
    // wake is called on a worker's thread each time a chunk is done and the last take()
    // has not seen it yet (uv_async_send, which may be called from any thread).
    ChunkPool(std::size_t threads, std::function<void()> wake);
    ~ChunkPool();  // the chunks not opened yet are dropped; the workers end
    ChunkPool(const ChunkPool&) = delete;
    ChunkPool& operator=(const ChunkPool&) = delete;

    void submit(files::io::Open op);
    std::vector<Done> take();
    // Threads for this machine: one fewer than its cores (the loop has one), at least 1, at most 4.
    static std::size_t threads_for(unsigned cores);

private:
    void work();

    files::SodiumCrypto crypto_;  // libsodium keeps no state between calls: any thread
    std::function<void()> wake_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<files::io::Open> jobs_;
    std::vector<Done> done_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace dc::io
