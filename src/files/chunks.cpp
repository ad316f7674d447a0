// The chunk path of the transfer machine: the receiver's window of chunks asked for, each
// chunk handed to the driver to open and check against the manifest (io::Open) and written
// once it matched, the first chunk read back at the end; the sender's chunks sealed as read.

#include "state.hpp"

#include <algorithm>

namespace dc::files {

// Tops the window up once half of it (or a chunk to ask again) is free, so that a
// fileWant names many chunks rather than one per chunk that came.
void Machine::State::fill(TimeMs now, const FileId& id, Transfer& t) {
    if (t.phase != Phase::transferring || now < t.stalled_until) return;
    if (t.again.empty() && t.asked.size() > cfg.window / 2) return;
    std::vector<std::uint32_t> ask;
    while (t.asked.size() < cfg.window && ask.size() < wire::kMaxFileWant) {
        std::uint32_t i = 0;
        if (!t.again.empty()) {
            i = *t.again.begin();
            t.again.erase(t.again.begin());
        } else {
            while (t.cursor < t.chunks && t.has(t.cursor)) ++t.cursor;
            if (t.cursor >= t.chunks) break;
            i = t.cursor++;
        }
        if (t.has(i) || t.asked.contains(i)) continue;
        t.asked[i] = now + cfg.request_timeout;
        ask.push_back(i);
    }
    if (!ask.empty()) send(t, wire::FileWant{id, std::move(ask)});
}

void Machine::State::bad_chunk(TimeMs now, const FileId& id, Transfer& t, std::uint32_t index) {
    ++stats.bad_chunks;
    if (t.asked.erase(index) == 0) return;  // not asked for: nothing to ask again
    t.again.insert(index);
    fill(now, id, t);
}

// A chunk is opened and checked by the driver (io::Open, perhaps on another thread):
// at most max_opening at once; one more is dropped and asked for again with the next
// fill (when one of those is answered).
void Machine::State::on_chunk(TimeMs now, wire::FileChunk&& c) {
    auto it = transfers.find({Side::receiving, c.id, {}});
    if (it == transfers.end() || it->second.phase != Phase::transferring) {
        ++stats.refused;
        return;
    }
    Transfer& t = it->second;
    if (c.index >= t.chunks) {
        ++stats.refused;
        return;
    }
    if (t.has(c.index) || t.opening.contains(c.index)) {
        ++stats.duplicate;
        return;
    }
    if (c.data.size() != t.length(c.index) + wire::kFileChunkTag) return bad_chunk(now, c.id, t, c.index);
    if (opening >= cfg.max_opening) {
        ++stats.busy;
        if (t.asked.erase(c.index) > 0) t.again.insert(c.index);
        return;
    }
    ++opening;
    t.opening.insert(c.index);
    io.push_back(io::Open{c.id, c.index, std::move(c.data), t.key, t.chunk_hash(c.index)});
}

void Machine::State::opened(TimeMs now, const FileId& id, std::uint32_t index, Opened result, Bytes plain) {
    if (opening > 0) --opening;
    auto it = transfers.find({Side::receiving, id, {}});
    if (it == transfers.end()) return;
    Transfer& t = it->second;
    // Handed out before the transfer ended, went to another holder or was restarted.
    if (t.opening.erase(index) == 0 || t.phase != Phase::transferring) return;
    if (t.has(index)) {
        ++stats.duplicate;
        return;
    }
    if (result == Opened::not_opened) return bad_chunk(now, id, t, index);
    if (result == Opened::not_matching) {
        // In a group the member serving it checked it: another member may serve it.
        if (!zero(t.group)) return bad_chunk(now, id, t, index);
        // Sealed under the transfer's key, so from the sender itself, and not the chunk it
        // offered (it does not hash what it serves, see served_chunk): its file changed.
        return changed_at_sender(id, t, index);
    }
    t.set(index);
    ++t.have_count;
    t.heard = now;
    t.asked.erase(index);
    t.again.erase(index);
    io.push_back(io::Write{id, t.path, t.offset(index), std::move(plain), index});
    t.unsynced = true;
    if (t.have_count == t.chunks) return start_verify(id, t);
    if (++t.since_store >= cfg.store_every) save(id, t);
    fill(now, id, t);
}

Opened open_chunk(Crypto& crypto, const io::Open& op, Bytes& plain) {
    if (op.sealed.size() < wire::kFileChunkTag) return Opened::not_opened;
    plain.resize(op.sealed.size() - wire::kFileChunkTag);
    if (!crypto.aead_open(plain.data(), op.sealed, chunk_ad(op.id, op.index), op.index, op.key))
        return Opened::not_opened;
    return hash_of(crypto, plain) == op.hash ? Opened::ok : Opened::not_matching;
}

// Every chunk matched its hash before it was written, and the manifest's whole hash
// is the hash of those (open_manifest): the file is the one offered. Only the first
// chunk is read back, to see that the disk kept it and whether it is an image.
void Machine::State::start_verify(const FileId& id, Transfer& t) {
    t.phase = Phase::verifying;
    t.asked.clear();
    t.again.clear();
    t.image.reset();
    save(id, t);
    if (t.chunks == 0) return complete(id, t);
    io.push_back(io::Read{id, Side::receiving, t.path, 0, 0, t.length(0)});
}

void Machine::State::complete(const FileId& id, Transfer& t) {
    const Key k{Side::receiving, id, {}};
    io.push_back(io::Finish{id, t.path, t.final_path});
    events.push_back(ev::Completed{id, t.peer, t.final_path, t.m.size, t.image});
    send(t, wire::FileDone{id, true});
    // A group's file: now one more member serves it to the others.
    if (!zero(t.group)) {
        const Transfer done = std::move(t);
        forget(k);
        hold(id, done, done.final_path);
        return;
    }
    forget(k);
}

void Machine::State::verified_chunk(TimeMs now, const FileId& id, Transfer& t, std::uint32_t index, ByteView bytes) {
    if (t.phase != Phase::verifying || index != 0) return;
    if (!t.matches(index, bytes, crypto)) {  // the disk lost it: fetch it again
        ++stats.bad_chunks;
        t.clear(index);
        --t.have_count;
        t.phase = Phase::transferring;
        t.again.insert(index);
        save(id, t);
        fill(now, id, t);
        return;
    }
    t.image = sniff_image(bytes);
    complete(id, t);
}

// Between two the chunk is sealed as read: the receiver checks each against the manifest
// (on_chunk) and ends the transfer at the first that does not match, so hashing it here
// too would only double the sender's work. A member serving a group's file checks
// before it serves: its receiver would otherwise ask it again.
void Machine::State::served_chunk(const FileId& id, Transfer& t, std::uint32_t index, ByteView bytes) {
    if (t.reading.erase(index) == 0) return;
    if (!zero(t.group) && !t.matches(index, bytes, crypto))
        return unservable(id, t, "'" + t.m.name + "' changed since it was offered");
    wire::FileChunk c{id, index, Bytes(bytes.size() + wire::kFileChunkTag)};
    crypto.aead_seal(c.data.data(), bytes, chunk_ad(id, index), index, t.key);
    send(t, c);
}

// A chunk from the sender that opened but is not the one in the manifest: nothing more of
// that file is taken, and what was written of it goes.
void Machine::State::changed_at_sender(const FileId& id, Transfer& t, std::uint32_t index) {
    ++stats.bad_chunks;
    events.push_back(ev::Failed{id, "'" + t.m.name + "' changed at the sender since it was offered (chunk " +
                                        std::to_string(index) + " is not the one in its manifest)"});
    send(t, wire::FileCancel{id});
    io.push_back(io::Remove{id, t.path});
    forget(t.place(id));
}

}  // namespace dc::files
