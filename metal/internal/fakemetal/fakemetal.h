// fakemetal.h — the C interface between the fake Metal classes (fakemetal.m, mps.m, runtime.m)
// and their Go side (fakemetal.go).
#ifndef FAKEMETAL_H
#define FAKEMETAL_H
#include <stddef.h>
#include <stdint.h>

enum { FM_MAX_BUFFERS = 31, FM_MAX_TGMEM = 8, FM_MAX_BYTES = 4096, FM_MAX_TGMEM_BYTES = 32768 };

// fm_binding is one buffer argument: setBuffer:offset:atIndex: on an MTLBuffer.
typedef struct {
	void *base;    // the buffer's contents (NULL: slot unbound)
	size_t length; // its length in bytes
	size_t offset; // the setBuffer offset
	uintptr_t id;  // the MTLBuffer: slots with one id view one allocation
} fm_binding;

// fm_dispatch is one dispatchThreadgroups:threadsPerThreadgroup: as the encoder recorded it.
typedef struct {
	uintptr_t lib; // the Go program that compiled the kernel (fm_go_compile)
	const char *kernel;
	uint64_t groups[3], threads[3];
	fm_binding buffers[FM_MAX_BUFFERS];
	const void *bytes[FM_MAX_BUFFERS]; // setBytes blocks, copied at encode time
	size_t nbytes[FM_MAX_BUFFERS];
	size_t tgmem[FM_MAX_TGMEM]; // setThreadgroupMemoryLength by index
} fm_dispatch;

// fm_kernel_info is what a compute pipeline reports, and which bindings a dispatch must make.
typedef struct {
	int max_threads;   // maxTotalThreadsPerThreadgroup
	int static_tg;     // staticThreadgroupMemoryLength: bytes of its declared threadgroup variables (-1: unknown)
	uint32_t buffers;  // bit n: the kernel has a [[buffer(n)]] parameter
	uint32_t tgmem;    // bit n: the kernel has a [[threadgroup(n)]] parameter
} fm_kernel_info;

// Implemented in Go (fakemetal.go). fm_go_compile compiles an MSL source with the shader harness
// and returns a program handle (0 on failure, with the compiler's message in err); the handle's
// kernels are listed newline-separated into names. fm_go_exec runs one dispatch (0, or non-zero
// with a message in err).
extern uintptr_t fm_go_compile(char *src, size_t n, char *names, size_t namelen, char *err, size_t errlen);
extern int fm_go_kernel_info(uintptr_t lib, char *kernel, fm_kernel_info *info);
extern int fm_go_exec(fm_dispatch *d, char *err, size_t errlen);

// fm_misuse records a misuse of the Metal API: something real Metal asserts on, or whose result
// is undefined. The first few messages are kept; FAKEMETAL_ABORT=1 aborts at the first.
void fm_misuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// fm_zombie_class is the class name of a deallocated fake object (a zombie), or NULL.
const char *fm_zombie_class(void *obj);

// Counters, read by the Go side.
typedef struct {
	long live;            // fake objects not yet deallocated
	long dispatches;      // compute dispatches executed
	long mps;             // MPS matrix multiplications executed
	long committed;       // command buffers committed
	long waits;           // waitUntilCompleted calls
	long buffers;         // MTLBuffers allocated
	long bytes;           // bytes of MTLBuffers allocated
	long misuses;         // recorded misuses
} fm_counters;
void fm_read_counters(fm_counters *c);
// fm_live_report writes "Class: n" lines for every class with live objects into buf.
void fm_live_report(char *buf, size_t n);
// fm_misuse_report writes the first recorded misuses, one a line, into buf.
void fm_misuse_report(char *buf, size_t n);
// fm_reset clears the misuse record and the execution counters (not the live objects).
void fm_reset(void);
#endif
