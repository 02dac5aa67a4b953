// classes.h — the fake Metal classes that fakemetal.m and mps.m share. GCC's runtime has the
// fragile ABI: every file that touches an ivar must see the same layout, so it is declared once.
#ifndef FAKEMETAL_CLASSES_H
#define FAKEMETAL_CLASSES_H
#import <Foundation/Foundation.h>
#include "fakemetal.h"

@class FMEncoder, FMQueue;

// FMObject is the base of every fake Metal class: it counts live instances per class, checks
// that autorelease has a pool to go to, and turns into a zombie when deallocated.
@interface FMObject : NSObject {
	Class _fmClass;
}
@end

// fm_use is a pending use of a buffer: a command encoded, not yet run, that binds it.
typedef struct {
	uint64_t seq;     // the command's place in encoding order (FMCommand's _seq)
	const char *what; // the command, for messages: the kernel's name or the MPS kernel's
} fm_use;

// FMBuffer is an MTLBuffer in shared storage. For the hazard checks (fakemetal.m, "hazards") it
// keeps, under the fake's mutex, the commands encoded and not yet run that bind it, in encoding
// order, and the hash of its contents when the first of them was encoded or the last one ran:
// only the host can change the contents in between, which is a hazard.
@interface FMBuffer : FMObject {
@public
	void *_mem;
	NSUInteger _len;
	fm_use *_uses;
	size_t _nuses, _capUses;
	uint64_t _hash;
}
@end

// FMCommand is one encoded command of a command buffer: a compute dispatch, or an MPS matrix
// multiplication (mps.m). It retains every object it references until the command buffer has
// completed, as Metal does. The buffers it binds are tracked for the hazard checks from the
// moment it is added to a command buffer until it has run (or is dropped).
@interface FMCommand : NSObject {
@public
	fm_dispatch d;
	NSMutableArray *retained;
	int (*run)(FMCommand *c, char *err, size_t errlen); // NULL: a compute dispatch
	void *mps;                                        // the MPS command's arguments
	uint64_t _seq;                                    // encoding order, from 1
	const char *_what;                                // kernel name, for messages
	FMBuffer *_tracked[FM_MAX_BUFFERS + 1];           // distinct buffers it binds (retained via retained)
	int _ntracked;                                    // 0 once it has run or been dropped
}
@end

// FMCommandBuffer is an MTLCommandBuffer.
@interface FMCommandBuffer : FMObject {
@public
	NSMutableArray *_cmds;
	FMEncoder *_open; // retained until endEncoding
	volatile NSInteger _status;
	NSError *_error;
	FMQueue *_queue;    // not retained: the host keeps its queue until its work is done
	uint64_t _commitNo; // its place in its queue's commit order, from 1
}
- (BOOL)canEncode:(const char *)what;
- (void)addCommand:(FMCommand *)c;
@end
#endif
