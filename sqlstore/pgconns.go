package sqlstore

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// pgCloseGrace is how long closing the engine's pools waits for their
// connections to end by themselves before it cuts them: a variable for
// the tests.
//
// pgx ends a connection that failed mid-operation (a deadline, a
// cancelled context) in the background: it sends the server a cancel
// request, then reads what the server still sends until the server
// closes the connection, for up to 15 seconds; and pgxpool's Close waits
// for that end. A server, or a path to it, that stopped answering (a
// frozen standby, a cut network) never closes it, so Close used to take
// 15 seconds for each such connection, and for ever while a caller's
// operation without a deadline waited on one.
var pgCloseGrace = 2 * time.Second

// pgConns is the set of the network connections of a group of pools,
// which their Close cuts when they do not end in time (pgCloseGrace).
type pgConns struct {
	mu    sync.Mutex
	conns map[*pgNetConn]struct{}
}

// track makes the pools of pc (and of its copies) dial through the set.
func (s *pgConns) track(pc *pgxpool.Config) {
	dial := pc.ConnConfig.DialFunc
	pc.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		nc := &pgNetConn{Conn: c, set: s}
		s.mu.Lock()
		if s.conns == nil {
			s.conns = map[*pgNetConn]struct{}{}
		}
		s.conns[nc] = struct{}{}
		s.mu.Unlock()
		return nc, nil
	}
}

// cut closes every connection of the set.
func (s *pgConns) cut() {
	s.mu.Lock()
	conns := make([]*pgNetConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// closePools closes the pools, and cuts their connections once
// pgCloseGrace has passed without their end.
func (s *pgConns) closePools(pools ...*pgxpool.Pool) {
	cutAfterGrace(func() {
		for _, p := range pools {
			p.Close()
		}
	}, s.cut)
}

// cutAfterGrace runs f, calls cut when f has not returned pgCloseGrace
// later, and returns once f has.
func cutAfterGrace(f, cut func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	t := time.NewTimer(pgCloseGrace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	cut()
	<-done
}

// pgNetConn is a connection of a pgConns set; it leaves the set when it
// closes.
type pgNetConn struct {
	net.Conn
	set  *pgConns
	once sync.Once
}

func (c *pgNetConn) Close() error {
	c.once.Do(func() {
		c.set.mu.Lock()
		delete(c.set.conns, c)
		c.set.mu.Unlock()
	})
	return c.Conn.Close()
}
