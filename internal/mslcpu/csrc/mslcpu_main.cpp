// mslcpu_main.cpp — the runner's request loop: reads dispatch requests on stdin, runs them, writes
// the buffers back on stdout. The Go side (run.go) writes the requests.
//
// Request (little endian): "MSL3" u32 namelen name  u32 tg[3]  u32 grid[3]  u32 flags (bit 0: grid
//                          counts threads)  u32 order (1 forward, 2 reverse, 3 random)  u64 seed
//                          u32 workers
//                          u32 nbuf { u32 index  u32 alias_of (0xffffffff: own allocation follows)
//                                     u64 offset  [u64 size bytes] }   (allocations before their aliases)
//                          u32 ntg { u32 index u64 size }
// Reply: "OK  " then for each own allocation in request order: u64 size bytes
//        or "ERR " u32 len message.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace mslcpu {
void install_fault_handlers();
void list_kernels();
}

static bool rd(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }
static void wr(const void *p, size_t n) { fwrite(p, 1, n, stdout); }
template <class T> static T get() {
  T v;
  if (!rd(&v, sizeof v)) {
    fprintf(stderr, "mslcpu: truncated request\n");
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--kernels")) {  // the kernel table, for the Go side
    mslcpu::list_kernels();
    return 0;
  }
  mslcpu::install_fault_handlers();
  char magic[4];
  while (rd(magic, 4)) {
    if (memcmp(magic, "MSL3", 4)) {
      fprintf(stderr, "mslcpu: bad request header (runner and Go driver out of date?)\n");
      return 2;
    }
    std::string name(get<uint32_t>(), '\0');
    if (!rd(&name[0], name.size())) return 2;
    mslcpu::dispatch_desc d{};
    d.kernel = name.c_str();
    for (int i = 0; i < 3; i++) d.tg[i] = get<uint32_t>();
    for (int i = 0; i < 3; i++) d.grid[i] = get<uint32_t>();
    d.grid_is_threads = (get<uint32_t>() & 1) != 0;
    uint32_t go_order = get<uint32_t>();
    d.order = go_order == 2 ? 1 : go_order == 3 ? 2 : 0;
    d.seed = get<uint64_t>();
    d.workers = get<uint32_t>();
    if (!d.workers)
      if (const char *w = getenv("MSLCPU_WORKERS")) d.workers = atoi(w);
    mslcpu::binding b{};
    void *alloc[31] = {};     // own allocations (freed after the reply)
    size_t alloc_size[31] = {};
    uint32_t nbuf = get<uint32_t>();
    std::vector<uint32_t> bufs;  // own allocations, in request order
    for (uint32_t i = 0; i < nbuf; i++) {
      uint32_t idx = get<uint32_t>();
      uint32_t of = get<uint32_t>();
      uint64_t off = get<uint64_t>();
      if (idx >= 31 || b.buffers[idx]) {
        fprintf(stderr, "mslcpu: bad buffer index %u\n", idx);
        return 2;
      }
      if (of == 0xffffffffu) {
        uint64_t sz = get<uint64_t>();
        alloc[idx] = malloc(sz ? sz : 1);  // exact size: AddressSanitizer catches overruns
        alloc_size[idx] = sz;
        if (!alloc[idx] || !rd(alloc[idx], sz)) {
          fprintf(stderr, "mslcpu: cannot read buffer %u (%llu bytes)\n", idx, (unsigned long long)sz);
          return 2;
        }
        of = idx;
        bufs.push_back(idx);
      } else if (of >= 31 || !alloc[of]) {
        fprintf(stderr, "mslcpu: buffer %u aliases unknown buffer %u\n", idx, of);
        return 2;
      }
      if (off > alloc_size[of]) {
        fprintf(stderr, "mslcpu: buffer %u offset %llu past its allocation\n", idx, (unsigned long long)off);
        return 2;
      }
      b.buffers[idx] = (char *)alloc[of] + off;
      b.sizes[idx] = alloc_size[of] - off;
    }
    uint32_t ntg = get<uint32_t>();
    for (uint32_t i = 0; i < ntg; i++) {
      uint32_t idx = get<uint32_t>();
      uint64_t sz = get<uint64_t>();
      if (idx >= 8) {
        fprintf(stderr, "mslcpu: bad threadgroup memory index %u\n", idx);
        return 2;
      }
      b.tgmem_sizes[idx] = sz;
    }
    std::string err;
    if (mslcpu::dispatch(d, b, err) != 0) {
      wr("ERR ", 4);
      uint32_t n = err.size();
      wr(&n, 4);
      wr(err.data(), n);
    } else {
      wr("OK  ", 4);
      for (uint32_t idx : bufs) {
        uint64_t sz = alloc_size[idx];
        wr(&sz, 8);
        wr(alloc[idx], sz);
      }
    }
    fflush(stdout);
    for (uint32_t idx : bufs) free(alloc[idx]);
  }
  return 0;
}
