// Package objc stands in for darwinkit's package objc in the lint's tests: the declarations the
// lint looks up, with the real signatures and bodies that do nothing.
package objc

import "unsafe"

// Handle is what objc.Call sends as an object pointer.
type Handle interface {
	Ptr() unsafe.Pointer
}

// IObject is an Objective-C object.
type IObject interface {
	Handle
	IsNil() bool
}

// Object is a handle of an Objective-C object.
type Object struct {
	ptr unsafe.Pointer
}

func (o Object) Ptr() unsafe.Pointer { return o.ptr }

func (o Object) IsNil() bool { return o.ptr == nil }

func (o Object) Autorelease() Object { return o }

// Void is the result type of a message without a result.
type Void struct{}

// Selector is a method selector.
type Selector struct {
	name string
}

// Sel returns the selector of the name.
func Sel(name string) Selector { return Selector{name} }

// Call sends the message with the selector and parameters to o and returns its result.
func Call[T any](o Handle, selector Selector, params ...any) T {
	var ret T
	return ret
}

// WrapAsProtocol makes a Go value an Objective-C object that implements the protocol.
func WrapAsProtocol[T any](protocolName string, d T) Object {
	return Object{}
}
