//go:build fakemetal

// fakemetal.m — a strict stand-in for the part of Metal.framework that kvgpt's metal package
// uses: device, buffers, library, functions, compute pipelines, compile options, command queue,
// command buffers and the serial compute encoder, as Objective-C classes on GCC's runtime and
// GNUstep Foundation (manual retain/release: that runtime has no ARC).
//
// What it models and checks:
//   - command buffers complete asynchronously: commit hands them to the queue's worker thread,
//     which waits FAKEMETAL_DELAY_US (default 300 µs) and then runs each dispatch through the Go
//     side (the shader harness); memory read before waitUntilCompleted is stale;
//   - every misuse that real Metal asserts on, or whose result is undefined, is recorded (see
//     fm_misuse calls below): commit with an open encoder, encoding after endEncoding, a dispatch
//     with an unbound [[buffer(n)]] or [[threadgroup(n)]], setBytes over 4 KiB, threadgroup
//     memory over 32 KiB or not a multiple of 16, more threads than the pipeline allows,
//     autorelease with no pool, over-release;
//   - every fake object counts as live until deallocated, per class; deallocated objects become
//     zombies (their memory is kept), so a message to one aborts with its class and selector;
//   - hazards between the host and the GPU (see "hazards" below): a host write into a buffer that
//     a command encoded before the write has still to use (write-after-read: the host did not wait
//     for the command buffers that use the buffer), and a command that runs before an older
//     command using the same buffer (a command buffer committed ahead of the one holding the work
//     it depends on). FAKEMETAL_DEFER=1 runs command buffers only when the host waits for them, so
//     that every such hazard meets work not yet done, whatever the timing.
#import <Foundation/Foundation.h>
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fakemetal.h"
#include "classes.h"

typedef struct { NSUInteger width, height, depth; } MTLSize; // by value, 24 bytes, as on Apple

enum { // MTLCommandBufferStatus
	StatusNotEnqueued = 0,
	StatusEnqueued = 1,
	StatusCommitted = 2,
	StatusScheduled = 3,
	StatusCompleted = 4,
	StatusError = 5,
};

// ---- bookkeeping ----

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; // counters, misuse record, live table
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;  // a command buffer completed
static fm_counters counters;
enum { maxMisuseLog = 8 };
static char misuseLog[maxMisuseLog][400];

void fm_misuse(const char *fmt, ...) {
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&mu);
	if (counters.misuses < maxMisuseLog) strcpy(misuseLog[counters.misuses], msg);
	counters.misuses++;
	pthread_mutex_unlock(&mu);
	fprintf(stderr, "fakemetal: MISUSE: %s\n", msg);
	if (getenv("FAKEMETAL_ABORT") != NULL && strcmp(getenv("FAKEMETAL_ABORT"), "1") == 0) abort();
}

static void count(long *c, long d) {
	pthread_mutex_lock(&mu);
	*c += d;
	pthread_mutex_unlock(&mu);
}

void fm_read_counters(fm_counters *c) {
	pthread_mutex_lock(&mu);
	*c = counters;
	pthread_mutex_unlock(&mu);
}

void fm_misuse_report(char *buf, size_t n) {
	pthread_mutex_lock(&mu);
	buf[0] = 0;
	size_t used = 0;
	for (long i = 0; i < counters.misuses && i < maxMisuseLog && used < n; i++) {
		used += snprintf(buf + used, n - used, "%s\n", misuseLog[i]);
	}
	pthread_mutex_unlock(&mu);
}

void fm_reset(void) {
	pthread_mutex_lock(&mu);
	long live = counters.live;
	memset(&counters, 0, sizeof counters);
	counters.live = live;
	pthread_mutex_unlock(&mu);
}

enum { maxClasses = 32 };
static Class liveClass[maxClasses];
static long liveCount[maxClasses];

static void countLive(Class c, long d) {
	pthread_mutex_lock(&mu);
	int i = 0;
	while (i < maxClasses && liveClass[i] != Nil && liveClass[i] != c) i++;
	if (i < maxClasses) {
		liveClass[i] = c;
		liveCount[i] += d;
	}
	counters.live += d;
	pthread_mutex_unlock(&mu);
}

void fm_live_report(char *buf, size_t n) {
	pthread_mutex_lock(&mu);
	buf[0] = 0;
	size_t used = 0;
	for (int i = 0; i < maxClasses && liveClass[i] != Nil && used < n; i++) {
		if (liveCount[i] != 0) used += snprintf(buf + used, n - used, "%s: %ld\n", class_getName(liveClass[i]), liveCount[i]);
	}
	pthread_mutex_unlock(&mu);
}

// ---- FMObject and zombies ----

// FMZombie is what a deallocated fake object becomes: the memory is kept and its class swapped,
// so a later message is caught (runtime.m aborts with the zombie's original class) and a later
// release is recorded as an over-release.
__attribute__((objc_root_class))
@interface FMZombie {
@public
	Class isa;
	Class _orig; // overlays FMObject's _fmClass
}
@end
@implementation FMZombie
+ (void)initialize {}
+ (Class)class { return self; }
- (id)retain {
	fm_misuse("retain of a deallocated %s", class_getName(_orig));
	return self;
}
- (oneway void)release { fm_misuse("over-release: release of a deallocated %s", class_getName(_orig)); }
- (id)autorelease {
	fm_misuse("autorelease of a deallocated %s", class_getName(_orig));
	return self;
}
@end

const char *fm_zombie_class(void *obj) {
	if (obj == NULL || object_getClass((id)obj) != [FMZombie class]) return NULL;
	return class_getName(((FMZombie *)obj)->_orig);
}

static BOOL zombies(void) {
	const char *z = getenv("FAKEMETAL_ZOMBIES");
	return z == NULL || strcmp(z, "0") != 0;
}

// FMObject is the base of every fake Metal class: it counts live instances per class, checks
// that autorelease has a pool to go to, and turns into a zombie when deallocated.
@implementation FMObject
- (id)init {
	if ((self = [super init])) {
		_fmClass = [self class];
		countLive(_fmClass, 1);
	}
	return self;
}
- (id)autorelease {
	if ([NSAutoreleasePool currentPool] == nil) {
		fm_misuse("autorelease of a %s with no autorelease pool (it leaks)", class_getName([self class]));
	}
	return [super autorelease];
}
- (void)dealloc {
	countLive(_fmClass, -1);
	if (zombies()) {
		object_setClass(self, [FMZombie class]);
		return; // the memory stays: the zombie must outlive every stale pointer
	}
	[super dealloc];
}
@end

// ---- MTLCompileOptions (darwinkit looks the class up by this name) ----

@interface MTLCompileOptions : FMObject {
	BOOL _fastMath;
}
@end
@implementation MTLCompileOptions
- (id)init {
	if ((self = [super init])) _fastMath = YES; // Metal's default
	return self;
}
- (BOOL)fastMathEnabled { return _fastMath; }
- (void)setFastMathEnabled:(BOOL)v { _fastMath = v; }
@end

// ---- MTLBuffer ----

@implementation FMBuffer
- (void *)contents { return _mem; }
- (NSUInteger)length { return _len; }
- (void)dealloc {
	free(_mem);
	_mem = NULL;
	free(_uses);
	_uses = NULL;
	[super dealloc];
}
@end

// ---- hazards ----
//
// Every command added to a command buffer gets the next number of the encoding order and is
// recorded, in that order, on each buffer it binds (FMBuffer's _uses). When a buffer gets its first
// pending use, the hash of its contents is taken; when a command runs, each of its buffers must
// (1) have this command as its oldest pending use — else a younger command ran first, an ordering
// hazard — and (2) still hash to the recorded value — else the host wrote into it after the
// command was encoded and before it ran. After the command has run, the hash is taken again (the
// command may have written the buffer) and the use is removed. A command dropped without running
// (a failed command buffer, one never committed) just removes its uses.

static uint64_t encoded; // commands numbered so far; under mu

// contentHash hashes n bytes at p (a multiply-xorshift over 8-byte words; not cryptographic).
static uint64_t contentHash(const void *p, size_t n) {
	const unsigned char *b = p;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	for (; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

// trackCommand numbers c and records its uses of the buffers it references. Called on the host
// thread when c is added to a command buffer.
static void trackCommand(FMCommand *c, const char *what) {
	c->_what = what;
	c->_ntracked = 0;
	for (id o in c->retained) {
		if (![o isKindOfClass:[FMBuffer class]]) continue;
		BOOL seen = NO;
		for (int i = 0; i < c->_ntracked; i++) seen = seen || c->_tracked[i] == o;
		if (!seen && c->_ntracked < FM_MAX_BUFFERS + 1) c->_tracked[c->_ntracked++] = o;
	}
	pthread_mutex_lock(&mu);
	c->_seq = ++encoded;
	for (int i = 0; i < c->_ntracked; i++) {
		FMBuffer *b = c->_tracked[i];
		if (b->_nuses == 0) b->_hash = contentHash(b->_mem, b->_len); // no GPU work pending on b
		if (b->_nuses == b->_capUses) {
			b->_capUses = b->_capUses ? 2 * b->_capUses : 16;
			b->_uses = realloc(b->_uses, b->_capUses * sizeof *b->_uses);
		}
		b->_uses[b->_nuses++] = (fm_use){c->_seq, what};
	}
	pthread_mutex_unlock(&mu);
}

// dropUse removes c's use from b's pending uses. Call it under mu.
static void dropUse(FMBuffer *b, FMCommand *c) {
	for (size_t i = 0; i < b->_nuses; i++) {
		if (b->_uses[i].seq == c->_seq) {
			memmove(&b->_uses[i], &b->_uses[i + 1], (b->_nuses - i - 1) * sizeof *b->_uses);
			b->_nuses--;
			return;
		}
	}
}

// checkBeforeRun checks c's buffers just before c runs (on the queue's thread): the ordering and
// the host-write hazards. Each is recorded as a misuse.
static void checkBeforeRun(FMCommand *c) {
	for (int i = 0; i < c->_ntracked; i++) {
		FMBuffer *b = c->_tracked[i];
		uint64_t h = contentHash(b->_mem, b->_len);
		pthread_mutex_lock(&mu);
		fm_use first = b->_nuses > 0 ? b->_uses[0] : (fm_use){0, ""};
		uint64_t want = b->_hash;
		pthread_mutex_unlock(&mu);
		if (first.seq != c->_seq) {
			fm_misuse("ordering hazard: %s (command %llu) ran before %s (command %llu), which was encoded earlier and uses the same "
				  "buffer of %lu bytes: a command buffer was committed ahead of an older one whose work it depends on",
				  c->_what, (unsigned long long)c->_seq, first.what, (unsigned long long)first.seq, (unsigned long)b->_len);
		} else if (h != want) {
			fm_misuse("write-after-read hazard: the host wrote into a buffer of %lu bytes after %s (command %llu) was encoded to use it "
				  "and before it ran: wait for the command buffers that use a buffer (waitUntilCompleted) before writing into it",
				  (unsigned long)b->_len, c->_what, (unsigned long long)c->_seq);
		}
	}
}

// untrackCommand ends c's uses, after it ran (ran: the buffers' hashes are taken again, since c
// may have written them) or when it is dropped without running.
static void untrackCommand(FMCommand *c, BOOL ran) {
	for (int i = 0; i < c->_ntracked; i++) {
		FMBuffer *b = c->_tracked[i];
		uint64_t h = ran ? contentHash(b->_mem, b->_len) : 0;
		pthread_mutex_lock(&mu);
		dropUse(b, c);
		if (ran) b->_hash = h;
		pthread_mutex_unlock(&mu);
	}
	c->_ntracked = 0;
}

// ---- MTLFunction, MTLLibrary, MTLComputePipelineState ----

@interface FMFunction : FMObject {
@public
	NSString *_name;
	uintptr_t _lib;
}
@end
@implementation FMFunction
- (NSString *)name { return _name; }
- (void)dealloc {
	[_name release];
	[super dealloc];
}
@end

@interface FMLibrary : FMObject {
@public
	NSArray *_names;
	uintptr_t _lib;
}
@end
@implementation FMLibrary
- (NSArray *)functionNames { return _names; }
- (id)newFunctionWithName:(NSString *)name {
	if (![_names containsObject:name]) return nil;
	FMFunction *f = [FMFunction new];
	f->_name = [name copy];
	f->_lib = _lib;
	return f;
}
- (void)dealloc {
	[_names release];
	[super dealloc];
}
@end

@interface FMPipeline : FMObject {
@public
	NSString *_name;
	uintptr_t _lib;
	fm_kernel_info _info;
}
@end
@implementation FMPipeline
- (NSUInteger)maxTotalThreadsPerThreadgroup { return (NSUInteger)_info.max_threads; }
// staticThreadgroupMemoryLength is what the kernel's declared threadgroup variables take, as the
// harness counts them (0 where it cannot: then only its run-time check of declared plus dynamic
// memory applies).
- (NSUInteger)staticThreadgroupMemoryLength { return _info.static_tg > 0 ? (NSUInteger)_info.static_tg : 0; }
- (NSUInteger)threadExecutionWidth {
	const char *w = getenv("FAKEMETAL_SIMD_WIDTH"); // another GPU's SIMD width, for the device check's test
	return w != NULL ? (NSUInteger)atol(w) : 32;
}
- (void)dealloc {
	[_name release];
	[super dealloc];
}
@end

// ---- commands ----

// FMCommand is one encoded command of a command buffer: a compute dispatch, or an MPS matrix
// multiplication (mps.m). It retains every object it references until the command buffer has
// completed, as Metal does.
@implementation FMCommand
- (void)dealloc {
	untrackCommand(self, NO); // dropped without running (a no-op if it ran)
	for (int i = 0; i < FM_MAX_BUFFERS; i++) free((void *)d.bytes[i]);
	free((void *)d.kernel);
	free(mps);
	[retained release];
	[super dealloc];
}
@end

@interface FMEncoder : FMObject {
@public
	FMCommandBuffer *_cb; // not retained: the command buffer owns the encoder's commands
	FMPipeline *_pso;
	FMBuffer *_bufs[FM_MAX_BUFFERS];
	NSUInteger _offs[FM_MAX_BUFFERS];
	NSData *_bytes[FM_MAX_BUFFERS];
	NSUInteger _tg[FM_MAX_TGMEM];
	BOOL _ended;
}
@end


@implementation FMEncoder
- (BOOL)usable:(const char *)what {
	if (_ended) {
		fm_misuse("%s on a compute encoder after endEncoding", what);
		return NO;
	}
	if (_cb == nil) {
		fm_misuse("%s on a compute encoder whose command buffer is gone", what);
		return NO;
	}
	return YES;
}
- (void)setComputePipelineState:(id)pso {
	if (![self usable:"setComputePipelineState:"]) return;
	if (![pso isKindOfClass:[FMPipeline class]]) {
		fm_misuse("setComputePipelineState: with a %s, not a compute pipeline state", pso ? class_getName([pso class]) : "nil");
		return;
	}
	[pso retain];
	[_pso release];
	_pso = pso;
}
- (void)setBuffer:(id)buf offset:(NSUInteger)off atIndex:(NSUInteger)i {
	if (![self usable:"setBuffer:offset:atIndex:"]) return;
	if (i >= FM_MAX_BUFFERS) {
		fm_misuse("setBuffer:offset:atIndex: index %lu, Metal has 31 buffer slots", (unsigned long)i);
		return;
	}
	if (buf != nil && ![buf isKindOfClass:[FMBuffer class]]) {
		fm_misuse("setBuffer:offset:atIndex: with a %s, not an MTLBuffer", class_getName([buf class]));
		return;
	}
	if (buf != nil && off >= ((FMBuffer *)buf)->_len) {
		fm_misuse("setBuffer:offset:atIndex: offset %lu is not inside the buffer's %lu bytes", (unsigned long)off,
			  (unsigned long)((FMBuffer *)buf)->_len);
		return;
	}
	[buf retain];
	[_bufs[i] release];
	_bufs[i] = buf;
	_offs[i] = off;
	[_bytes[i] release];
	_bytes[i] = nil;
}
- (void)setBytes:(const void *)p length:(NSUInteger)n atIndex:(NSUInteger)i {
	if (![self usable:"setBytes:length:atIndex:"]) return;
	if (i >= FM_MAX_BUFFERS) {
		fm_misuse("setBytes:length:atIndex: index %lu, Metal has 31 buffer slots", (unsigned long)i);
		return;
	}
	if (n > FM_MAX_BYTES) {
		fm_misuse("setBytes:length:atIndex: %lu bytes, Metal allows at most %d (use a buffer)", (unsigned long)n, FM_MAX_BYTES);
		return;
	}
	[_bytes[i] release];
	_bytes[i] = [[NSData alloc] initWithBytes:p length:n];
	[_bufs[i] release];
	_bufs[i] = nil;
}
- (void)setThreadgroupMemoryLength:(NSUInteger)n atIndex:(NSUInteger)i {
	if (![self usable:"setThreadgroupMemoryLength:atIndex:"]) return;
	if (i >= FM_MAX_TGMEM) {
		fm_misuse("setThreadgroupMemoryLength:atIndex: index %lu, the harness models %d", (unsigned long)i, FM_MAX_TGMEM);
		return;
	}
	if (n % 16 != 0) {
		fm_misuse("setThreadgroupMemoryLength:atIndex: %lu bytes is not a multiple of 16", (unsigned long)n);
		return;
	}
	_tg[i] = n;
}
- (void)dispatchThreadgroups:(MTLSize)g threadsPerThreadgroup:(MTLSize)t {
	if (![self usable:"dispatchThreadgroups:threadsPerThreadgroup:"]) return;
	if (_pso == nil) {
		fm_misuse("dispatchThreadgroups: without a compute pipeline state");
		return;
	}
	const char *k = [_pso->_name UTF8String];
	NSUInteger threads = t.width * t.height * t.depth;
	if (g.width == 0 || g.height == 0 || g.depth == 0 || threads == 0) {
		fm_misuse("dispatch of %s with an empty size: (%lu, %lu, %lu) threadgroups of (%lu, %lu, %lu)", k, (unsigned long)g.width,
			  (unsigned long)g.height, (unsigned long)g.depth, (unsigned long)t.width, (unsigned long)t.height, (unsigned long)t.depth);
		return;
	}
	if (threads > (NSUInteger)_pso->_info.max_threads) {
		fm_misuse("dispatch of %s with %lu threads per threadgroup, its pipeline's maxTotalThreadsPerThreadgroup is %d", k,
			  (unsigned long)threads, _pso->_info.max_threads);
		return;
	}
	NSUInteger tgTotal = _pso->_info.static_tg > 0 ? (NSUInteger)_pso->_info.static_tg : 0; // declared, then dynamic
	for (int i = 0; i < FM_MAX_TGMEM; i++) tgTotal += _tg[i];
	if (tgTotal > FM_MAX_TGMEM_BYTES) {
		fm_misuse("dispatch of %s with %lu bytes of threadgroup memory (%d declared in the kernel), Metal allows %d", k, (unsigned long)tgTotal,
			  _pso->_info.static_tg > 0 ? _pso->_info.static_tg : 0, FM_MAX_TGMEM_BYTES);
		return;
	}
	for (int i = 0; i < FM_MAX_BUFFERS; i++) {
		if ((_pso->_info.buffers >> i & 1) && _bufs[i] == nil && _bytes[i] == nil) {
			fm_misuse("dispatch of %s with [[buffer(%d)]] unbound", k, i);
			return;
		}
	}
	for (int i = 0; i < FM_MAX_TGMEM; i++) {
		if ((_pso->_info.tgmem >> i & 1) && _tg[i] == 0) {
			fm_misuse("dispatch of %s with no length for [[threadgroup(%d)]]", k, i);
			return;
		}
	}
	FMCommand *c = [FMCommand new];
	c->retained = [NSMutableArray new];
	[c->retained addObject:_pso];
	c->d.lib = _pso->_lib;
	c->d.kernel = strdup(k);
	c->d.groups[0] = g.width, c->d.groups[1] = g.height, c->d.groups[2] = g.depth;
	c->d.threads[0] = t.width, c->d.threads[1] = t.height, c->d.threads[2] = t.depth;
	for (int i = 0; i < FM_MAX_BUFFERS; i++) {
		if (_bufs[i] != nil) {
			[c->retained addObject:_bufs[i]];
			c->d.buffers[i] = (fm_binding){_bufs[i]->_mem, _bufs[i]->_len, _offs[i], (uintptr_t)_bufs[i]};
		} else if (_bytes[i] != nil) {
			size_t n = [_bytes[i] length];
			void *copy = malloc(n ? n : 1);
			memcpy(copy, [_bytes[i] bytes], n);
			c->d.bytes[i] = copy;
			c->d.nbytes[i] = n;
		}
	}
	for (int i = 0; i < FM_MAX_TGMEM; i++) c->d.tgmem[i] = _tg[i];
	[_cb addCommand:c];
	[c release];
}
- (void)endEncoding {
	if (_ended) {
		fm_misuse("endEncoding twice on one compute encoder");
		return;
	}
	_ended = YES;
	if (_cb != nil && _cb->_open == self) {
		_cb->_open = nil;
		[self release]; // the command buffer's reference to its open encoder; self may be gone now
	}
}
- (void)dealloc {
	if (!_ended) fm_misuse("a compute encoder was deallocated without endEncoding");
	if (_cb != nil && _cb->_open == self) _cb->_open = nil;
	[_pso release];
	for (int i = 0; i < FM_MAX_BUFFERS; i++) {
		[_bufs[i] release];
		[_bytes[i] release];
	}
	[super dealloc];
}
@end

// ---- MTLCommandQueue: a worker thread runs committed command buffers in order ----

@interface FMQueue : FMObject {
@public
	pthread_t _worker;
	NSMutableArray *_pending; // committed, not yet run; guarded by mu
	BOOL _stop;
	pthread_cond_t _wake;
	BOOL _defer;        // FAKEMETAL_DEFER=1 when the queue was made: run only what the host waits for
	uint64_t _commits;  // command buffers committed; under mu
	uint64_t _released; // with _defer: the command buffers up to this commit number may run; under mu
}
- (void)allowUpTo:(uint64_t)n;
@end

// deferring reports whether FAKEMETAL_DEFER=1: a queue made then runs a committed command buffer
// only once the host waits for it or for a later one (or releases the queue), not on its own —
// the latest a GPU may run it, so that every host access between commit and wait meets work not
// yet done.
static BOOL deferring(void) {
	const char *d = getenv("FAKEMETAL_DEFER");
	return d != NULL && strcmp(d, "1") == 0;
}

static long delayMicros(void) {
	const char *d = getenv("FAKEMETAL_DELAY_US");
	return d != NULL ? atol(d) : 300;
}

// executing reports whether command buffers run their commands; FAKEMETAL_EXECUTE=0 makes them
// complete without running any (kvgpt bench counts a step's work that way).
static BOOL executing(void) {
	const char *e = getenv("FAKEMETAL_EXECUTE");
	return e == NULL || strcmp(e, "0") != 0;
}

// execute runs every command of cb in order and records how it ended.
static void execute(FMCommandBuffer *cb) {
	long us = delayMicros();
	if (us > 0) {
		struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
		nanosleep(&ts, NULL);
	}
	cb->_status = StatusScheduled;
	NSInteger status = StatusCompleted;
	NSString *failure = nil;
	BOOL run = executing();
	for (FMCommand *c in cb->_cmds) {
		if (!run) break;
		checkBeforeRun(c);
		char err[2048] = "";
		int rc;
		if (c->run != NULL) {
			rc = c->run(c, err, sizeof err);
			count(&counters.mps, 1);
		} else {
			rc = fm_go_exec(&c->d, err, sizeof err);
			count(&counters.dispatches, 1);
		}
		untrackCommand(c, YES);
		if (rc != 0) {
			failure = [NSString stringWithFormat:@"%s: %s", c->d.kernel ? c->d.kernel : "MPS", err];
			status = StatusError;
			break;
		}
	}
	if (failure != nil) {
		NSDictionary *info = [NSDictionary dictionaryWithObject:failure forKey:NSLocalizedDescriptionKey];
		cb->_error = [[NSError alloc] initWithDomain:@"MTLCommandBufferErrorDomain" code:1 userInfo:info]; // Internal
	}
	[cb->_cmds removeAllObjects]; // release what the commands referenced, as Metal does when done
	pthread_mutex_lock(&mu);
	cb->_status = status;
	pthread_cond_broadcast(&done);
	pthread_mutex_unlock(&mu);
}

static void *work(void *arg) {
	FMQueue *q = arg;
	GSRegisterCurrentThread();
	for (;;) {
		pthread_mutex_lock(&mu);
		while (!q->_stop && ([q->_pending count] == 0 ||
				     (q->_defer && ((FMCommandBuffer *)[q->_pending objectAtIndex:0])->_commitNo > q->_released))) {
			pthread_cond_wait(&q->_wake, &mu);
		}
		if ([q->_pending count] == 0) {
			pthread_mutex_unlock(&mu);
			break;
		}
		FMCommandBuffer *cb = [[q->_pending objectAtIndex:0] retain];
		[q->_pending removeObjectAtIndex:0];
		pthread_mutex_unlock(&mu);
		NSAutoreleasePool *pool = [NSAutoreleasePool new];
		execute(cb);
		[cb release]; // the queue's reference, taken at commit
		[cb release]; // this loop's
		[pool drain];
	}
	GSUnregisterCurrentThread();
	return NULL;
}

@implementation FMQueue
- (id)init {
	if ((self = [super init])) {
		_pending = [NSMutableArray new];
		_defer = deferring();
		pthread_cond_init(&_wake, NULL);
		pthread_create(&_worker, NULL, work, self);
	}
	return self;
}
- (id)commandBuffer {
	FMCommandBuffer *cb = [FMCommandBuffer new];
	cb->_cmds = [NSMutableArray new];
	cb->_queue = self;
	return [cb autorelease];
}
- (void)enqueue:(FMCommandBuffer *)cb {
	[cb retain]; // a committed command buffer is kept until it has completed
	pthread_mutex_lock(&mu);
	cb->_commitNo = ++_commits;
	[_pending addObject:cb];
	pthread_cond_signal(&_wake);
	pthread_mutex_unlock(&mu);
}
// allowUpTo lets the command buffers up to commit number n run (FAKEMETAL_DEFER).
- (void)allowUpTo:(uint64_t)n {
	pthread_mutex_lock(&mu);
	if (n > _released) _released = n;
	pthread_cond_signal(&_wake);
	pthread_mutex_unlock(&mu);
}
- (void)dealloc {
	// The worker runs what is still pending, then stops.
	pthread_mutex_lock(&mu);
	_stop = YES;
	pthread_cond_signal(&_wake);
	pthread_mutex_unlock(&mu);
	pthread_join(_worker, NULL);
	pthread_cond_destroy(&_wake);
	[_pending release];
	[super dealloc];
}
@end

// ---- MTLCommandBuffer ----

@implementation FMCommandBuffer
- (BOOL)canEncode:(const char *)what {
	if (_status != StatusNotEnqueued) {
		fm_misuse("%s on a command buffer that was already committed", what);
		return NO;
	}
	if (_open != nil) {
		fm_misuse("%s while a compute encoder of the command buffer is still open (endEncoding missing)", what);
		return NO;
	}
	return YES;
}
- (void)addCommand:(FMCommand *)c {
	trackCommand(c, c->run != NULL ? "MPSMatrixMultiplication" : c->d.kernel);
	[_cmds addObject:c];
}
- (id)computeCommandEncoderWithDispatchType:(NSUInteger)type {
	if (![self canEncode:"computeCommandEncoderWithDispatchType:"]) return nil;
	if (type != 0) fm_misuse("a concurrent compute encoder: kvgpt's dispatches depend on each other and need the serial type");
	FMEncoder *e = [FMEncoder new];
	e->_cb = self;
	_open = [e retain]; // a command buffer keeps its open encoder until endEncoding
	return [e autorelease];
}
- (id)computeCommandEncoder { return [self computeCommandEncoderWithDispatchType:0]; }
- (void)commit {
	if (_status != StatusNotEnqueued) {
		fm_misuse("commit of a command buffer that was already committed");
		return;
	}
	if (_open != nil) {
		fm_misuse("commit with an open compute encoder (endEncoding missing)");
		_open->_ended = YES; // reported once
		_open->_cb = nil;
		[_open release];
		_open = nil;
	}
	_status = StatusCommitted;
	count(&counters.committed, 1);
	[_queue enqueue:self];
}
- (void)waitUntilCompleted {
	count(&counters.waits, 1);
	if (_status == StatusNotEnqueued) {
		fm_misuse("waitUntilCompleted on a command buffer that was never committed (it would wait forever)");
		return;
	}
	[_queue allowUpTo:_commitNo]; // FAKEMETAL_DEFER: it may run now
	pthread_mutex_lock(&mu);
	while (_status != StatusCompleted && _status != StatusError) pthread_cond_wait(&done, &mu);
	pthread_mutex_unlock(&mu);
}
- (NSInteger)status {
	pthread_mutex_lock(&mu);
	NSInteger s = _status;
	pthread_mutex_unlock(&mu);
	return s;
}
- (NSError *)error { return _error; }
- (void)dealloc {
	if (_open != nil) {
		_open->_cb = nil;
		[_open release];
	}
	[_cmds release];
	[_error release];
	[super dealloc];
}
@end

// ---- MTLDevice ----

@interface FMDevice : FMObject
@end
@implementation FMDevice
- (NSString *)name { return @"fakemetal (CPU)"; }
- (BOOL)supportsFamily:(NSInteger)f { return f >= 1001 && f <= 1007; } // MTLGPUFamilyApple1 … Apple7 (M1)
- (NSUInteger)maxThreadgroupMemoryLength { return FM_MAX_TGMEM_BYTES; }
- (uint64_t)recommendedMaxWorkingSetSize { return 8ull << 30; }
- (NSUInteger)maxBufferLength { return 8ull << 30; }
- (id)newCommandQueue { return [FMQueue new]; }
- (id)newBufferWithLength:(NSUInteger)n options:(NSUInteger)opts {
	if (n == 0) {
		fm_misuse("newBufferWithLength:0 (Metal returns nil)");
		return nil;
	}
	if (n > [self maxBufferLength]) {
		fm_misuse("newBufferWithLength:%lu, more than maxBufferLength (Metal's validation layer aborts)", (unsigned long)n);
		return nil;
	}
	// FAKEMETAL_MAX_BUFFER_BYTES: a larger buffer is refused, as Metal refuses one when it is out
	// of memory (to test the backend's error path).
	const char *limit = getenv("FAKEMETAL_MAX_BUFFER_BYTES");
	if (limit != NULL && n > strtoull(limit, NULL, 10)) return nil;
	NSUInteger storage = (opts >> 4) & 0xf; // MTLResourceStorageModeShift
	if (storage != 0) fm_misuse("a buffer in storage mode %lu, not shared: its contents are not visible to the CPU", (unsigned long)storage);
	void *mem = calloc(1, n);
	if (mem == NULL) return nil;
	FMBuffer *b = [FMBuffer new];
	b->_mem = mem;
	b->_len = n;
	pthread_mutex_lock(&mu);
	counters.buffers++;
	counters.bytes += (long)n;
	pthread_mutex_unlock(&mu);
	return b;
}
- (id)newLibraryWithSource:(NSString *)src options:(id)opts error:(NSError **)err {
	if (opts != nil && ![opts isKindOfClass:[MTLCompileOptions class]]) {
		fm_misuse("newLibraryWithSource:options:error: with options of class %s", class_getName([opts class]));
	}
	const char *s = [src UTF8String];
	static char names[1 << 16];
	static char msg[1 << 16];
	static pthread_mutex_t compileMu = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&compileMu);
	uintptr_t lib = fm_go_compile((char *)s, strlen(s), names, sizeof names, msg, sizeof msg);
	if (lib == 0) {
		if (err != NULL) {
			NSDictionary *info = [NSDictionary dictionaryWithObject:[NSString stringWithUTF8String:msg] forKey:NSLocalizedDescriptionKey];
			*err = [NSError errorWithDomain:@"MTLLibraryErrorDomain" code:3 userInfo:info]; // CompileFailure
		}
		pthread_mutex_unlock(&compileMu);
		return nil;
	}
	NSArray *list = [[NSString stringWithUTF8String:names] componentsSeparatedByString:@"\n"];
	pthread_mutex_unlock(&compileMu);
	NSMutableArray *kernels = [NSMutableArray array];
	for (NSString *n in list) {
		if ([n length] > 0) [kernels addObject:n];
	}
	FMLibrary *l = [FMLibrary new];
	l->_names = [kernels copy];
	l->_lib = lib;
	return l;
}
- (id)newComputePipelineStateWithFunction:(id)fn error:(NSError **)err {
	if (![fn isKindOfClass:[FMFunction class]]) {
		fm_misuse("newComputePipelineStateWithFunction:error: with a %s, not an MTLFunction", fn ? class_getName([fn class]) : "nil");
		return nil;
	}
	FMFunction *f = fn;
	FMPipeline *p = [FMPipeline new];
	p->_name = [f->_name copy];
	p->_lib = f->_lib;
	if (fm_go_kernel_info(f->_lib, (char *)[f->_name UTF8String], &p->_info) != 0) {
		fm_misuse("newComputePipelineStateWithFunction: no kernel %s in its library", [f->_name UTF8String]);
	}
	return p;
}
@end

id MTLCreateSystemDefaultDevice(void) {
	const char *none = getenv("FAKEMETAL_NO_DEVICE");
	if (none != NULL && strcmp(none, "1") == 0) return nil;
	return [FMDevice new];
}

NSArray *MTLCopyAllDevices(void) {
	const char *none = getenv("FAKEMETAL_NO_DEVICE");
	if (none != NULL && strcmp(none, "1") == 0) return [NSArray new];
	FMDevice *d = [FMDevice new];
	NSArray *a = [[NSArray alloc] initWithObjects:d, nil];
	[d release];
	return a;
}
