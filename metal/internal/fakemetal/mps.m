//go:build fakemetal

// mps.m — the MetalPerformanceShaders matrix classes kvgpt's MatmulForwardMPS uses:
// MPSMatrixDescriptor, MPSMatrix and MPSMatrixMultiplication (float32, C = α·op(A)·op(B) + β·C),
// computed on the CPU when the command buffer runs. They check what MPS would reject: a device,
// buffer or command buffer that is not the fake's own object (as darwinkit's protocol wrappers
// would hand over), a matrix past its buffer's end, shapes that do not agree, and an encode while
// a compute encoder is open.
#import <Foundation/Foundation.h>
#include <stdlib.h>
#include <string.h>
#include "fakemetal.h"
#include "classes.h"

enum { MPSDataTypeFloat32 = 0x10000000 | 32 };

static BOOL isA(id o, const char *cls) { return o != nil && [o isKindOfClass:objc_getClass(cls)]; }

@interface MPSMatrixDescriptor : FMObject {
@public
	NSUInteger _rows, _cols, _rowBytes, _type;
}
@end
@implementation MPSMatrixDescriptor
+ (id)matrixDescriptorWithRows:(NSUInteger)rows columns:(NSUInteger)cols rowBytes:(NSUInteger)rowBytes dataType:(NSUInteger)type {
	MPSMatrixDescriptor *d = [[self alloc] init];
	d->_rows = rows, d->_cols = cols, d->_rowBytes = rowBytes, d->_type = type;
	return [d autorelease];
}
- (NSUInteger)rows { return _rows; }
- (NSUInteger)columns { return _cols; }
- (NSUInteger)rowBytes { return _rowBytes; }
- (NSUInteger)dataType { return _type; }
@end

@interface MPSMatrix : FMObject {
@public
	FMBuffer *_buf; // retained
	NSUInteger _off, _rows, _cols, _rowBytes;
}
@end
@implementation MPSMatrix
- (id)initWithBuffer:(id)buf offset:(NSUInteger)off descriptor:(id)desc {
	if ((self = [super init]) == nil) return nil;
	if (!isA(buf, "FMBuffer")) {
		fm_misuse("MPSMatrix initWithBuffer: with a %s, not the device's MTLBuffer", buf ? class_getName([buf class]) : "nil");
		[self release];
		return nil;
	}
	if (!isA(desc, "MPSMatrixDescriptor")) {
		fm_misuse("MPSMatrix initWithBuffer:offset:descriptor: with a %s, not an MPSMatrixDescriptor", desc ? class_getName([desc class]) : "nil");
		[self release];
		return nil;
	}
	MPSMatrixDescriptor *d = desc;
	if (d->_type != MPSDataTypeFloat32) fm_misuse("MPSMatrix of data type %#lx; the fake computes float32 only", (unsigned long)d->_type);
	if (d->_rowBytes < d->_cols * 4) fm_misuse("MPSMatrix rowBytes %lu < columns %lu × 4", (unsigned long)d->_rowBytes, (unsigned long)d->_cols);
	if (off % 4 != 0) fm_misuse("MPSMatrix offset %lu is not a multiple of the element size", (unsigned long)off);
	FMBuffer *b = buf;
	if (d->_rows > 0 && off + (d->_rows - 1) * d->_rowBytes + d->_cols * 4 > b->_len) {
		fm_misuse("MPSMatrix of %lu×%lu at offset %lu runs past its buffer's %lu bytes", (unsigned long)d->_rows,
			  (unsigned long)d->_cols, (unsigned long)off, (unsigned long)b->_len);
	}
	_buf = [b retain];
	_off = off, _rows = d->_rows, _cols = d->_cols, _rowBytes = d->_rowBytes;
	return self;
}
- (NSUInteger)rows { return _rows; }
- (NSUInteger)columns { return _cols; }
- (void)dealloc {
	[_buf release];
	[super dealloc];
}
@end

// mpsArgs is one encoded multiplication: result = α·op(left)·op(right) + β·result.
typedef struct {
	float *left, *right, *result; // first elements
	size_t lstride, rstride, ostride; // row strides, elements
	BOOL tl, tr;
	size_t M, N, K;
	double alpha, beta;
} mpsArgs;

static int runMatmul(FMCommand *c, char *err, size_t errlen) {
	mpsArgs *a = c->mps;
	for (size_t i = 0; i < a->M; i++) {
		for (size_t j = 0; j < a->N; j++) {
			double s = 0;
			for (size_t k = 0; k < a->K; k++) {
				float l = a->tl ? a->left[k * a->lstride + i] : a->left[i * a->lstride + k];
				float r = a->tr ? a->right[j * a->rstride + k] : a->right[k * a->rstride + j];
				s += (double)l * r;
			}
			float *o = &a->result[i * a->ostride + j];
			*o = (float)(a->alpha * s + (a->beta != 0 ? a->beta * *o : 0));
		}
	}
	return 0;
}

@interface MPSMatrixMultiplication : FMObject {
	BOOL _tl, _tr;
	NSUInteger _M, _N, _K;
	double _alpha, _beta;
}
@end
@implementation MPSMatrixMultiplication
- (id)initWithDevice:(id)dev transposeLeft:(BOOL)tl transposeRight:(BOOL)tr resultRows:(NSUInteger)M
	    resultColumns:(NSUInteger)N interiorColumns:(NSUInteger)K alpha:(double)alpha beta:(double)beta {
	if ((self = [super init]) == nil) return nil;
	if (!isA(dev, "FMDevice")) {
		fm_misuse("MPSMatrixMultiplication initWithDevice: with a %s, not the MTLDevice", dev ? class_getName([dev class]) : "nil");
		[self release];
		return nil;
	}
	_tl = tl, _tr = tr, _M = M, _N = N, _K = K, _alpha = alpha, _beta = beta;
	return self;
}
- (void)encodeToCommandBuffer:(id)cb leftMatrix:(id)left rightMatrix:(id)right resultMatrix:(id)result {
	if (!isA(cb, "FMCommandBuffer")) {
		fm_misuse("MPS encodeToCommandBuffer: with a %s, not the MTLCommandBuffer", cb ? class_getName([cb class]) : "nil");
		return;
	}
	if (![cb canEncode:"MPS encodeToCommandBuffer:"]) return;
	if (!isA(left, "MPSMatrix") || !isA(right, "MPSMatrix") || !isA(result, "MPSMatrix")) {
		fm_misuse("MPS encodeToCommandBuffer: with an operand that is not an MPSMatrix");
		return;
	}
	MPSMatrix *l = left, *r = right, *o = result;
	NSUInteger lr = _tl ? l->_cols : l->_rows, lc = _tl ? l->_rows : l->_cols;
	NSUInteger rr = _tr ? r->_cols : r->_rows, rc = _tr ? r->_rows : r->_cols;
	if (lr < _M || lc < _K || rr < _K || rc < _N || o->_rows < _M || o->_cols < _N) {
		fm_misuse("MPS matrix multiplication %lu×%lu×%lu on operands of %lu×%lu, %lu×%lu and %lu×%lu", (unsigned long)_M,
			  (unsigned long)_K, (unsigned long)_N, (unsigned long)l->_rows, (unsigned long)l->_cols, (unsigned long)r->_rows,
			  (unsigned long)r->_cols, (unsigned long)o->_rows, (unsigned long)o->_cols);
		return;
	}
	mpsArgs *a = calloc(1, sizeof *a);
	a->left = (float *)((char *)l->_buf->_mem + l->_off);
	a->right = (float *)((char *)r->_buf->_mem + r->_off);
	a->result = (float *)((char *)o->_buf->_mem + o->_off);
	a->lstride = l->_rowBytes / 4, a->rstride = r->_rowBytes / 4, a->ostride = o->_rowBytes / 4;
	a->tl = _tl, a->tr = _tr, a->M = _M, a->N = _N, a->K = _K, a->alpha = _alpha, a->beta = _beta;
	FMCommand *c = [FMCommand new];
	c->retained = [[NSMutableArray alloc] initWithObjects:self, l->_buf, r->_buf, o->_buf, nil];
	c->run = runMatmul;
	c->mps = a;
	[cb addCommand:c];
	[c release];
}
@end
