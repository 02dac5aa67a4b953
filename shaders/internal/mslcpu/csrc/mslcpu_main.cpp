// Runner process: reads dispatch requests on stdin, writes buffers back on stdout.
// Request (little endian):  "MSL2" u32 namelen name  u32 tg[3]  u32 grid[3]  u32 flags (bit 0: grid
//                           counts threads)  u32 order  u64 seed  u32 workers
//                           u32 nbuf { u32 index u64 size bytes }  u32 ntg { u32 index u64 size }
// Reply: "OK  " then for each request buffer in order: u64 size bytes
//        or "ERR " u32 len message.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include "msl_cpu.h"
#undef thread
#undef kernel
#undef device
#undef constant
#undef threadgroup
#include "mslcpu_rt.h"

static bool rd(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }
static void wr(const void *p, size_t n) { fwrite(p, 1, n, stdout); }
template <class T> static T get() { T v; if (!rd(&v, sizeof v)) { fprintf(stderr, "mslcpu: truncated request\n"); exit(2); } return v; }

int main() {
  char magic[4];
  while (rd(magic, 4)) {
    if (memcmp(magic, "MSL2", 4)) { fprintf(stderr, "mslcpu: bad magic\n"); return 2; }
    std::string name(get<uint32_t>(), '\0');
    rd(&name[0], name.size());
    mslcpu::dispatch_desc d{};
    d.kernel = name.c_str();
    for (int i = 0; i < 3; i++) d.tg[i] = get<uint32_t>();
    for (int i = 0; i < 3; i++) d.grid[i] = get<uint32_t>();
    d.grid_is_threads = (get<uint32_t>() & 1) != 0;
    uint32_t go_order = get<uint32_t>();  // Go's Order: 1 forward, 2 reverse, 3 random
    d.order = go_order == 2 ? 1 : go_order == 3 ? 2 : 0;
    d.seed = get<uint64_t>();
    d.workers = get<uint32_t>();
    if (!d.workers) if (const char *w = getenv("MSLCPU_WORKERS")) d.workers = atoi(w);
    mslcpu::binding b{};
    uint32_t nbuf = get<uint32_t>();
    std::vector<uint32_t> order;
    for (uint32_t i = 0; i < nbuf; i++) {
      uint32_t idx = get<uint32_t>(); uint64_t sz = get<uint64_t>();
      if (idx >= 32) { fprintf(stderr, "mslcpu: buffer index %u\n", idx); return 2; }
      b.buffers[idx] = malloc(sz ? sz : 1);  // exact size: AddressSanitizer catches overruns
      b.sizes[idx] = sz;
      rd(b.buffers[idx], sz);
      order.push_back(idx);
    }
    uint32_t ntg = get<uint32_t>();
    for (uint32_t i = 0; i < ntg; i++) { uint32_t idx = get<uint32_t>(); b.tgmem_sizes[idx] = get<uint64_t>(); }
    std::string err;
    if (mslcpu::dispatch(d, b, err) != 0) {
      wr("ERR ", 4); uint32_t n = err.size(); wr(&n, 4); wr(err.data(), n);
    } else {
      wr("OK  ", 4);
      for (uint32_t idx : order) { uint64_t sz = b.sizes[idx]; wr(&sz, 8); wr(b.buffers[idx], sz); }
    }
    fflush(stdout);
    for (uint32_t idx : order) free(b.buffers[idx]);
  }
  return 0;
}
