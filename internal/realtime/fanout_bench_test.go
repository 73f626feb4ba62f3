package realtime

import (
	"encoding/json"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/identity"
)

// BenchmarkFanOut writes one change to 1,000 loopback TCP sockets the way
// the hub does (shared frame, fanOut, Conn.send through each socket's
// writer) and, alternately in the same loop, the floor: the same bytes,
// already encoded, written with one plain Write per socket by the same
// goroutines. It reports both per delivery and their ratio, which noise
// from other processes affects much less than either figure.
//
//	go test ./internal/realtime -run '^$' -bench FanOut -count 5
func BenchmarkFanOut(b *testing.B) {
	const n = 1000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var server []net.Conn
	var clients []net.Conn
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		clients, server = append(clients, c), append(server, s)
		go func() { _, _ = io.Copy(io.Discard, c) }()
	}
	defer func() {
		for i := range n {
			_ = clients[i].Close()
			_ = server[i].Close()
		}
	}()

	h := NewHub(HubOptions{})
	conns := make([]*Conn, n)
	for i, s := range server {
		c := newConn(randomID(), "127.0.0.1", 1024, &identity.Identity{Role: identity.RoleAnon})
		c.attach(&connWriter{hub: h, sock: &socket{out: newSockWriter(s)}, encode: phxV1{}.encode, form: formPhoenixV1})
		conns[i] = c
	}
	payload := changePayloadJSON([]int{12345}, json.RawMessage(`{"schema":"public","table":"ticks","commit_timestamp":"2026-01-01T00:00:00Z","type":"INSERT","eventType":"INSERT","columns":[{"name":"id","type":"int8"}],"record":{"id":1},"old_record":{},"errors":null}`))
	frame, _ := (&connWriter{encode: phxV1{}.encode}).frame(Message{Topic: "bench", Event: "postgres_changes", JoinRef: "1", Payload: payload})

	var hub, base time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		fanOut(n, func(i int, _ *int) {
			if _, err := server[i].Write(frame); err != nil {
				b.Error(err)
			}
		})
		base += time.Since(start)

		start = time.Now()
		m := Message{Topic: "bench", Event: "postgres_changes", JoinRef: "1", Payload: payload, frame: &sharedFrame{}}
		fanOut(n, func(i int, written *int) {
			if !conns[i].sendCounting(m, written) {
				b.Error("a delivery failed")
			}
		})
		hub += time.Since(start)
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*n) }
	b.ReportMetric(per(hub), "ns/delivery")
	b.ReportMetric(per(base), "baseline-ns/delivery")
	b.ReportMetric(per(hub)/per(base), "x-baseline")
}
