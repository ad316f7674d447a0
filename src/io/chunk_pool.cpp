#include "io/chunk_pool.hpp"

#include <algorithm>

namespace dc::io {

ChunkPool::ChunkPool(std::size_t threads, std::function<void()> wake) : wake_(std::move(wake)) {
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

ChunkPool::~ChunkPool() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
        jobs_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
}

std::size_t ChunkPool::threads_for(unsigned cores) { return std::clamp<std::size_t>(cores, 2, 5) - 1; }

void ChunkPool::submit(files::io::Open op) {
    {
        std::lock_guard lock(mu_);
        jobs_.push_back(std::move(op));
    }
    cv_.notify_one();
}

std::vector<ChunkPool::Done> ChunkPool::take() {
    std::lock_guard lock(mu_);
    return std::exchange(done_, {});
}

void ChunkPool::work() {
    for (;;) {
        files::io::Open op;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (stop_) return;
            op = std::move(jobs_.front());
            jobs_.pop_front();
        }
        Done d{op.id, op.index, files::Opened::not_opened, {}};
        d.result = files::open_chunk(crypto_, op, d.plain);
        bool first = false;
        {
            std::lock_guard lock(mu_);
            first = done_.empty();
            done_.push_back(std::move(d));
        }
        if (first) wake_();
    }
}

}  // namespace dc::io
