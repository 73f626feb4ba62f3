package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The bus carries broadcast and presence between Fluxbase instances that
// share a database, over LISTEN/NOTIFY. NOTIFY payloads are limited to
// 8000 bytes, so a larger message is stored in realtime.bus for a minute
// and only its id is notified.

const (
	busChannel = "fluxbase_realtime_bus"
	// busInline is the largest message sent in the NOTIFY payload itself.
	busInline = 7000
	// Instances announce themselves this often; one not heard from for
	// busSilence is gone, and its presences leave.
	busHeartbeat = 5 * time.Second
	busSilence   = 3 * busHeartbeat
)

type busKind string

const (
	busBroadcast   busKind = "broadcast"
	busTrack       busKind = "track"
	busUntrack     busKind = "untrack"
	busSyncRequest busKind = "sync"
	busHello       busKind = "hello"
	busStored      busKind = "stored"
)

type busMessage struct {
	Kind     busKind         `json:"k"`
	Instance string          `json:"i"`
	Topic    string          `json:"t,omitempty"`
	Event    string          `json:"e,omitempty"`
	Payload  json.RawMessage `json:"p,omitempty"`
	Binary   bool            `json:"b,omitempty"`
	Key      string          `json:"key,omitempty"`
	Ref      string          `json:"ref,omitempty"`
	Replaces string          `json:"rep,omitempty"`
	Meta     json.RawMessage `json:"m,omitempty"`
	ID       int64           `json:"id,omitempty"` // a stored message
}

// bus publishes to and listens on the shared channel.
type bus struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	out  chan busMessage
}

// publish queues m for the other instances. The queue is bounded: when
// the database cannot keep up, messages to other instances are dropped
// (and counted) rather than blocking local delivery.
func (h *Hub) publish(m busMessage) {
	if h.bus == nil {
		return
	}
	m.Instance = h.instance
	select {
	case h.bus.out <- m:
	default:
		h.metrics.busDropped()
	}
}

// RunBus publishes and listens until ctx ends, reconnecting after
// failures. After each (re)connection it asks the others for their
// presence, so a restarted instance or a healed link converges.
func (h *Hub) RunBus(ctx context.Context, pool *pgxpool.Pool) error {
	h.bus = &bus{pool: pool, log: h.log, out: make(chan busMessage, 4096)}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { h.publishLoop(ctx) })
	wg.Go(func() { h.reapLoop(ctx) })
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := h.listen(ctx)
		if ctx.Err() != nil {
			break
		}
		h.log.Warn("realtime: instance bus lost; reconnecting", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}

func (h *Hub) listen(ctx context.Context) error {
	pooled, err := h.bus.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection is taken out of the pool for good: LISTEN state must
	// not leak into other users of the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "listen "+busChannel); err != nil {
		return err
	}
	h.publish(busMessage{Kind: busHello})
	for _, topic := range h.topicNames() {
		h.publish(busMessage{Kind: busSyncRequest, Topic: topic})
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var m busMessage
		if err := json.Unmarshal([]byte(n.Payload), &m); err != nil || m.Instance == h.instance {
			continue
		}
		if m.Kind == busStored {
			var raw []byte
			if err := h.bus.pool.QueryRow(ctx, `select message::text from realtime.bus where id = $1`, m.ID).Scan(&raw); err != nil {
				continue
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				continue
			}
		}
		h.receive(m)
	}
}

func (h *Hub) receive(m busMessage) {
	h.touchInstance(m.Instance)
	switch m.Kind {
	case busBroadcast:
		h.deliverBroadcast(m.Topic, BroadcastMessage{Event: m.Event, Payload: m.Payload, Binary: m.Binary}, nil)
	case busTrack:
		h.remoteTrack(m)
	case busUntrack:
		h.remoteUntrack(m)
	case busSyncRequest:
		for _, t := range h.localPresence(m.Topic) {
			h.publish(t)
		}
	}
}

func (h *Hub) publishLoop(ctx context.Context) {
	tick := time.NewTicker(busHeartbeat)
	defer tick.Stop()
	for {
		var m busMessage
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			m = busMessage{Kind: busHello, Instance: h.instance}
		case m = <-h.bus.out:
		}
		if err := h.bus.send(ctx, m); err != nil && ctx.Err() == nil {
			h.metrics.busDropped()
			h.log.Warn("realtime: publishing to other instances failed", "error", err)
		}
	}
}

func (b *bus) send(ctx context.Context, m busMessage) error {
	payload, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(payload) > busInline {
		var id int64
		if err := b.pool.QueryRow(ctx, `insert into realtime.bus (message) values ($1::text::jsonb) returning id`, string(payload)).Scan(&id); err != nil {
			return err
		}
		payload, _ = json.Marshal(busMessage{Kind: busStored, Instance: m.Instance, ID: id})
	}
	_, err = b.pool.Exec(ctx, `select pg_notify($1, $2)`, busChannel, string(payload))
	return err
}

// reapLoop forgets instances that went silent (their presences leave) and
// deletes stored messages everyone has had time to read.
func (h *Hub) reapLoop(ctx context.Context) {
	tick := time.NewTicker(busHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, inst := range h.silentInstances(time.Now().Add(-busSilence)) {
			h.log.Info("realtime: instance went silent; removing its presences", "instance", inst)
			h.dropInstance(inst)
		}
		if _, err := h.bus.pool.Exec(ctx, `delete from realtime.bus where created_at < now() - interval '1 minute'`); err != nil && !errors.Is(err, context.Canceled) {
			h.log.Debug("realtime: cleaning stored bus messages failed", "error", err)
		}
	}
}

func (h *Hub) touchInstance(id string) {
	if id == "" || id == h.instance {
		return
	}
	h.peersMu.Lock()
	h.peers[id] = time.Now()
	h.peersMu.Unlock()
}

func (h *Hub) silentInstances(before time.Time) []string {
	h.peersMu.Lock()
	defer h.peersMu.Unlock()
	var out []string
	for id, seen := range h.peers {
		if seen.Before(before) {
			out = append(out, id)
			delete(h.peers, id)
		}
	}
	return out
}

func (h *Hub) topicNames() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(h.topics))
	for t := range h.topics {
		out = append(out, t)
	}
	return out
}
