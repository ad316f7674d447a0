#include "sim/sim.hpp"

#include <cstdio>
#include <stdexcept>
#include <unistd.h>

namespace dc::sim {

Simulator::Simulator(Options o)
    : opts_(std::move(o)), net_(opts_.seed, opts_.net, opts_.start), crypto_(make_crypto(opts_.crypto, opts_.seed)) {
    net_.apply_store = opts_.keep_store;
    net_.trace = opts_.trace;
    net_.trace_bytes = opts_.crypto == CryptoKind::fast;
    net_.profile = opts_.profile;
    net_.on_store = [this](const Station& s, const StoreOp& op) {
        if (on_store) on_store(s.index, op);
    };
    net_.on_transmit = [this](const Station& s, const core::Transmit& t) {
        if (on_transmit) on_transmit(s.index, t);
    };
    net_.on_quit = [this](Station& s) { peers_[s.index].host.reset(); };
}

Simulator::~Simulator() = default;

std::uint64_t Simulator::signs() const {
    if (auto* f = dynamic_cast<const FastCrypto*>(crypto_.get())) return f->signs;
    return static_cast<const CountingCrypto&>(*crypto_).signs;
}

std::uint64_t Simulator::verifies() const {
    if (auto* f = dynamic_cast<const FastCrypto*>(crypto_.get())) return f->verifies;
    return static_cast<const CountingCrypto&>(*crypto_).verifies;
}

NodeId Simulator::add(const std::string& name, std::optional<core::Config> cfg) {
    auto i = static_cast<NodeId>(peers_.size());
    Peer& p = peers_.emplace_back();
    p.name = name;
    p.id = net_.identity(name);
    p.config.node = cfg ? *cfg : opts_.node;
    p.keep_events = opts_.keep_events;
    p.pack = opts_.pack_store;
    p.on_event = [this, i](const host::Event& e) {
        if (!on_event) return;
        if (auto* ce = std::get_if<core::Event>(&e)) on_event(i, *ce);
    };
    net_.attach(p);
    by_name_.emplace(name, i);
    return i;
}

NodeId Simulator::add_device(NodeId of, const std::string& label) {
    Identity id = peers_[of].id;
    core::Config cfg = peers_[of].config.node;
    NodeId i = add(label, cfg);
    Peer& p = peers_[i];
    SessionId session = p.id.session;
    p.id = id;
    p.id.session = session;
    return i;
}

core::Node& Simulator::node(NodeId i) {
    Peer& p = peers_[i];
    if (!p.host || !p.host->node()) throw std::logic_error("node " + p.name + " is down");
    return *p.host->node();
}

std::optional<NodeId> Simulator::find(const std::string& name) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return std::nullopt;
    return it->second;
}

void Simulator::start(NodeId i) {
    Peer& p = peers_[i];
    if (p.up) return;
    ++p.starts;
    p.boot(net_, *crypto_, net_.next_seed(), opts_.keep_store ? std::nullopt : std::optional<Snapshot>(Snapshot{}));
}

void Simulator::down(NodeId i) {
    Peer& p = peers_[i];
    p.crash(net_);
    p.host.reset();  // its memory is gone; what it stored stays
}

void Simulator::crash(NodeId i) {
    if (peers_[i].up) down(i);
}

void Simulator::quit(NodeId i) {
    if (peers_[i].up) peers_[i].quit(net_);
}

void Simulator::restart(NodeId i, bool new_address) {
    crash(i);
    if (new_address) net_.readdress(peers_[i], net_.next_address());
    start(i);
}

void Simulator::move(NodeId i) {
    bool was_up = peers_[i].up;
    crash(i);
    net_.readdress(peers_[i], net_.next_address());
    if (was_up) start(i);
}

void Simulator::command(NodeId i, const core::Command& c) {
    Peer& p = peers_[i];
    if (!p.up) return;
    // As the terminal session hands a command on: \quit to the Host (every
    // part says goodbye), the rest to the user's node.
    if (std::holds_alternative<core::cmd::Quit>(c)) return p.quit(net_);
    net_.input(p, [&] { p.host->node()->handle_command(net_.now(), c); });
}

void Simulator::partition(const std::vector<NodeId>& side) { net_.partition(side); }

void Simulator::heal() { net_.heal(); }

void Simulator::set_slow(NodeId i, TimeMs extra_delay, double extra_loss) {
    peers_[i].extra_delay = extra_delay;
    peers_[i].extra_loss = extra_loss;
}

std::size_t resident_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    int n = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    if (n != 2) return 0;
    return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace dc::sim
