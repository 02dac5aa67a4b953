#pragma once
#include <string>
namespace mslcpu {
struct dispatch_desc {
  const char *kernel;
  unsigned tg[3];            // threads per threadgroup
  unsigned grid[3];          // threadgroups per grid, or threads per grid if grid_is_threads
  bool grid_is_threads;      // dispatchThreads (non-uniform edge threadgroups) vs dispatchThreadgroups
  unsigned tgs_per_grid[3];  // filled in by dispatch
  unsigned workers;          // 0 = hardware_concurrency
  size_t stack_size;         // per simulated GPU thread, 0 = 256 KiB
  int order;                 // thread order between sync points: 0 forward, 1 reverse, 2 random
  unsigned long long seed;   // for the random order
};
int dispatch(const dispatch_desc &d, const binding &b, std::string &err);
}
