// What an idle process keeps resident. Start-up runs code once (opening and
// checking the store, the schema, reading the snapshot, the libraries' own
// set-up), and so does a burst of work (learning a thousand users, a backlog
// of chat); both leave code mapped and free heap held until the machine runs
// short of memory. The driver calls release_idle_pages() after start-up and
// after a burst once things are quiet: the heap's free pages go back to the
// kernel, and the process drops its mappings of program code. Code still in
// use comes back from the page cache at its next use (a minor fault, no disk
// read: the pages stay cached), so what an idle node runs is what stays.
#include "resident.hpp"

#include <elf.h>
#include <link.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace dc::io {

namespace {

// A segment with text relocations may hold private copies of code pages that
// dropping would lose; such an object is left alone.
bool has_text_relocations(const dl_phdr_info* info) {
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_DYNAMIC) continue;
        const auto* d = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + ph.p_vaddr);
        for (; d->d_tag != DT_NULL; ++d)
            if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL))) return true;
    }
    return false;
}

int drop_code(dl_phdr_info* info, std::size_t, void*) {
    const char* name = info->dlpi_name ? info->dlpi_name : "";
    if (std::strstr(name, "vdso") || has_text_relocations(info)) return 0;
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& ph = info->dlpi_phdr[i];
        // Code only: never a writable segment, whose pages are the process's own.
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) || (ph.p_flags & PF_W)) continue;
        std::uintptr_t start = (info->dlpi_addr + ph.p_vaddr) & ~(page - 1);
        std::uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + page - 1) & ~(page - 1);
        ::madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
    }
    return 0;
}

}  // namespace

void release_idle_pages() {
    ::malloc_trim(0);
    ::dl_iterate_phdr(drop_code, nullptr);
}

}  // namespace dc::io
