package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// stopSignals are the signals after which a long command saves its work and exits: Ctrl-C
// (SIGINT), a polite kill or a shutdown (SIGTERM), a closed terminal (SIGHUP) and a closed
// output pipe (SIGPIPE; without it, Go would let the first write to a pipe whose reader died —
// `kvgpt train | tee log` in a closed terminal — kill the process before it saves).
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE}

// signalContext returns a context that the first of stopSignals cancels (stoppedBy reports which
// one). Call stop to stop listening.
func signalContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, stopSignals...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(&signalCause{s})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// signalCause is the cause of a context cancelled by a signal.
type signalCause struct{ sig os.Signal }

func (c *signalCause) Error() string { return c.sig.String() }

// stoppedBy returns the signal that cancelled ctx (see signalContext), or nil.
func stoppedBy(ctx context.Context) os.Signal {
	var c *signalCause
	if errors.As(context.Cause(ctx), &c) {
		return c.sig
	}
	return nil
}

// signalError reports a command stopped by a signal after it saved its work; its exit code is the
// shell's for that signal, 128 + its number (SIGINT 130, SIGTERM 143, SIGHUP 129).
type signalError struct {
	sig os.Signal // nil: a cancelled context without a signal (as SIGINT)
	msg string    // what was saved, and how to continue
}

func (e *signalError) Error() string { return fmt.Sprintf("%s: %s", signalName(e.sig), e.msg) }

func (e *signalError) ExitCode() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 128 + int(syscall.SIGINT)
}

// signalName names sig as a user reads it.
func signalName(sig os.Signal) string {
	switch sig {
	case nil, os.Interrupt:
		return "interrupted (SIGINT)"
	case syscall.SIGTERM:
		return "terminated (SIGTERM)"
	case syscall.SIGHUP:
		return "hung up (SIGHUP: the terminal closed)"
	case syscall.SIGPIPE:
		return "output closed (SIGPIPE)"
	}
	return "stopped by " + sig.String()
}
