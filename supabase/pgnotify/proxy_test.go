package pgnotify_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cutter is a TCP proxy in front of the test database that can drop every connection as
// soon as its LISTEN went through: it reads the server's messages, and once it has
// passed on the CommandComplete "LISTEN" and the ReadyForQuery after it, it waits
// cutAfter and closes both sides. With cutting off, a listened connection is kept until
// cutAll. The counters are updated before the message that makes them true reaches the
// client, so a client that has seen its LISTEN succeed sees them counted.
type cutter struct {
	ln       net.Listener
	upstream string
	cutAfter time.Duration

	cutting  atomic.Bool  // drop each connection once it has LISTENed
	accepted atomic.Int64 // startup packets seen: connection attempts (cancel requests are not)
	listened atomic.Int64 // connections whose LISTEN succeeded

	mu      sync.Mutex
	accepts []time.Time         // when each connection attempt arrived
	held    map[net.Conn]func() // listened connections kept open, with their cut
	clients map[net.Conn]bool   // every client connection not closed yet
	wg      sync.WaitGroup
}

// newCutter starts a cutter in front of the database of dsn, cutting, and returns it
// with dsn pointed at it. It stops when t ends.
func newCutter(t *testing.T, dsn string, cutAfter time.Duration) (*cutter, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &cutter{ln: ln, upstream: u.Host, cutAfter: cutAfter, held: map[net.Conn]func(){}, clients: map[net.Conn]bool{}}
	c.cutting.Store(true)
	c.wg.Go(c.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		c.mu.Lock()
		for client := range c.clients {
			_ = client.Close()
		}
		c.mu.Unlock()
		c.wg.Wait()
	})
	u.Host = ln.Addr().String()
	return c, u.String()
}

func (c *cutter) serve() {
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		c.clients[client] = true
		c.mu.Unlock()
		c.wg.Go(func() {
			if !c.proxy(client) {
				c.closeClient(client)
			}
		})
	}
}

// acceptTimes returns when each connection attempt arrived, in order.
func (c *cutter) acceptTimes() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.accepts...)
}

func (c *cutter) closeClient(client net.Conn) {
	c.mu.Lock()
	delete(c.clients, client)
	c.mu.Unlock()
	_ = client.Close()
}

// cutAll drops the connections that are kept open.
func (c *cutter) cutAll() {
	c.mu.Lock()
	cuts := make([]func(), 0, len(c.held))
	for _, cut := range c.held {
		cuts = append(cuts, cut)
	}
	c.mu.Unlock()
	for _, cut := range cuts {
		cut()
	}
}

// Protocol codes of the first packet a client sends (PostgreSQL protocol, "Message
// Formats").
const (
	cancelRequestCode = 80877102
	sslRequestCode    = 80877103
)

// proxy serves one client connection. It reports whether it passed the client on to a
// goroutine that closes it.
func (c *cutter) proxy(client net.Conn) bool {
	// The first packet: a startup message, or a cancel request (pgx sends one for a
	// connection it has lost), or a request for TLS, which is declined.
	var head [8]byte
	for {
		if _, err := io.ReadFull(client, head[:]); err != nil {
			return false
		}
		switch binary.BigEndian.Uint32(head[4:]) {
		case cancelRequestCode:
			return false // the connection it names is gone already
		case sslRequestCode:
			if _, err := client.Write([]byte{'N'}); err != nil {
				return false
			}
			continue
		}
		break
	}
	c.mu.Lock()
	c.accepts = append(c.accepts, time.Now())
	c.mu.Unlock()
	c.accepted.Add(1)

	server, err := net.Dial("tcp", c.upstream)
	if err != nil {
		return false
	}
	defer server.Close()
	if _, err := server.Write(head[:]); err != nil {
		return false
	}
	var once sync.Once
	cut := func() {
		once.Do(func() {
			_ = server.Close()
			// A FIN, not a reset: the client reads everything it was sent, then EOF.
			_ = client.(*net.TCPConn).CloseWrite()
		})
	}
	c.wg.Go(func() {
		_, _ = io.Copy(server, client)
		cut()
		_, _ = io.Copy(io.Discard, client) // until the client closes: no reset
		c.closeClient(client)
	})

	// Server to client, message by message: a type byte, then a length that counts
	// itself.
	listen := false
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(server, hdr[:]); err != nil {
			cut()
			return true
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[1:])-4)
		if _, err := io.ReadFull(server, body); err != nil {
			cut()
			return true
		}
		last := false
		switch {
		case hdr[0] == 'C' && bytes.Equal(body, []byte("LISTEN\x00")):
			listen = true
		case hdr[0] == 'Z' && listen:
			listen = false
			c.listened.Add(1)
			last = c.cutting.Load()
			if !last {
				c.mu.Lock()
				c.held[client] = cut
				c.mu.Unlock()
				defer func() {
					c.mu.Lock()
					delete(c.held, client)
					c.mu.Unlock()
				}()
			}
		}
		if _, err := client.Write(append(hdr[:], body...)); err != nil {
			cut()
			return true
		}
		if last {
			time.Sleep(c.cutAfter)
			cut()
			return true
		}
	}
}
