// mslcpu_rt.cpp — executes MSL compute dispatches on the CPU.
// Each threadgroup runs on one OS thread; its GPU threads are ucontext fibers
// that switch only at threadgroup_barrier / SIMD-group collectives, so
// `static thread_local` threadgroup variables are shared by exactly the
// threads of one threadgroup.  Threadgroups are distributed over a few OS threads.
#include <ucontext.h>
#include <atomic>
#include <cstdarg>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <random>
#include <algorithm>
#include <vector>
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/common_interface_defs.h>
#define MSLCPU_ASAN 1
#endif
#endif
#include "msl_cpu.h"
#undef thread
#undef kernel
#undef device
#undef constant
#undef threadgroup
#include "mslcpu_rt.h"

namespace mslcpu {
struct error : std::runtime_error { using std::runtime_error::runtime_error; };

void fail(const char *fmt, ...) {
  char buf[1024];
  va_list ap; va_start(ap, fmt); vsnprintf(buf, sizeof buf, fmt, ap); va_end(ap);
  throw error(buf);
}

enum state { RUNNABLE, AT_TG_BARRIER, AT_SIMD, DONE };
struct fiber {
  ucontext_t ctx;
  char *stack = nullptr;
  state st = RUNNABLE;
  int line = 0, col = 0;
  ids id;
  alignas(16) unsigned char slot[256];
};
struct tg_state {
  std::vector<fiber> fibers;
  ucontext_t sched;
  fiber *cur = nullptr;
  const binding *b = nullptr;
  kernel_fn fn = nullptr;
  std::vector<uint32_t> active;  // per simdgroup: lanes taking part in the collective being executed
  std::string error;
  size_t stack_size = 0;
  std::minstd_rand rng{12345};
  void *sched_fake_stack = nullptr;
};
static thread_local tg_state *g_tg;

static void yield_to_scheduler() {
  tg_state *t = g_tg;
#ifdef MSLCPU_ASAN
  void *fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, nullptr, 0);  // scheduler stack bounds unknown: asan copes
  swapcontext(&t->cur->ctx, &t->sched);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  swapcontext(&t->cur->ctx, &t->sched);
#endif
}

void tg_barrier() { g_tg->cur->st = AT_TG_BARRIER; yield_to_scheduler(); }
void simd_sync(int line, int col) { fiber *f = g_tg->cur; f->st = AT_SIMD; f->line = line; f->col = col; yield_to_scheduler(); }
unsigned lane_id() { return g_tg->cur->id.tiisg; }
unsigned simd_size() { return 32; }
void simd_publish(const void *v, size_t n) {
  if (n > sizeof(fiber::slot)) fail("simd value too large (%zu bytes)", n);
  memcpy(g_tg->cur->slot, v, n);
}
const void *simd_slot(unsigned lane) {
  fiber *f = g_tg->cur;
  size_t i = (size_t)f->id.sgitg * 32 + lane;
  return g_tg->fibers[i].slot;
}
bool simd_lane_active(unsigned lane) { return (g_tg->active[g_tg->cur->id.sgitg] >> lane) & 1u; }

static void fiber_entry() {
  tg_state *t = g_tg;
#ifdef MSLCPU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
  try {
    t->fn(*t->b, t->cur->id);
  } catch (const std::exception &e) {
    if (t->error.empty()) t->error = e.what();
  }
  t->cur->st = DONE;
#ifdef MSLCPU_ASAN
  __sanitizer_start_switch_fiber(nullptr, nullptr, 0);  // this fiber is finished
#endif
  // returns to uc_link == scheduler
}

static std::map<std::string, kernel_fn> &registry() { static std::map<std::string, kernel_fn> r; return r; }
void register_kernels(const kernel_entry *k, int n) { for (int i = 0; i < n; i++) registry()[k[i].name] = k[i].fn; }

static void resume(tg_state *t, fiber &f) {
  t->cur = &f;
#ifdef MSLCPU_ASAN
  void *fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.stack, t->stack_size);
  swapcontext(&t->sched, &f.ctx);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  swapcontext(&t->sched, &f.ctx);
#endif
  t->cur = nullptr;
  if (!t->error.empty()) throw error(t->error);
}

static std::string where(const fiber &f) {
  char buf[160];
  snprintf(buf, sizeof buf, "thread (%u,%u,%u) of threadgroup (%u,%u,%u)", f.id.tptg.x, f.id.tptg.y, f.id.tptg.z, f.id.tgpig.x, f.id.tgpig.y, f.id.tgpig.z);
  return buf;
}

// Runs one threadgroup to completion.
static void run_threadgroup(tg_state &t, const dispatch_desc &d, metal::uint3 tgpos) {
  metal::uint3 tgsize = metal::uint3(d.tg[0], d.tg[1], d.tg[2]);
  if (d.grid_is_threads) {  // dispatchThreads: edge threadgroups are smaller (non-uniform)
    for (int i = 0; i < 3; i++) tgsize[i] = std::min<unsigned>(d.tg[i], d.grid[i] - tgpos[i] * d.tg[i]);
  }
  unsigned n = tgsize.x * tgsize.y * tgsize.z;
  unsigned nsg = (n + 31) / 32;
  if (t.fibers.size() < n) {
    size_t old = t.fibers.size();
    t.fibers.resize(n);
    for (size_t i = old; i < n; i++) t.fibers[i].stack = (char *)aligned_alloc(64, t.stack_size);
  }
  t.active.assign(nsg, 0);
  for (unsigned i = 0; i < n; i++) {
    fiber &f = t.fibers[i];
    ids &id = f.id;
    id.tptg = metal::uint3(i % tgsize.x, (i / tgsize.x) % tgsize.y, i / (tgsize.x * tgsize.y));
    id.tgpig = tgpos;
    id.tptgs = tgsize;
    id.tgpg = metal::uint3(d.tgs_per_grid[0], d.tgs_per_grid[1], d.tgs_per_grid[2]);
    for (int k = 0; k < 3; k++) id.tpig[k] = tgpos[k] * d.tg[k] + id.tptg[k];
    id.tpg = d.grid_is_threads ? metal::uint3(d.grid[0], d.grid[1], d.grid[2]) : id.tgpg * metal::uint3(d.tg[0], d.tg[1], d.tg[2]);
    id.tiitg = i; id.tiisg = i % 32; id.sgitg = i / 32; id.tpsg = 32; id.sgptg = nsg;
    f.st = RUNNABLE;
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = t.stack_size;
    f.ctx.uc_link = &t.sched;
    makecontext(&f.ctx, fiber_entry, 0);
  }
  // dynamic threadgroup memory starts as garbage on the GPU: poison it (NaN pattern)
  for (int i = 0; i < 8; i++) if (t.b->tgmem_sizes[i]) memset(t.b->tgmem[i], 0xff, t.b->tgmem_sizes[i]);
  std::vector<unsigned> order(n);
  for (unsigned i = 0; i < n; i++) order[i] = i;
  for (;;) {
    // Threads run one after another between synchronisation points; the order
    // decides which missing-barrier races become visible: run tests with
    // MSLCPU_ORDER=forward and =reverse (or random).
    if (d.order == 1) std::reverse(order.begin(), order.end());
    else if (d.order == 2) for (unsigned i = n; i > 1; i--) std::swap(order[i - 1], order[t.rng() % i]);
    for (unsigned i : order)
      if (t.fibers[i].st == RUNNABLE) resume(&t, t.fibers[i]);
    if (d.order == 1) std::reverse(order.begin(), order.end());
    // every fiber is now blocked or done
    bool released = false;
    for (unsigned sg = 0; sg < nsg && !released; sg++) {
      // lanes waiting at a SIMD collective: release the group at the first lane's call site.
      int key_line = -1, key_col = -1;
      uint32_t mask = 0;
      for (unsigned l = 0; l < 32 && sg * 32 + l < n; l++) {
        fiber &f = t.fibers[sg * 32 + l];
        if (f.st != AT_SIMD) continue;
        if (key_line < 0) { key_line = f.line; key_col = f.col; }
        if (f.line == key_line && f.col == key_col) mask |= 1u << l;
      }
      if (!mask) continue;
      t.active[sg] = mask;
      for (unsigned l = 0; l < 32; l++) if (mask >> l & 1) t.fibers[sg * 32 + l].st = RUNNABLE;
      released = true;
    }
    if (released) continue;
    unsigned at_barrier = 0, done = 0;
    for (unsigned i = 0; i < n; i++) { at_barrier += t.fibers[i].st == AT_TG_BARRIER; done += t.fibers[i].st == DONE; }
    if (done == n) return;
    if (at_barrier == n) { for (unsigned i = 0; i < n; i++) t.fibers[i].st = RUNNABLE; continue; }
    // some threads returned while others wait at threadgroup_barrier: undefined behaviour in Metal
    const fiber *w = nullptr, *e = nullptr;
    for (unsigned i = 0; i < n; i++) { if (t.fibers[i].st == AT_TG_BARRIER && !w) w = &t.fibers[i]; if (t.fibers[i].st == DONE && !e) e = &t.fibers[i]; }
    fail("threadgroup_barrier divergence: %u of %u threads wait at a barrier (e.g. %s) but %u returned (e.g. %s)",
         at_barrier, n, where(*w).c_str(), done, where(*e).c_str());
  }
}

int dispatch(const dispatch_desc &d, const binding &b, std::string &err) {
  auto it = registry().find(d.kernel);
  if (it == registry().end()) { err = "unknown kernel " + std::string(d.kernel); return -1; }
  dispatch_desc dd = d;
  unsigned total_tgs = 1;
  for (int i = 0; i < 3; i++) {
    if (dd.tg[i] == 0) dd.tg[i] = 1;
    dd.tgs_per_grid[i] = dd.grid_is_threads ? (dd.grid[i] + dd.tg[i] - 1) / dd.tg[i] : dd.grid[i];
    total_tgs *= dd.tgs_per_grid[i];
  }
  if (dd.tg[0] * dd.tg[1] * dd.tg[2] > 1024) { err = "threads per threadgroup > 1024"; return -1; }
  std::atomic<unsigned> next{0};
  std::mutex mu;
  unsigned nworkers = dd.workers ? dd.workers : std::max(1u, std::min(std::thread::hardware_concurrency(), total_tgs));
  auto work = [&] {
    tg_state t;
    binding lb = b;  // dynamic [[threadgroup(n)]] memory: one block per worker (= per running threadgroup)
    std::vector<std::unique_ptr<unsigned char[]>> tgm;
    for (int i = 0; i < 8; i++) if (b.tgmem_sizes[i]) { tgm.emplace_back(new unsigned char[b.tgmem_sizes[i]]); lb.tgmem[i] = tgm.back().get(); }
    t.fn = it->second; t.b = &lb;
    t.rng.seed((unsigned)(dd.seed ^ (dd.seed >> 32)) + 1);
    t.stack_size = dd.stack_size ? dd.stack_size : 256 * 1024;
    g_tg = &t;
    try {
      for (;;) {
        unsigned k = next.fetch_add(1);
        if (k >= total_tgs) break;
        { std::lock_guard<std::mutex> l(mu); if (!err.empty()) break; }
        metal::uint3 pos = metal::uint3(k % dd.tgs_per_grid[0], (k / dd.tgs_per_grid[0]) % dd.tgs_per_grid[1], k / (dd.tgs_per_grid[0] * dd.tgs_per_grid[1]));
        run_threadgroup(t, dd, pos);
      }
    } catch (const std::exception &e) {
      std::lock_guard<std::mutex> l(mu);
      if (err.empty()) err = e.what();
    }
    for (auto &f : t.fibers) free(f.stack);
    g_tg = nullptr;
  };
  // threadgroup memory declared in kernels is `static thread_local`: each worker thread
  // has its own copy, and a worker runs one threadgroup at a time.
  std::vector<std::thread> ws;
  for (unsigned i = 1; i < nworkers; i++) ws.emplace_back(work);
  work();
  for (auto &w : ws) w.join();
  return err.empty() ? 0 : -1;
}
}  // namespace mslcpu
