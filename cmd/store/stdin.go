package main

import (
	"context"
	"io"
)

// ctxReader reads r until ctx ends: a Read waiting for input (a terminal,
// a pipe whose writer is slow or stuck, a FIFO) returns ctx's error as soon
// as ctx ends, so that Ctrl-C stops a command reading stdin at once instead
// of after the input ends. Each Read runs r's Read in a goroutine of its own
// into a buffer of its own; one abandoned when ctx ends stays blocked
// until r gives something, which the process exiting ends. Not safe for
// concurrent use (no io.Reader is).
type ctxReader struct {
	ctx     context.Context
	r       io.Reader
	pending chan readResult // the Read in flight, nil when none
	rest    []byte          // what a Read got beyond what its caller took
	err     error           // the error that came with rest
}

type readResult struct {
	b   []byte
	err error
}

func newCtxReader(ctx context.Context, r io.Reader) *ctxReader {
	return &ctxReader{ctx: ctx, r: r}
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if len(c.rest) > 0 || c.err != nil {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		if len(c.rest) > 0 {
			return n, nil
		}
		err := c.err
		c.err = nil
		return n, err
	}
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.pending == nil {
		ch := make(chan readResult, 1)
		c.pending = ch
		go func(b []byte) {
			n, err := c.r.Read(b)
			ch <- readResult{b[:n], err}
		}(make([]byte, len(p)))
	}
	select {
	case res := <-c.pending:
		c.pending = nil
		c.rest, c.err = res.b, res.err
		return c.Read(p)
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}
