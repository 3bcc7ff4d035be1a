package testimage

import "net"

// SilentListener accepts TCP connections on 127.0.0.1 and never writes to them: a registry or
// remote resource that hangs. It returns the address and a function that closes everything.
func SilentListener() (addr string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // hold it open, never answer
		}
	}()
	return l.Addr().String(), func() { l.Close(); <-done }, nil
}
