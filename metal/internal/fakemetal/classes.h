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

// FMBuffer is an MTLBuffer in shared storage.
@interface FMBuffer : FMObject {
@public
	void *_mem;
	NSUInteger _len;
}
@end

// FMCommand is one encoded command of a command buffer: a compute dispatch, or an MPS matrix
// multiplication (mps.m). It retains every object it references until the command buffer has
// completed, as Metal does.
@interface FMCommand : NSObject {
@public
	fm_dispatch d;
	NSMutableArray *retained;
	int (*run)(FMCommand *c, char *err, size_t errlen); // NULL: a compute dispatch
	void *mps;                                        // the MPS command's arguments
}
@end

// FMCommandBuffer is an MTLCommandBuffer.
@interface FMCommandBuffer : FMObject {
@public
	NSMutableArray *_cmds;
	FMEncoder *_open; // retained until endEncoding
	volatile NSInteger _status;
	NSError *_error;
	FMQueue *_queue; // not retained: the host keeps its queue until its work is done
}
- (BOOL)canEncode:(const char *)what;
- (void)addCommand:(FMCommand *)c;
@end
#endif
