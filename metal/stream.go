//go:build (darwin || fakemetal) && cgo

package metal

import (
	"errors"
	"fmt"

	"github.com/progrium/darwinkit/macos/foundation"
	"github.com/progrium/darwinkit/macos/metal"
	"github.com/progrium/darwinkit/objc"
)

// dispatchesPerCommit is how many dispatches go into one command buffer before it is committed:
// enough to keep the per-buffer overhead small, few enough that the GPU starts while the host is
// still encoding the rest of a training step.
const dispatchesPerCommit = 32

// stream is the backend's command stream: at most one open command buffer with one open serial
// compute encoder (dispatches run in order, no barriers needed), and the committed command
// buffers whose outcome has not been checked yet.
type stream struct {
	queue    metal.CommandQueueObject          // owned
	cb       metal.CommandBufferObject         // retained while open; nil when none is open
	enc      metal.ComputeCommandEncoderObject // retained while open; nil when none is open
	n        int                               // commands encoded into cb
	inflight []metal.CommandBufferObject       // committed, retained, not yet checked
	err      error                             // the first device error since the last Sync
	fault    fault                             // a host bug injected by the negative-control tests
	stats    Stats
}

// inPool runs f inside an autorelease pool. Objects that Metal returns autoreleased (command
// buffers, encoders, NSStrings, NSErrors) are freed when the pool drains: keep one past f only by
// retaining it. A panic in f is raised again once the pool is drained, so it never unwinds through
// the Objective-C frames of the pool.
func inPool(f func()) {
	var p any
	objc.WithAutoreleasePool(func() {
		defer func() { p = recover() }()
		f()
	})
	if p != nil {
		panic(p)
	}
}

// fail records err as the stream's error unless an earlier one is already recorded: Sync returns
// the first.
func (s *stream) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// commandBuffer returns the open command buffer, opening one if needed. Call it inside a pool.
func (s *stream) commandBuffer() metal.CommandBufferObject {
	if s.cb.IsNil() {
		cb := s.queue.CommandBuffer() // autoreleased: retain it beyond this pool
		if cb.IsNil() {
			panic("metal: the command queue returned no command buffer")
		}
		if s.fault == faultUnretainedCommandBuffer {
			s.cb = metal.CommandBufferObject{Object: cb.Object}
		} else {
			s.cb = metal.CommandBufferObject{Object: cb.Retain()}
		}
		s.n = 0
	}
	return s.cb
}

// encoder returns the open compute encoder, opening one (and a command buffer) if needed. Call it
// inside a pool.
func (s *stream) encoder() metal.ComputeCommandEncoderObject {
	if s.enc.IsNil() {
		enc := s.commandBuffer().ComputeCommandEncoderWithDispatchType(metal.DispatchTypeSerial)
		if enc.IsNil() {
			panic("metal: the command buffer returned no compute encoder")
		}
		s.enc = metal.ComputeCommandEncoderObject{Object: enc.Retain()}
	}
	return s.enc
}

// endEncoding closes the open compute encoder, if any. Call it inside a pool.
func (s *stream) endEncoding() {
	if s.enc.IsNil() {
		return
	}
	// darwinkit v0.5.0's ComputeCommandEncoderObject does not embed CommandEncoderObject, so
	// endEncoding is sent through the base protocol's wrapper.
	if s.fault != faultNoEndEncoding {
		metal.CommandEncoderObject{Object: s.enc.Object}.EndEncoding()
	}
	s.enc.Release()
	s.enc = metal.ComputeCommandEncoderObject{}
}

// encoded counts one command in the open command buffer and commits it every dispatchesPerCommit
// commands. Call it inside a pool.
func (s *stream) encoded() {
	s.n++
	if s.n >= dispatchesPerCommit {
		s.commit()
	}
}

// commit ends the open encoder and commits the open command buffer, if any; it does not wait.
// Call it inside a pool.
func (s *stream) commit() {
	s.endEncoding()
	if s.cb.IsNil() {
		return
	}
	s.cb.Commit()
	s.stats.CommandBuffers++
	s.inflight = append(s.inflight, s.cb)
	s.cb = metal.CommandBufferObject{}
	s.n = 0
	s.reap()
}

// reap checks and releases the committed command buffers that have already finished, oldest
// first, without waiting, so a long run without Sync does not pile them up. Call it inside a pool.
func (s *stream) reap() {
	i := 0
	for ; i < len(s.inflight); i++ {
		cb := s.inflight[i]
		st := cb.Status()
		if st != metal.CommandBufferStatusCompleted && st != metal.CommandBufferStatusError {
			break
		}
		s.fail(commandBufferError(cb))
		cb.Release()
	}
	s.inflight = append(s.inflight[:0], s.inflight[i:]...)
}

// wait commits the open command buffer and waits until every committed one has finished, checking
// each one's status. Call it inside a pool.
func (s *stream) wait() {
	s.commit()
	if len(s.inflight) > 0 {
		s.stats.Waits++
	}
	for _, cb := range s.inflight {
		cb.WaitUntilCompleted()
		s.fail(commandBufferError(cb))
		cb.Release()
	}
	s.inflight = s.inflight[:0]
}

// commandBufferError reports how a finished command buffer ended: nil if it completed, else an error
// carrying Metal's own description (a GPU fault, a timeout, an invalid resource, …).
func commandBufferError(cb metal.CommandBufferObject) error {
	switch st := cb.Status(); st {
	case metal.CommandBufferStatusCompleted:
		return nil
	case metal.CommandBufferStatusError:
		return fmt.Errorf("metal: a command buffer failed on the GPU: %w", nsErrorOrUnknown(cb.Error()))
	default:
		return fmt.Errorf("metal: a command buffer ended in status %d instead of completed", st)
	}
}

// nsError turns an NSError into a Go error; a nil NSError is a nil error. Call it inside the pool
// in which the NSError was obtained (it is autoreleased).
func nsError(e foundation.Error) error {
	if e.IsNil() {
		return nil
	}
	return fmt.Errorf("%s (%s error %d)", e.LocalizedDescription(), e.Domain(), e.Code())
}

// nsErrorOrUnknown is nsError for a call that failed: a missing NSError becomes an error that
// says so rather than nil.
func nsErrorOrUnknown(e foundation.Error) error {
	if err := nsError(e); err != nil {
		return err
	}
	return errors.New("Metal gave no error description")
}

// release ends and releases what the stream holds, after waiting for the GPU. Call it inside a pool.
func (s *stream) release() {
	s.wait()
	s.queue.Release()
	s.queue = metal.CommandQueueObject{}
}
