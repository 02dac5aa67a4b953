// mslcpu_rt.cpp — executes MSL compute dispatches on the CPU.
//
// Each threadgroup runs on one OS thread; its GPU threads are fibers that run one after another
// and switch only at threadgroup_barrier and SIMD-group collectives, in forward, reverse or
// random order. Threadgroups are spread over a few OS threads (workers). Threadgroup memory —
// declared threadgroup variables (see tg_var) and the dynamic [[threadgroup(n)]] blocks — belongs
// to the worker and is poisoned (all bits set: NaN for floats) at the start of every threadgroup,
// as it holds garbage on the GPU.
#include "msl_cpu.h"
#undef thread
#undef kernel
#undef device
#undef constant
#undef threadgroup
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mslcpu_rt.h"
#include "mslcpu_switch.h"
#ifndef MSLCPU_HAVE_ASM_SWITCH
#include <ucontext.h>
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MSLCPU_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define MSLCPU_ASAN 1
#endif
#ifdef MSLCPU_ASAN
extern "C" void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
extern "C" void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif

// Without AddressSanitizer (whose fiber annotations assume a scheduler), the assembly switch lets
// fibers hand over to each other directly.
#if defined(MSLCPU_HAVE_ASM_SWITCH) && !defined(MSLCPU_ASAN)
#define MSLCPU_CHAIN 1
#endif

namespace mslcpu {
struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum state { RUNNABLE, AT_BARRIER, AT_SIMD, DONE, FAILED };

// A fiber stack: an mmap'd region whose lowest page is a guard page (PROT_NONE), so an overflow
// faults instead of overwriting another fiber's stack.
struct stack {
  char *base = nullptr;  // mapping start (guard page)
  size_t len = 0;        // mapping length
  char *lo() const { return base + page(); }
  size_t size() const { return len - page(); }
  static size_t page() { static size_t p = (size_t)sysconf(_SC_PAGESIZE); return p; }
};

struct fiber {
#ifdef MSLCPU_HAVE_ASM_SWITCH
  void *sp = nullptr;
#else
  ucontext_t ctx;
#endif
  stack stk;
  state st = RUNNABLE;
  const char *file = nullptr;  // sync site (barrier or collective)
  int line = 0, col = 0;
  ids id;
  void *asan_fake = nullptr;
  alignas(16) unsigned char slot[256];  // this lane's value in a SIMD collective
};

// tg_var_slot is the storage of one declared threadgroup variable on one worker.
struct tg_var_slot {
  const void *key = nullptr;  // address of a per-declaration static in the kernel TU
  void *ptr = nullptr;
  size_t size = 0, cap = 0;
  unsigned long long epoch = 0;  // threadgroup that last initialised it
  const char *name = "";
};

struct tg_state {
  std::vector<fiber> fibers;
#ifdef MSLCPU_HAVE_ASM_SWITCH
  void *sched_sp = nullptr;
#else
  ucontext_t sched_ctx;
#endif
  fiber *cur = nullptr;
  const binding *b = nullptr;
  kernel_fn fn = nullptr;
  const char *kernel = "";
  std::vector<uint32_t> active;  // per simdgroup: lanes taking part in the collective being run
  std::string error;             // first failure of a thread of the current threadgroup
  size_t stack_size = 0;
  unsigned long long rng = 0;
  const void *sched_bottom = nullptr;  // scheduler stack, for AddressSanitizer's fiber switches
  size_t sched_size = 0;
  std::vector<unsigned> round;  // fibers to run in this round, in thread order (MSLCPU_CHAIN)
  size_t round_pos = 0;
  std::vector<tg_var_slot> vars;
  unsigned long long epoch = 0;
  size_t declared_bytes = 0, dynamic_bytes = 0;
  long static_tg = -1;  // the kernel's static count of declared_bytes (-1: unknown)
};
static thread_local tg_state *g_tg;

static std::string where(const fiber &f) {
  char buf[160];
  snprintf(buf, sizeof buf, "thread (%u,%u,%u) of threadgroup (%u,%u,%u)", f.id.tptg.x, f.id.tptg.y, f.id.tptg.z,
           f.id.tgpig.x, f.id.tgpig.y, f.id.tgpig.z);
  return buf;
}

// ---- fiber switching ------------------------------------------------------------------
static void to_scheduler(bool dying) {
  tg_state *t = g_tg;
  fiber *f = t->cur;
#ifdef MSLCPU_ASAN
  __sanitizer_start_switch_fiber(dying ? nullptr : &f->asan_fake, t->sched_bottom, t->sched_size);
#else
  (void)dying;
#endif
#if defined(MSLCPU_CHAIN)
  // Hand over directly to the next runnable fiber of this round, if any (one switch instead of
  // two through the scheduler); a failing fiber goes straight back to the scheduler.
  if (f->st != FAILED)
    while (++t->round_pos < t->round.size()) {
      fiber &next = t->fibers[t->round[t->round_pos]];
      if (next.st != RUNNABLE) continue;
      t->cur = &next;
      mslcpu_switch(&f->sp, next.sp);
      return;
    }
  t->round_pos = t->round.size();
  mslcpu_switch(&f->sp, t->sched_sp);
#elif defined(MSLCPU_HAVE_ASM_SWITCH)
  mslcpu_switch(&f->sp, t->sched_sp);
#else
  swapcontext(&f->ctx, &t->sched_ctx);
#endif
#ifdef MSLCPU_ASAN
  __sanitizer_finish_switch_fiber(f->asan_fake, &t->sched_bottom, &t->sched_size);
#endif
}

static void fiber_entry() {
  tg_state *t = g_tg;
#ifdef MSLCPU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &t->sched_bottom, &t->sched_size);
#endif
  t->fn(*t->b, t->cur->id);
  t->cur->st = DONE;
  to_scheduler(true);
  __builtin_trap();  // a finished fiber is never resumed
}

static void resume(tg_state *t, fiber &f) {
  t->cur = &f;
#ifdef MSLCPU_ASAN
  void *fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.stk.lo(), f.stk.size());
#endif
#ifdef MSLCPU_HAVE_ASM_SWITCH
  mslcpu_switch(&t->sched_sp, f.sp);
#else
  swapcontext(&t->sched_ctx, &f.ctx);
#endif
#ifdef MSLCPU_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  t->cur = nullptr;
}

static void start_fiber(tg_state &t, fiber &f) {
#ifdef MSLCPU_HAVE_ASM_SWITCH
  f.sp = mslcpu_prepare_stack(f.stk.lo(), f.stk.size(), fiber_entry);
#else
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stk.lo();
  f.ctx.uc_stack.ss_size = f.stk.size();
  f.ctx.uc_link = nullptr;
  makecontext(&f.ctx, fiber_entry, 0);
#endif
  (void)t;
}

// ---- stacks: a process-wide pool, so dispatches do not mmap every time ---------------
static std::mutex g_pool_mu;
static std::vector<stack> g_pool;

static stack get_stack(size_t size) {
  {
    std::lock_guard<std::mutex> l(g_pool_mu);
    for (size_t i = g_pool.size(); i-- > 0;)
      if (g_pool[i].size() == size) {
        stack s = g_pool[i];
        g_pool.erase(g_pool.begin() + i);
        return s;
      }
  }
  stack s;
  s.len = size + stack::page();
  void *p = mmap(nullptr, s.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw error("mmap of a fiber stack failed");
  s.base = (char *)p;
  mprotect(s.base, stack::page(), PROT_NONE);
  return s;
}

static void put_stack(stack s, bool abandoned) {
#ifdef MSLCPU_ASAN
  if (abandoned) __asan_unpoison_memory_region(s.lo(), s.size());  // frames of a fiber that never returned
#else
  (void)abandoned;
#endif
  std::lock_guard<std::mutex> l(g_pool_mu);
  g_pool.push_back(s);
}

// ---- hooks called from kernel code ---------------------------------------------------
void fail(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  tg_state *t = g_tg;
  if (t && t->cur) {  // in a fiber: record, then leave this fiber for good (no unwinding across stacks)
    if (t->error.empty()) t->error = where(*t->cur) + ": " + buf;
    t->cur->st = FAILED;
    to_scheduler(true);
    __builtin_trap();
  }
  throw error(buf);
}

void tg_barrier(const char *file, int line) {
  fiber *f = g_tg->cur;
  f->st = AT_BARRIER;
  f->file = file;
  f->line = line;
  f->col = 0;
  to_scheduler(false);
}

void simd_sync(const char *file, int line, int col) {
  fiber *f = g_tg->cur;
  f->st = AT_SIMD;
  f->file = file;
  f->line = line;
  f->col = col;
  to_scheduler(false);
}

unsigned lane_id() { return g_tg->cur->id.tiisg; }

void simd_publish(const void *v, size_t n) {
  if (n > sizeof(fiber::slot)) fail("SIMD-group value of %zu bytes is too large (at most %zu)", n, sizeof(fiber::slot));
  memcpy(g_tg->cur->slot, v, n);
}

const void *simd_slot(unsigned lane) {
  tg_state *t = g_tg;
  size_t i = (size_t)t->cur->id.sgitg * 32 + lane;
  if (i >= t->fibers.size() || !((t->active[t->cur->id.sgitg] >> lane) & 1u)) {
    // reading an inactive lane is undefined on the GPU; return this lane's own (poisoned) slot
    static thread_local unsigned char poison[sizeof(fiber::slot)];
    memset(poison, 0xff, sizeof poison);
    return poison;
  }
  return t->fibers[i].slot;
}

bool simd_lane_active(unsigned lane) { return (g_tg->active[g_tg->cur->id.sgitg] >> lane) & 1u; }

// tg_var returns the storage of a declared threadgroup variable for the running threadgroup. The
// first thread of a threadgroup to reach the declaration allocates (with AddressSanitizer: an
// exact-size heap block, so overruns are reported) and poisons it, and the threadgroup's memory
// total is checked against the 32 KiB limit.
void *tg_var(const void *key, size_t size, size_t align, const char *name) {
  tg_state *t = g_tg;
  if (!t || !t->cur) fail("threadgroup variable %s used outside a kernel", name);
  tg_var_slot *s = nullptr;
  for (auto &v : t->vars)
    if (v.key == key) { s = &v; break; }
  if (s && s->epoch == t->epoch) return s->ptr;
  if (!s) {
    t->vars.emplace_back();
    s = &t->vars.back();
    s->key = key;
    s->name = name;
  }
  s->epoch = t->epoch;
  size_t padded = (size + 15) & ~(size_t)15;
  t->declared_bytes += padded;
  if (t->static_tg >= 0 && t->declared_bytes > (size_t)t->static_tg)
    fail("threadgroup variable %s takes the kernel's declared threadgroup memory to %zu bytes, more than its static count of %ld "
         "(what its pipeline reports as staticThreadgroupMemoryLength): a bug of the harness's count",
         name, t->declared_bytes, t->static_tg);
  if (t->declared_bytes + t->dynamic_bytes > 32768) {
    std::string names;
    for (auto &v : t->vars)
      if (v.epoch == t->epoch) names += std::string(names.empty() ? "" : ", ") + v.name + " (" + std::to_string((v.key == key ? size : v.size)) + " B)";
    fail("threadgroup memory of %zu bytes exceeds the 32768-byte limit: declared %zu [%s] + dynamic [[threadgroup(n)]] %zu",
         t->declared_bytes + t->dynamic_bytes, t->declared_bytes, names.c_str(), t->dynamic_bytes);
  }
  if (align < 16) align = 16;
#ifdef MSLCPU_ASAN
  free(s->ptr);
  s->ptr = nullptr;
  s->cap = 0;
#endif
  if (s->cap < size) {
    free(s->ptr);
    void *p = nullptr;
    if (posix_memalign(&p, align, size ? size : 1)) fail("out of memory for threadgroup variable %s", name);
    s->ptr = p;
    s->cap = size;
  }
  s->size = size;
  memset(s->ptr, 0xff, size);
  return s->ptr;
}

// ---- kernels ---------------------------------------------------------------------------
struct kernel_info {
  kernel_fn fn;
  unsigned max_threads;
  long static_tg;  // -1: unknown
};
static std::map<std::string, kernel_info> &registry() {
  static std::map<std::string, kernel_info> r;
  return r;
}
void register_kernels(const kernel_entry *k, int n) {
  for (int i = 0; i < n; i++) registry()[k[i].name] = {k[i].fn, k[i].max_threads, k[i].static_tg};
}

// list_kernels prints every kernel: name, max threads (0: no limit declared) and static
// threadgroup memory (-1: unknown), one a line (`runner --kernels`, for the Go side).
void list_kernels() {
  for (auto &k : registry()) printf("%s %u %ld\n", k.first.c_str(), k.second.max_threads, k.second.static_tg);
}

// ---- crash reports ---------------------------------------------------------------------
// A fault in kernel code (a wild pointer, a fiber stack overflow) kills the runner; the handler
// first says which kernel and which GPU thread was running. AddressSanitizer builds use
// AddressSanitizer's own report instead.
static void on_fault(int sig, siginfo_t *si, void *) {
  char buf[512];
  int n;
  tg_state *t = g_tg;
  if (t && t->cur) {
    const fiber &f = *t->cur;
    bool guard = (char *)si->si_addr >= f.stk.base && (char *)si->si_addr < f.stk.lo();
    n = snprintf(buf, sizeof buf, "mslcpu: signal %d (%s) at address %p in kernel %s, %s%s\n", sig, strsignal(sig), si->si_addr,
                 t->kernel, where(f).c_str(), guard ? ": fiber stack overflow (large local arrays?)" : "");
  } else {
    n = snprintf(buf, sizeof buf, "mslcpu: signal %d (%s) at address %p outside kernel code\n", sig, strsignal(sig), si->si_addr);
  }
  if (write(2, buf, n) < 0) {}
  signal(sig, SIG_DFL);
  raise(sig);
}

static void install_alt_stack() {
#ifndef MSLCPU_ASAN
  static thread_local std::unique_ptr<char[]> alt;
  if (alt) return;
  size_t sz = 64 * 1024;
  alt.reset(new char[sz]);
  stack_t ss{};
  ss.ss_sp = alt.get();
  ss.ss_size = sz;
  sigaltstack(&ss, nullptr);
#endif
}

void install_fault_handlers() {
#ifndef MSLCPU_ASAN
  install_alt_stack();
  struct sigaction sa{};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) sigaction(s, &sa, nullptr);
#endif
}

// ---- the scheduler ---------------------------------------------------------------------
static unsigned long long splitmix(unsigned long long &x) {
  unsigned long long z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static std::string site(const fiber &f) {
  return std::string(f.file ? f.file : "?") + ":" + std::to_string(f.line);
}

// run_threadgroup runs one threadgroup to completion.
static void run_threadgroup(tg_state &t, const dispatch_desc &d, metal::uint3 tgpos, unsigned long long linear) {
  metal::uint3 tgsize = metal::uint3(d.tg[0], d.tg[1], d.tg[2]);
  if (d.grid_is_threads)  // dispatchThreads: edge threadgroups are smaller (non-uniform)
    for (int i = 0; i < 3; i++) tgsize[i] = std::min<unsigned>(d.tg[i], d.grid[i] - tgpos[i] * d.tg[i]);
  unsigned n = tgsize.x * tgsize.y * tgsize.z;
  unsigned nsg = (n + 31) / 32;
  while (t.fibers.size() < n) {
    t.fibers.emplace_back();
    t.fibers.back().stk = get_stack(t.stack_size);
  }
  t.active.assign(nsg, 0);
  t.error.clear();
  t.epoch++;
  t.declared_bytes = 0;
  unsigned long long rs = d.seed ^ (linear * 0x9e3779b97f4a7c15ULL);
  t.rng = splitmix(rs);
  for (unsigned i = 0; i < n; i++) {
    fiber &f = t.fibers[i];
    ids &id = f.id;
    id.tptg = metal::uint3(i % tgsize.x, (i / tgsize.x) % tgsize.y, i / (tgsize.x * tgsize.y));
    id.tgpig = tgpos;
    id.tptgs = tgsize;
    id.dtptg = metal::uint3(d.tg[0], d.tg[1], d.tg[2]);
    id.tgpg = metal::uint3(d.tgs_per_grid[0], d.tgs_per_grid[1], d.tgs_per_grid[2]);
    for (int k = 0; k < 3; k++) id.tpig[k] = tgpos[k] * d.tg[k] + id.tptg[k];
    id.tpg = d.grid_is_threads ? metal::uint3(d.grid[0], d.grid[1], d.grid[2]) : id.tgpg * metal::uint3(d.tg[0], d.tg[1], d.tg[2]);
    id.tiitg = i;
    id.tiisg = i % 32;
    id.sgitg = i / 32;
    id.tpsg = 32;
    id.sgptg = nsg;
    f.st = RUNNABLE;
    f.file = nullptr;
    start_fiber(t, f);
  }
  // dynamic threadgroup memory holds garbage on the GPU: poison it (NaN for floats)
  for (int i = 0; i < 8; i++)
    if (t.b->tgmem_sizes[i]) memset(t.b->tgmem[i], 0xff, t.b->tgmem_sizes[i]);
  std::vector<unsigned> order(n);
  for (unsigned i = 0; i < n; i++) order[i] = d.order == 1 ? n - 1 - i : i;
  for (;;) {
    // Threads run one after another between synchronisation points; the order decides which
    // missing-barrier races become visible.
    if (d.order == 2)
      for (unsigned i = n; i > 1; i--) std::swap(order[i - 1], order[splitmix(t.rng) % i]);
#ifdef MSLCPU_CHAIN
    t.round.clear();
    for (unsigned i : order)
      if (t.fibers[i].st == RUNNABLE) t.round.push_back(i);
    if (!t.round.empty()) {
      t.round_pos = 0;
      resume(&t, t.fibers[t.round[0]]);  // the fibers of the round hand over to each other
      if (!t.error.empty()) throw error(t.error);
    }
#else
    for (unsigned i : order)
      if (t.fibers[i].st == RUNNABLE) {
        resume(&t, t.fibers[i]);
        if (!t.error.empty()) throw error(t.error);
      }
#endif
    // Every fiber is now blocked or done. Release the SIMD collectives first: in each simdgroup,
    // the lanes waiting at the call site of its first waiting lane run the collective together.
    bool released = false;
    for (unsigned sg = 0; sg < nsg; sg++) {
      const fiber *key = nullptr;
      uint32_t mask = 0;
      for (unsigned l = 0; l < 32 && sg * 32 + l < n; l++) {
        const fiber &f = t.fibers[sg * 32 + l];
        if (f.st != AT_SIMD) continue;
        if (!key) key = &f;
        if (f.line == key->line && f.col == key->col && f.file == key->file) mask |= 1u << l;
      }
      if (!mask) continue;
      t.active[sg] = mask;
      for (unsigned l = 0; l < 32; l++)
        if (mask >> l & 1) t.fibers[sg * 32 + l].st = RUNNABLE;
      released = true;
    }
    if (released) continue;
    unsigned at_barrier = 0, done = 0;
    const fiber *w = nullptr, *e = nullptr, *other = nullptr;
    for (unsigned i = 0; i < n; i++) {
      const fiber &f = t.fibers[i];
      if (f.st == AT_BARRIER) {
        at_barrier++;
        if (!w) w = &f;
        else if (!other && (f.line != w->line || f.file != w->file)) other = &f;
      } else if (f.st == DONE) {
        done++;
        if (!e) e = &f;
      }
    }
    if (done == n) return;
    if (at_barrier == n && !other) {
      for (unsigned i = 0; i < n; i++) t.fibers[i].st = RUNNABLE;
      continue;
    }
    if (other)
      fail("threadgroup_barrier divergence: threads wait at different barriers: %s at %s, %s at %s",
           where(*w).c_str(), site(*w).c_str(), where(*other).c_str(), site(*other).c_str());
    // some threads returned while others wait at a barrier: undefined behaviour in Metal
    fail("threadgroup_barrier divergence: %u of %u threads wait at the barrier at %s (e.g. %s) but %u returned (e.g. %s)",
         at_barrier, n, site(*w).c_str(), where(*w).c_str(), done, where(*e).c_str());
  }
}

int dispatch(const dispatch_desc &d, const binding &b, std::string &err) {
  auto it = registry().find(d.kernel);
  if (it == registry().end()) {
    err = "unknown kernel " + std::string(d.kernel) + " (kernels in this program:";
    for (auto &k : registry()) err += " " + k.first;
    err += ")";
    return -1;
  }
  dispatch_desc dd = d;
  unsigned long long total_tgs = 1;
  for (int i = 0; i < 3; i++) {
    if (dd.tg[i] == 0) dd.tg[i] = 1;
    if (dd.grid[i] == 0) { err = "grid has a zero dimension"; return -1; }
    dd.tgs_per_grid[i] = dd.grid_is_threads ? (dd.grid[i] + dd.tg[i] - 1) / dd.tg[i] : dd.grid[i];
    total_tgs *= dd.tgs_per_grid[i];
  }
  unsigned long long nthreads = (unsigned long long)dd.tg[0] * dd.tg[1] * dd.tg[2];
  if (nthreads > 1024) {
    err = "threadgroup of " + std::to_string(nthreads) + " threads exceeds Metal's 1024";
    return -1;
  }
  if (it->second.max_threads && nthreads > it->second.max_threads) {
    err = "threadgroup of " + std::to_string(nthreads) + " threads exceeds the kernel's [[max_total_threads_per_threadgroup(" +
          std::to_string(it->second.max_threads) + ")]]";
    return -1;
  }
  size_t dynamic = 0;
  for (int i = 0; i < 8; i++) dynamic += b.tgmem_sizes[i];
  if (dynamic > 32768) {
    err = "dynamic threadgroup memory of " + std::to_string(dynamic) + " bytes exceeds the 32768-byte limit";
    return -1;
  }
  std::atomic<unsigned long long> next{0};
  std::mutex mu;
  unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  unsigned nworkers = (unsigned)std::min<unsigned long long>(dd.workers ? dd.workers : hw, total_tgs);
  size_t stack_size = dd.stack_size;
#ifdef MSLCPU_ASAN
  if (!stack_size) stack_size = 1 << 20;
#else
  if (!stack_size) stack_size = 256 << 10;
#endif
  auto work = [&] {
    install_alt_stack();
    tg_state t;
    binding lb = b;  // dynamic [[threadgroup(n)]] memory: one block per worker (= per running threadgroup)
    std::vector<std::unique_ptr<unsigned char[]>> tgm;
    for (int i = 0; i < 8; i++)
      if (b.tgmem_sizes[i]) {
        tgm.emplace_back(new unsigned char[b.tgmem_sizes[i]]);  // exact size: AddressSanitizer catches overruns
        lb.tgmem[i] = tgm.back().get();
      } else {
        lb.tgmem[i] = nullptr;
      }
    t.fn = it->second.fn;
    t.static_tg = it->second.static_tg;
    t.b = &lb;
    t.kernel = d.kernel;
    t.stack_size = stack_size;
    t.dynamic_bytes = dynamic;
    g_tg = &t;
    bool failed = false;
    try {
      for (;;) {
        unsigned long long k = next.fetch_add(1);
        if (k >= total_tgs) break;
        {
          std::lock_guard<std::mutex> l(mu);
          if (!err.empty()) break;
        }
        metal::uint3 pos = metal::uint3(k % dd.tgs_per_grid[0], (k / dd.tgs_per_grid[0]) % dd.tgs_per_grid[1],
                                        k / ((unsigned long long)dd.tgs_per_grid[0] * dd.tgs_per_grid[1]));
        run_threadgroup(t, dd, pos, k);
      }
    } catch (const std::exception &e) {
      failed = true;
      std::lock_guard<std::mutex> l(mu);
      if (err.empty()) err = e.what();
    }
    for (auto &f : t.fibers) put_stack(f.stk, failed);
    for (auto &v : t.vars) free(v.ptr);
    g_tg = nullptr;
  };
  std::vector<std::thread> ws;
  for (unsigned i = 1; i < nworkers; i++) ws.emplace_back(work);
  work();
  for (auto &w : ws) w.join();
  return err.empty() ? 0 : -1;
}
}  // namespace mslcpu
