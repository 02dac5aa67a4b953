//go:build fakemetal

// runtime.m — the part of Apple's Objective-C runtime API that darwinkit v0.5.0 calls and GCC's
// libobjc lacks, and the four libdispatch entry points darwinkit/dispatch links against.
// kvgpt's metal package uses none of the unsupported ones: each aborts, naming itself, if called.
#import <Foundation/Foundation.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <dispatch/dispatch.h>
#include "fakemetal.h"

static void unsupported(const char *fn) {
	fprintf(stderr, "fakemetal: %s is not supported on the GCC Objective-C runtime\n", fn);
	abort();
}

// unrecognized is the IMP of every selector a receiver does not implement. Apple's runtime
// forwards the message, raises NSInvalidArgumentException and, uncaught, aborts the process;
// this does the same, after saying which message it was.
static id unrecognized(id self, SEL _cmd) {
	const char *zombie = fm_zombie_class(self);
	if (zombie != NULL) {
		fprintf(stderr, "fakemetal: -[%s %s]: message sent to deallocated instance %p\n", zombie, sel_getName(_cmd), (void *)self);
	} else {
		fprintf(stderr, "fakemetal: -[%s %s]: unrecognized selector sent to instance %p (NSInvalidArgumentException on Apple)\n",
			object_getClassName(self), sel_getName(_cmd), (void *)self);
	}
	fflush(stderr);
	abort();
	return nil;
}

#undef class_getMethodImplementation
IMP fm_class_getMethodImplementation(Class cls, SEL sel) {
	if (cls != Nil && !class_respondsToSelector(cls, sel)) return (IMP)unrecognized;
	return class_getMethodImplementation(cls, sel);
}
IMP class_getMethodImplementation_stret(Class cls, SEL sel) { return fm_class_getMethodImplementation(cls, sel); }
IMP imp_implementationWithBlock(id block) { unsupported(__func__); return NULL; }
id imp_getBlock(IMP imp) { return nil; }
BOOL imp_removeBlock(IMP imp) { return NO; }

// Associated objects: a small locked table of weak references (darwinkit attaches its Go
// handles with them; kvgpt's metal package does not use them).
struct assoc { id obj; const void *key; id value; };
static struct assoc *assocs;
static size_t nassocs, capassocs;
static pthread_mutex_t assocMu = PTHREAD_MUTEX_INITIALIZER;

void objc_setAssociatedObject(id object, const void *key, id value, uintptr_t policy) {
	pthread_mutex_lock(&assocMu);
	for (size_t i = 0; i < nassocs; i++) {
		if (assocs[i].obj == object && assocs[i].key == key) {
			assocs[i].value = value;
			pthread_mutex_unlock(&assocMu);
			return;
		}
	}
	if (nassocs == capassocs) {
		capassocs = capassocs ? 2 * capassocs : 16;
		assocs = realloc(assocs, capassocs * sizeof *assocs);
	}
	assocs[nassocs++] = (struct assoc){object, key, value};
	pthread_mutex_unlock(&assocMu);
}

id objc_getAssociatedObject(id object, const void *key) {
	id v = nil;
	pthread_mutex_lock(&assocMu);
	for (size_t i = 0; i < nassocs; i++) {
		if (assocs[i].obj == object && assocs[i].key == key) v = assocs[i].value;
	}
	pthread_mutex_unlock(&assocMu);
	return v;
}

void objc_removeAssociatedObjects(id object) {
	pthread_mutex_lock(&assocMu);
	size_t j = 0;
	for (size_t i = 0; i < nassocs; i++) {
		if (assocs[i].obj != object) assocs[j++] = assocs[i];
	}
	nassocs = j;
	pthread_mutex_unlock(&assocMu);
}

objc_property_attribute_t *property_copyAttributeList(objc_property_t p, unsigned int *n) {
	if (n) *n = 0;
	return NULL;
}
char *property_copyAttributeValue(objc_property_t p, const char *name) { return NULL; }
BOOL class_addProperty(Class cls, const char *name, const objc_property_attribute_t *a, unsigned int n) { return NO; }
void class_replaceProperty(Class cls, const char *name, const objc_property_attribute_t *a, unsigned int n) {}
Protocol *objc_allocateProtocol(const char *name) { unsupported(__func__); return NULL; }
void objc_registerProtocol(Protocol *p) { unsupported(__func__); }

static int mainQueue, globalQueue;
dispatch_queue_t dispatch_get_main_queue(void) { return &mainQueue; }
dispatch_queue_t dispatch_get_global_queue(intptr_t id, uintptr_t flags) { return &globalQueue; }
void dispatch_retain(dispatch_object_t o) {}
void dispatch_release(dispatch_object_t o) {}
void dispatch_sync(dispatch_queue_t q, dispatch_block_t b) { unsupported(__func__); }
void dispatch_async(dispatch_queue_t q, dispatch_block_t b) { unsupported(__func__); }
