// mslcpu_rt.h — the dispatch entry point of the fiber runtime (used by the request loop).
#pragma once
#include <string>
namespace mslcpu {
struct dispatch_desc {
  const char *kernel;
  unsigned tg[3];            // threads per threadgroup
  unsigned grid[3];          // threadgroups per grid, or threads per grid if grid_is_threads
  bool grid_is_threads;      // dispatchThreads (non-uniform edge threadgroups) vs dispatchThreadgroups
  unsigned tgs_per_grid[3];  // filled in by dispatch
  unsigned workers;          // OS threads running threadgroups; 0 = one per CPU
  size_t stack_size;         // per simulated GPU thread; 0 = default
  int order;                 // thread order between sync points: 0 forward, 1 reverse, 2 random
  unsigned long long seed;   // for the random order
};
// dispatch runs d to completion; on failure it returns -1 with a message in err.
int dispatch(const dispatch_desc &d, const binding &b, std::string &err);
}  // namespace mslcpu
