#include "sim/host_station.hpp"

#include <stdexcept>

namespace dc::sim {

void HostStation::create(core::Crypto& crypto, std::uint64_t seed, std::optional<Snapshot> snap) {
    config.node.port = addr.port;
    config.node.bind_addr = addr;
    auto h = host::Host::create(config, id, snap ? std::move(*snap) : stored(), crypto, seed);
    if (!h) throw std::runtime_error(name + ": " + h.error());
    host = std::move(h).value();
}

void HostStation::start(Network& net) {
    net.bring_up(*this, *this);
    net.input(*this, [&] { host->handle_start(net.now(), addr); });
}

void HostStation::quit(Network& net) {
    if (!up) return;
    net.input(*this, [&] { host->handle_quit(net.now()); });
}

void HostStation::crash(Network& net) { net.take_down(*this); }

void HostStation::store_batches(TimeMs now, const std::function<void(const std::vector<StoreOp>&)>& keep) {
    while (auto* ops = host->poll_store()) {
        if (store_fault || store_fails) {
            if (on_batch) on_batch(*ops, false);
            host->handle_store_failed(now, store_fault.value_or(host::StoreFailure{"the store refused the batch", true}));
            continue;
        }
        if (on_batch) on_batch(*ops, true);
        keep(*ops);
        host->handle_store_applied(now);
    }
}

void HostStation::take_events(TimeMs) {
    while (auto e = host->poll_event()) {
        if (on_event) on_event(*e);
        if (keep_events) events.push_back(std::move(*e));
    }
}

}  // namespace dc::sim
