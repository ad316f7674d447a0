// Takes the oldest element of a queue: what the poll_* calls of every sans-IO machine
// (roles, groups, files) do with their outputs.
#pragma once

#include <deque>
#include <optional>

namespace dc {

template <typename T>
std::optional<T> pop_front(std::deque<T>& q) {
    if (q.empty()) return std::nullopt;
    T e = std::move(q.front());
    q.pop_front();
    return e;
}

}  // namespace dc
